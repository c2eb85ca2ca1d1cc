"""The REST API of the query service, through HTTP, on SQLite and PostgreSQL read models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from query_service.rest import format_timestamp
from read_model.testing import ReadModelSeeder

V1 = "/query/v1"
UNKNOWN_CHAT = "GroupChat-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"


def _problem(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (
        {"type", "title", "status", "detail", "code"}
        <= set(body)
        <= {
            "type",
            "title",
            "status",
            "detail",
            "code",
            "field",
        }
    )
    assert (body["status"], body["code"], body["type"]) == (status, code, "about:blank")
    assert body["title"]
    assert body["detail"]
    return body


def _ulid(prefixed_id: str) -> str:
    return prefixed_id.rsplit("-", 1)[-1]


@pytest.mark.parametrize("path", ["/query/healthcheck", "/query/v1/healthcheck"])
def test_healthcheck_answers_ok_as_plain_text_when_running(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "OK"


def test_group_chats_are_listed_newest_first_in_camel_case_when_the_caller_is_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    older = seed.group_chat(alice, "older", at=datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC))
    newer = seed.group_chat(bob, "newer")
    seed.member(newer, alice)
    seed.group_chat(bob, "not alice's")

    response = client.get(f"{V1}/group-chats", params={"userAccountId": alice})

    assert response.status_code == 200
    body = response.json()
    assert [chat["id"] for chat in body] == [newer, older]
    assert body[1] == {
        "id": older,
        "name": "older",
        "ownerId": alice,
        "createdAt": "2026-11-28T10:00:00.123Z",
        "updatedAt": "2026-11-28T10:00:00.123Z",
    }


def test_group_chats_list_is_empty_when_the_caller_belongs_to_no_chat(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    seed.group_chat(seed.user())

    response = client.get(f"{V1}/group-chats", params={"userAccountId": seed.user()})

    assert (response.status_code, response.json()) == (200, [])


def test_group_chat_is_returned_when_ids_come_without_prefix_or_in_lower_case(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice, "general")

    response = client.get(
        f"{V1}/group-chats/{_ulid(chat).lower()}", params={"userAccountId": _ulid(alice)}
    )

    assert response.status_code == 200
    assert response.json()["id"] == chat
    assert response.json()["ownerId"] == alice


def test_group_chat_is_not_found_when_unknown_deleted_or_the_caller_is_not_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob, stranger = seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    seed.remove_member(chat, bob)
    deleted = seed.group_chat(alice)
    seed.delete_group_chat(deleted)

    for group_chat_id, caller in [
        (UNKNOWN_CHAT, alice),
        (deleted, alice),
        (chat, stranger),
        (chat, bob),
    ]:
        response = client.get(f"{V1}/group-chats/{group_chat_id}", params={"userAccountId": caller})
        _problem(response, 404, "group_chat_not_found")


def test_members_are_listed_oldest_first_without_removed_ones_when_the_caller_is_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob, carol = seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    bob_member_id = seed.member(chat, bob)
    seed.member(chat, carol)
    seed.remove_member(chat, carol)

    response = client.get(f"{V1}/group-chats/{chat}/members", params={"userAccountId": bob})

    assert response.status_code == 200
    body = response.json()
    assert [(m["userAccountId"], m["role"]) for m in body] == [
        (alice, "administrator"),
        (bob, "member"),
    ]
    assert body[1]["id"] == bob_member_id
    assert set(body[1]) == {"id", "groupChatId", "userAccountId", "role", "createdAt", "updatedAt"}
    assert body[1]["groupChatId"] == chat


def test_members_are_not_found_when_the_caller_may_not_see_the_chat(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    chat = seed.group_chat(seed.user())

    response = client.get(f"{V1}/group-chats/{chat}/members", params={"userAccountId": seed.user()})

    _problem(response, 404, "group_chat_not_found")


def test_member_is_returned_when_the_member_and_the_caller_are_current_members(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)

    response = client.get(
        f"{V1}/group-chats/{chat}/members/{_ulid(bob)}", params={"userAccountId": alice}
    )

    assert response.status_code == 200
    assert (response.json()["userAccountId"], response.json()["role"]) == (bob, "member")


def test_member_is_not_found_when_removed_or_never_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    seed.remove_member(chat, bob)

    for member in (bob, seed.user()):
        response = client.get(
            f"{V1}/group-chats/{chat}/members/{member}", params={"userAccountId": alice}
        )
        _problem(response, 404, "member_not_found")


def test_member_reports_the_chat_not_found_when_the_caller_may_not_see_the_chat(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)

    response = client.get(
        f"{V1}/group-chats/{chat}/members/{alice}", params={"userAccountId": seed.user()}
    )

    _problem(response, 404, "group_chat_not_found")


def test_messages_are_paged_backwards_with_the_cursor_when_there_are_several_pages(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    posted = [seed.message(chat, alice if i % 2 else bob, f"message {i}") for i in range(8)]
    seed.delete_message(posted[5])
    visible = [m for i, m in enumerate(posted) if i != 5]

    pages: list[list[str]] = []
    params = {"userAccountId": bob, "limit": "3"}
    while True:
        response = client.get(f"{V1}/group-chats/{chat}/messages", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "nextBefore"}
        pages.append([m["id"] for m in body["items"]])
        if body["nextBefore"] is None:
            break
        params["before"] = body["nextBefore"]

    assert pages == [visible[4:7], visible[1:4], visible[0:1]]


def test_messages_use_the_default_page_size_when_no_limit_is_given(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    posted = [seed.message(chat, alice, f"m{i}") for i in range(4)]

    response = client.get(f"{V1}/group-chats/{chat}/messages", params={"userAccountId": alice})

    body = response.json()
    assert [m["id"] for m in body["items"]] == posted[1:]  # page_size_default=3 in the fixture
    assert body["nextBefore"] is not None
    assert body["items"][0] == {
        "id": posted[1],
        "groupChatId": chat,
        "userAccountId": alice,
        "text": "m1",
        "createdAt": body["items"][0]["createdAt"],
        "updatedAt": body["items"][0]["updatedAt"],
    }
    assert body["items"][0]["createdAt"].endswith("Z")


def test_messages_are_not_found_when_the_caller_may_not_see_the_chat(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    seed.message(chat, alice)

    response = client.get(
        f"{V1}/group-chats/{chat}/messages", params={"userAccountId": seed.user()}
    )

    _problem(response, 404, "group_chat_not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "6"}, "limit"),  # page_size_max=5 in the fixture
        ({"limit": "ten"}, "limit"),
        ({"before": "not-a-cursor"}, "before"),
        ({"before": "x" * 300}, "before"),
    ],
)
def test_messages_are_a_bad_request_when_limit_or_cursor_is_invalid(
    client: TestClient, seed: ReadModelSeeder, params: dict[str, str], field: str
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)

    response = client.get(
        f"{V1}/group-chats/{chat}/messages", params={"userAccountId": alice, **params}
    )

    problem = _problem(response, 400, "validation_error")
    assert problem["detail"].startswith(f"{field}:")
    assert problem["field"] == field


def test_message_is_returned_when_the_caller_is_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    message_id = seed.message(chat, alice, "hello bob")

    response = client.get(f"{V1}/messages/{message_id.lower()}", params={"userAccountId": bob})

    assert response.status_code == 200
    assert response.json()["id"] == message_id
    assert (response.json()["text"], response.json()["userAccountId"]) == ("hello bob", alice)


def test_message_is_not_found_when_deleted_unknown_or_the_caller_is_not_a_member(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    deleted = seed.message(chat, alice)
    seed.delete_message(deleted)
    kept = seed.message(chat, alice)

    for message_id, caller in [
        (deleted, alice),
        ("01JDQ4Z5V8X9Y0A1B2C3D4E5F6", alice),
        (kept, seed.user()),
    ]:
        response = client.get(f"{V1}/messages/{message_id}", params={"userAccountId": caller})
        _problem(response, 404, "message_not_found")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/group-chats", {}, "userAccountId"),
        ("/group-chats", {"userAccountId": "nobody"}, "userAccountId"),
        (
            "/group-chats",
            {"userAccountId": "GroupChat-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"},
            "userAccountId",
        ),
        ("/group-chats/not-an-id", {"userAccountId": "01JDQ4Z5V8X9Y0A1B2C3D4E5F6"}, "groupChatId"),
        (
            "/group-chats/01JDQ4Z5V8X9Y0A1B2C3D4E5F6/members/UserAccount-x",
            {"userAccountId": "01JDQ4Z5V8X9Y0A1B2C3D4E5F6"},
            "memberUserAccountId",
        ),
        ("/messages/GroupChat-01JDQ4Z5V8X9Y0A1B2C3D4E5F6", {"userAccountId": "x"}, "messageId"),
        ("/group-chats/01JDQ4Z5V8X9Y0A1B2C3D4E5F6/messages", {}, "userAccountId"),
        ("/group-chats/8ZZZZZZZZZZZZZZZZZZZZZZZZZ", {"userAccountId": "x"}, "groupChatId"),
    ],
)
def test_requests_are_a_bad_request_naming_the_field_when_an_id_is_missing_or_invalid(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(f"{V1}{path}", params=params)

    problem = _problem(response, 400, "validation_error")
    assert problem["detail"].startswith(f"{field}:")
    assert problem["field"] == field


def test_unknown_routes_are_not_found_as_problem_documents(client: TestClient) -> None:
    _problem(client.get("/query/v1/nothing-here"), 404, "not_found")
    _problem(client.get("/elsewhere"), 404, "not_found")


def test_other_methods_are_not_allowed_as_problem_documents(client: TestClient) -> None:
    response = client.post(f"{V1}/group-chats", params={"userAccountId": "x"})

    _problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 28, 10, 0, 0, 123_999, tzinfo=UTC), "2026-11-28T10:00:00.123Z"),
        (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), "2026-11-28T10:00:00.000Z"),
        (
            datetime(
                2026, 11, 28, 19, 30, 5, 7_000, tzinfo=timezone(timedelta(hours=9, minutes=30))
            ),
            "2026-11-28T10:00:05.007Z",
        ),
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps_are_written_in_utc_with_milliseconds_and_z(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
