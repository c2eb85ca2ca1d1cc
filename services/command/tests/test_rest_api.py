"""The REST API through HTTP: success paths, domain errors, ids, and what lands in the store."""

from __future__ import annotations

import re
from typing import Any

import pytest
from command_test_support import (
    ALICE,
    BOB,
    CAROL,
    GROUP_CHATS,
    add_member,
    create_chat,
    post,
    post_message,
    store_of,
)
from fastapi.testclient import TestClient

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def stored(client: TestClient, chat_id: str) -> list[tuple[int, str]]:
    """(seq_nr, event type) of every event of `chat_id` in the app's store."""
    loaded = store_of(client).load(chat_id, use_snapshot=False)
    return [(event.seq_nr, event.event_type) for event in loaded.events]


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """`response` is an `application/problem+json` document with `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    return body


# -- success paths --------------------------------------------------------------------------------


def test_returns_200_ok_as_text_when_healthcheck_is_called(client: TestClient) -> None:
    response = client.get("/command/v1/healthcheck")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "OK"


def test_returns_201_with_prefixed_id_and_stores_group_chat_created_when_chat_is_created(
    client: TestClient,
) -> None:
    response = post(client, "create", {"name": "developers", "executorId": ALICE})

    assert response.status_code == 201
    chat_id = response.json()["groupChatId"]
    assert response.json() == {"groupChatId": chat_id}
    assert chat_id.startswith("GroupChat-")
    assert ULID.match(chat_id.removeprefix("GroupChat-"))
    assert stored(client, chat_id) == [(1, "GroupChatCreated")]


def test_stores_one_event_per_command_with_contiguous_seq_nrs_when_every_endpoint_succeeds(
    make_client: Any, any_backend: str
) -> None:
    client = make_client(any_backend)
    chat_id = create_chat(client)

    add = post(
        client,
        "add-member",
        {"groupChatId": chat_id, "userAccountId": BOB, "role": "member", "executorId": ALICE},
    )
    posted = post(
        client, "post-message", {"groupChatId": chat_id, "content": "hello", "executorId": BOB}
    )
    message_id = posted.json()["messageId"]
    edited = post(
        client,
        "edit-message",
        {"groupChatId": chat_id, "messageId": message_id, "content": "hi", "executorId": BOB},
    )
    deleted_message = post(
        client,
        "delete-message",
        {"groupChatId": chat_id, "messageId": message_id, "executorId": ALICE},
    )
    renamed = post(client, "rename", {"groupChatId": chat_id, "name": "devs", "executorId": ALICE})
    removed = post(
        client,
        "remove-member",
        {"groupChatId": chat_id, "userAccountId": BOB, "executorId": ALICE},
    )
    deleted = post(client, "delete", {"groupChatId": chat_id, "executorId": ALICE})

    assert (add.status_code, add.json()) == (200, {"groupChatId": chat_id})
    assert posted.status_code == 201
    assert posted.json() == {"groupChatId": chat_id, "messageId": message_id}
    assert ULID.match(message_id)
    assert (edited.status_code, edited.json()) == (
        200,
        {"groupChatId": chat_id, "messageId": message_id},
    )
    assert (deleted_message.status_code, deleted_message.json()) == (200, {"groupChatId": chat_id})
    assert (renamed.status_code, renamed.json()) == (200, {"groupChatId": chat_id})
    assert (removed.status_code, removed.json()) == (200, {"groupChatId": chat_id})
    assert (deleted.status_code, deleted.json()) == (200, {"groupChatId": chat_id})
    assert stored(client, chat_id) == [
        (1, "GroupChatCreated"),
        (2, "GroupChatMemberAdded"),
        (3, "GroupChatMessagePosted"),
        (4, "GroupChatMessageEdited"),
        (5, "GroupChatMessageDeleted"),
        (6, "GroupChatRenamed"),
        (7, "GroupChatMemberRemoved"),
        (8, "GroupChatDeleted"),
    ]


def test_accepts_ids_without_prefix_and_in_lower_case_when_commands_name_them(
    client: TestClient,
) -> None:
    bare_alice = ALICE.removeprefix("UserAccount-").lower()
    chat_id = create_chat(client, executor=bare_alice)
    bare_chat = chat_id.removeprefix("GroupChat-").lower()

    response = post(
        client, "post-message", {"groupChatId": bare_chat, "content": "hi", "executorId": ALICE}
    )
    message_id = response.json()["messageId"]
    edit = post(
        client,
        "edit-message",
        {
            "groupChatId": chat_id,
            "messageId": message_id.lower(),
            "content": "edited",
            "executorId": bare_alice,
        },
    )

    assert response.status_code == 201
    assert response.json()["groupChatId"] == chat_id  # always returned prefixed, upper-case
    assert (edit.status_code, edit.json()["messageId"]) == (200, message_id)


def test_accepts_role_admin_in_any_case_when_member_is_added(client: TestClient) -> None:
    chat_id = create_chat(client)
    add_member(client, chat_id, BOB, role="ADMIN")

    # BOB is an administrator now: he may rename the chat.
    response = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": BOB})

    assert response.status_code == 200


def test_ignores_unknown_fields_when_body_has_more_than_the_command_needs(
    client: TestClient,
) -> None:
    response = post(client, "create", {"name": "n", "executorId": ALICE, "extra": [1, 2]})

    assert response.status_code == 201


# -- domain errors --------------------------------------------------------------------------------


def test_returns_404_group_chat_not_found_when_chat_does_not_exist(client: TestClient) -> None:
    unknown = "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z"

    response = post(client, "rename", {"groupChatId": unknown, "name": "x", "executorId": ALICE})

    assert_problem(response, 404, "group_chat_not_found")
    assert stored(client, unknown) == []


@pytest.fixture
def chat(client: TestClient) -> dict[str, str]:
    """A chat administered by ALICE, with BOB as a member and a message by BOB."""
    chat_id = create_chat(client)
    add_member(client, chat_id, BOB)
    return {"chat": chat_id, "message": post_message(client, chat_id, BOB)}


RULES = [
    # (command, body, expected code) — one case per rule of API.md
    ("rename", {"name": "x", "executorId": BOB}, "not_an_administrator"),
    ("rename", {"name": "developers", "executorId": ALICE}, "name_unchanged"),
    (
        "add-member",
        {"userAccountId": BOB, "role": "member", "executorId": ALICE},
        "already_a_member",
    ),
    ("remove-member", {"userAccountId": CAROL, "executorId": ALICE}, "not_a_member"),
    ("remove-member", {"userAccountId": ALICE, "executorId": ALICE}, "last_administrator"),
    ("post-message", {"content": "hi", "executorId": CAROL}, "not_a_member"),
    (
        "edit-message",
        {"messageId": "01H42K4ABWQ5V2XQEP3A48VE9Z", "content": "x", "executorId": BOB},
        "message_not_found",
    ),
    (
        "edit-message",
        {"messageId": "$message", "content": "x", "executorId": ALICE},
        "not_the_sender",
    ),
    ("delete", {"executorId": BOB}, "not_an_administrator"),
]


@pytest.mark.parametrize(("command", "body", "code"), RULES)
def test_returns_422_with_the_rule_code_and_stores_nothing_when_a_rule_is_broken(
    client: TestClient, chat: dict[str, str], command: str, body: dict[str, str], code: str
) -> None:
    body = {
        "groupChatId": chat["chat"],
        **{k: chat["message"] if v == "$message" else v for k, v in body.items()},
    }
    before = stored(client, chat["chat"])

    response = post(client, command, body)

    assert_problem(response, 422, code)
    assert stored(client, chat["chat"]) == before


def test_returns_422_not_sender_or_administrator_when_member_deletes_anothers_message(
    client: TestClient, chat: dict[str, str]
) -> None:
    add_member(client, chat["chat"], CAROL)

    response = post(
        client,
        "delete-message",
        {"groupChatId": chat["chat"], "messageId": chat["message"], "executorId": CAROL},
    )

    assert_problem(response, 422, "not_sender_or_administrator")


def test_returns_422_group_chat_deleted_when_posting_to_a_deleted_chat(
    client: TestClient, chat: dict[str, str]
) -> None:
    assert post(client, "delete", {"groupChatId": chat["chat"], "executorId": ALICE}).is_success

    response = post(
        client, "post-message", {"groupChatId": chat["chat"], "content": "x", "executorId": BOB}
    )
    again = post(client, "delete", {"groupChatId": chat["chat"], "executorId": ALICE})

    assert_problem(response, 422, "group_chat_deleted")
    assert_problem(again, 422, "group_chat_already_deleted")


def test_returns_422_message_not_found_when_deleting_a_deleted_message(
    client: TestClient, chat: dict[str, str]
) -> None:
    body = {"groupChatId": chat["chat"], "messageId": chat["message"], "executorId": BOB}
    assert post(client, "delete-message", body).status_code == 200

    assert_problem(post(client, "delete-message", body), 422, "message_not_found")


# -- invalid input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n"}, "executorId"),
        ({"executorId": ALICE}, "name"),
        ({"name": 42, "executorId": ALICE}, "name"),
        ({"name": "n", "executorId": None}, "executorId"),
        ({"name": "n", "executorId": ["x"]}, "executorId"),
        ({"name": "   ", "executorId": ALICE}, "name"),
        ({"name": "x" * 101, "executorId": ALICE}, "name"),
        ({"name": "n", "executorId": "UserAccount-nope"}, "executorId"),
        ({"name": "n", "executorId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE1A"}, "executorId"),
    ],
)
def test_returns_400_naming_the_field_when_create_body_is_invalid(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(post(client, "create", body), 400, "validation_error")

    assert problem["field"] == field
    assert problem["detail"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("command", "body", "field"),
    [
        ("rename", {"groupChatId": "GroupChat-123", "name": "x"}, "groupChatId"),
        ("rename", {"groupChatId": "01H42K4ABWQ5V2XQEP3A48VE1U", "name": "x"}, "groupChatId"),
        ("add-member", {"userAccountId": ALICE, "role": "owner"}, "role"),
        ("add-member", {"userAccountId": "bob", "role": "member"}, "userAccountId"),
        ("post-message", {"content": ""}, "content"),
        ("post-message", {"content": "x" * 4001}, "content"),
        ("edit-message", {"messageId": "GroupChat-x", "content": "x"}, "messageId"),
        ("delete-message", {"messageId": 7}, "messageId"),
    ],
)
def test_returns_400_naming_the_field_when_a_value_is_invalid(
    client: TestClient, command: str, body: dict[str, Any], field: str
) -> None:
    full = {"groupChatId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z", "executorId": ALICE, **body}

    problem = assert_problem(post(client, command, full), 400, "validation_error")

    assert problem["field"] == field


@pytest.mark.parametrize(
    ("command", "field", "escaped"),
    [("post-message", "content", "lone \\ud800 surrogate"), ("rename", "name", "\\udfff")],
)
def test_returns_400_naming_the_field_when_a_text_holds_a_lone_surrogate(
    client: TestClient, command: str, field: str, escaped: str
) -> None:
    chat_id = create_chat(client)
    # A JSON escape decodes to a lone surrogate, which no UTF-8 store could hold.
    body = (
        f'{{"groupChatId": "{chat_id}", "executorId": "{ALICE}", "{field}": "{escaped}"}}'
    ).encode()

    response = client.post(
        f"{GROUP_CHATS}/{command}", content=body, headers={"content-type": "application/json"}
    )

    problem = assert_problem(response, 400, "validation_error")
    assert problem["field"] == field
    assert "surrogate" in problem["detail"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "n", "executorId": ', "application/json"),
        (b"not json", "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'"a string"', "application/json"),
        (b"\xff\xfe\xfa", "application/json"),
        (b'{"name": "n", "executorId": "x"}', "text/plain"),
        (b"name=n&executorId=x", "application/x-www-form-urlencoded"),
    ],
)
def test_returns_400_validation_error_on_body_when_body_is_not_a_json_object(
    client: TestClient, content: bytes, content_type: str
) -> None:
    response = client.post(
        f"{GROUP_CHATS}/create", content=content, headers={"content-type": content_type}
    )

    problem = assert_problem(response, 400, "validation_error")
    assert problem["field"] == "body"


def test_returns_400_when_content_type_is_missing(client: TestClient) -> None:
    response = client.post(f"{GROUP_CHATS}/create", content=b'{"name": "n", "executorId": "x"}')

    assert_problem(response, 400, "validation_error")


# -- routing --------------------------------------------------------------------------------------


def test_returns_404_problem_when_route_is_unknown(client: TestClient) -> None:
    assert_problem(client.get("/command/v1/nothing-here"), 404, "not_found")
    assert_problem(client.post(f"{GROUP_CHATS}/explode", json={}), 404, "not_found")


def test_returns_405_problem_with_allow_header_when_method_is_wrong(client: TestClient) -> None:
    response = client.get(f"{GROUP_CHATS}/create")

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert_problem(client.delete("/command/v1/healthcheck"), 405, "method_not_allowed")


def test_serves_openapi_and_docs_under_the_command_base_path(client: TestClient) -> None:
    assert client.get("/command/openapi.json").status_code == 200
    assert client.get("/command/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/redoc").status_code == 404
