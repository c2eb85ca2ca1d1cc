"""The GraphQL write API (`/command/graphql`) through HTTP: every mutation, and every error code.

The mutations run through the app's `CommandHandler`, so what they store is checked in the
app's event store, and the rules are the REST API's (one case per error code here; the rules
themselves are covered by the domain and REST tests).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from chat_domain import GroupChatMemberAdded, Role, decode
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import (
    ALICE,
    BOB,
    CAROL,
    AlwaysConflictingStore,
    DelegatingStore,
    UnavailableStore,
    post,
    store_of,
)
from event_store import LoadedStream, open_event_store
from fastapi.testclient import TestClient

GRAPHQL = "/command/graphql"
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
UNKNOWN_CHAT = "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z"

CREATE = "mutation($i: CreateGroupChatInput!) { createGroupChat(input: $i) { groupChatId } }"
RENAME = "mutation($i: RenameGroupChatInput!) { renameGroupChat(input: $i) { groupChatId } }"
DELETE = "mutation($i: DeleteGroupChatInput!) { deleteGroupChat(input: $i) { groupChatId } }"
ADD_MEMBER = "mutation($i: AddMemberInput!) { addMember(input: $i) { groupChatId } }"
REMOVE_MEMBER = "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { groupChatId } }"
POST_MESSAGE = (
    "mutation($i: PostMessageInput!) { postMessage(input: $i) { groupChatId messageId } }"
)
EDIT_MESSAGE = (
    "mutation($i: EditMessageInput!) { editMessage(input: $i) { groupChatId messageId } }"
)
DELETE_MESSAGE = "mutation($i: DeleteMessageInput!) { deleteMessage(input: $i) { groupChatId } }"


def graphql(
    client: TestClient, query: str, variables: dict[str, Any] | None = None, path: str = GRAPHQL
) -> dict[str, Any]:
    """POST a GraphQL request; the HTTP status must be 200. Returns the JSON body."""
    response = client.post(path, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def data(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The `data` of a request that must succeed."""
    body = graphql(client, query, variables)
    assert "errors" not in body, body
    return body["data"]


def error(body: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    """The only error of `body`, which must have `extensions.code` `code` and `reason`."""
    assert body["data"] is None, body
    (only,) = body["errors"]
    assert only["extensions"]["code"] == code, body
    assert only["extensions"]["reason"] == reason, body
    assert only["message"]
    return dict(only)


def create(client: TestClient, executor: str = ALICE, name: str = "developers") -> str:
    """Create a chat through GraphQL; return its id."""
    result = data(client, CREATE, {"i": {"name": name, "executorId": executor}})
    chat_id: str = result["createGroupChat"]["groupChatId"]
    return chat_id


def add(client: TestClient, chat_id: str, user: str, role: str = "MEMBER") -> None:
    """Add `user` to `chat_id` as ALICE through GraphQL."""
    data(
        client,
        ADD_MEMBER,
        {"i": {"groupChatId": chat_id, "userAccountId": user, "role": role, "executorId": ALICE}},
    )


def event_types(client: TestClient, chat_id: str) -> list[str]:
    """The types of the events stored for `chat_id`, in order."""
    return [e.event_type for e in store_of(client).load(chat_id, use_snapshot=False).events]


# -- transport ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GRAPHQL, f"{GRAPHQL}/"])
def test_answers_typename_with_200_when_posted_with_or_without_trailing_slash(
    client: TestClient, path: str
) -> None:
    body = graphql(client, "{ __typename }", path=path)

    assert body == {"data": {"__typename": "Query"}}


def test_health_check_returns_ok_when_the_service_runs(client: TestClient) -> None:
    assert data(client, "query { healthCheck { value } }") == {"healthCheck": {"value": "OK"}}


def test_openapi_document_leaves_graphql_out_when_it_is_served(client: TestClient) -> None:
    document = client.get("/command/openapi.json").json()

    assert not [path for path in document["paths"] if "graphql" in path]
    assert not [name for name in document["components"]["schemas"] if name.endswith("Input")]


# -- success paths --------------------------------------------------------------------------------


def test_stores_one_event_per_mutation_when_every_mutation_succeeds(client: TestClient) -> None:
    chat_id = create(client)
    add(client, chat_id, BOB, "MEMBER")
    posted = data(
        client, POST_MESSAGE, {"i": {"groupChatId": chat_id, "content": "hi", "executorId": BOB}}
    )["postMessage"]
    edited = data(
        client,
        EDIT_MESSAGE,
        {
            "i": {
                "groupChatId": chat_id,
                "messageId": posted["messageId"],
                "content": "hello",
                "executorId": BOB,
            }
        },
    )["editMessage"]
    deleted = data(
        client,
        DELETE_MESSAGE,
        {"i": {"groupChatId": chat_id, "messageId": posted["messageId"], "executorId": ALICE}},
    )["deleteMessage"]
    removed = data(
        client,
        REMOVE_MEMBER,
        {"i": {"groupChatId": chat_id, "userAccountId": BOB, "executorId": ALICE}},
    )["removeMember"]
    renamed = data(
        client, RENAME, {"i": {"groupChatId": chat_id, "name": "ops", "executorId": ALICE}}
    )["renameGroupChat"]
    gone = data(client, DELETE, {"i": {"groupChatId": chat_id, "executorId": ALICE}})

    assert chat_id.startswith("GroupChat-")
    assert ULID.match(chat_id.removeprefix("GroupChat-"))
    assert posted["groupChatId"] == chat_id
    assert ULID.match(posted["messageId"])
    assert edited == {"groupChatId": chat_id, "messageId": posted["messageId"]}
    assert deleted == removed == renamed == {"groupChatId": chat_id}
    assert gone == {"deleteGroupChat": {"groupChatId": chat_id}}
    assert event_types(client, chat_id) == [
        "GroupChatCreated",
        "GroupChatMemberAdded",
        "GroupChatMessagePosted",
        "GroupChatMessageEdited",
        "GroupChatMessageDeleted",
        "GroupChatMemberRemoved",
        "GroupChatRenamed",
        "GroupChatDeleted",
    ]


@pytest.mark.parametrize(
    ("role", "stored"),
    [
        ("MEMBER", Role.MEMBER),
        ("member", Role.MEMBER),
        ("ADMINISTRATOR", Role.ADMINISTRATOR),
        ("ADMIN", Role.ADMINISTRATOR),
        ("Administrator", Role.ADMINISTRATOR),
    ],
)
def test_accepts_the_role_in_any_case_and_admin_when_a_member_is_added(
    client: TestClient, role: str, stored: Role
) -> None:
    chat_id = create(client)

    add(client, chat_id, BOB, role)

    assert event_types(client, chat_id) == ["GroupChatCreated", "GroupChatMemberAdded"]
    added = store_of(client).load(chat_id, use_snapshot=False).events[-1]
    event = decode(added.event_type, None, added.payload)
    assert isinstance(event, GroupChatMemberAdded)
    assert (str(event.member.user_account_id), event.member.role) == (BOB, stored)


def test_accepts_unprefixed_ids_and_returns_prefixed_ones_when_inputs_omit_the_prefix(
    client: TestClient,
) -> None:
    chat_id = create(client, executor=ALICE.removeprefix("UserAccount-").lower())
    bare = chat_id.removeprefix("GroupChat-")

    result = data(
        client,
        ADD_MEMBER,
        {
            "i": {
                "groupChatId": bare.lower(),
                "userAccountId": BOB.removeprefix("UserAccount-"),
                "role": "member",
                "executorId": ALICE,
            }
        },
    )

    assert result == {"addMember": {"groupChatId": chat_id}}


def test_shares_the_rules_with_rest_when_a_chat_created_by_graphql_is_changed_by_rest(
    client: TestClient,
) -> None:
    chat_id = create(client)

    response = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": BOB})

    assert response.status_code == 422
    assert response.json()["code"] == "not_an_administrator"


# -- 400 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (CREATE, {"i": {"name": "   ", "executorId": ALICE}}, "name"),
        (CREATE, {"i": {"name": "x" * 101, "executorId": ALICE}}, "name"),
        (CREATE, {"i": {"name": "dev", "executorId": "UserAccount-123"}}, "executorId"),
        (
            CREATE,
            {"i": {"name": "dev", "executorId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE1A"}},
            "executorId",
        ),
        (
            ADD_MEMBER,
            {
                "i": {
                    "groupChatId": "nope",
                    "userAccountId": BOB,
                    "role": "member",
                    "executorId": ALICE,
                }
            },
            "groupChatId",
        ),
        (
            ADD_MEMBER,
            {
                "i": {
                    "groupChatId": UNKNOWN_CHAT,
                    "userAccountId": BOB,
                    "role": "owner",
                    "executorId": ALICE,
                }
            },
            "role",
        ),
        (
            POST_MESSAGE,
            {"i": {"groupChatId": UNKNOWN_CHAT, "content": "", "executorId": ALICE}},
            "content",
        ),
        (
            EDIT_MESSAGE,
            {
                "i": {
                    "groupChatId": UNKNOWN_CHAT,
                    "messageId": "x",
                    "content": "a",
                    "executorId": ALICE,
                }
            },
            "messageId",
        ),
    ],
)
def test_returns_code_400_naming_the_field_when_a_value_is_invalid(
    client: TestClient, query: str, variables: dict[str, Any], field: str
) -> None:
    body = graphql(client, query, variables)

    only = error(body, "400", "validation_error")
    assert only["extensions"]["field"] == field
    assert only["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ healthCheck { value }", None),  # syntax error
        ("{ healthCheck { nope } }", None),  # unknown field
        ("{ nope }", None),  # unknown root field
        ('mutation { createGroupChat(input: {name: "x"}) { groupChatId } }', None),  # missing
        ('mutation { createGroupChat(input: {name: 1, executorId: "x"}) { groupChatId } }', None),
        (CREATE, {"i": {"name": 5, "executorId": ALICE}}),  # wrong variable type
        (CREATE, None),  # variable not given
        ('query { getGroupChats(userAccountId: "x") { id } }', None),  # the read schema's
    ],
)
def test_returns_code_400_with_http_200_when_the_document_is_invalid(
    client: TestClient, query: str, variables: dict[str, Any] | None
) -> None:
    body = graphql(client, query, variables)

    assert body["data"] is None
    assert body["errors"]
    for each in body["errors"]:
        assert each["extensions"] == {"code": "400", "reason": "validation_error"}
        assert each["message"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b"{}", {"content-type": "application/json"}),  # no query
        (b'{"query": 5}', {"content-type": "application/json"}),
        (b"query { healthCheck { value } }", {"content-type": "text/plain"}),
    ],
)
def test_returns_http_400_with_code_400_when_the_request_is_not_a_graphql_request(
    client: TestClient, content: bytes, headers: dict[str, str]
) -> None:
    response = client.post(GRAPHQL, content=content, headers=headers)

    assert response.status_code == 400
    (only,) = response.json()["errors"]
    assert only["extensions"] == {"code": "400", "reason": "validation_error"}
    assert only["message"]


def test_refuses_a_mutation_with_code_400_when_it_comes_over_get(client: TestClient) -> None:
    query = (
        'mutation { deleteGroupChat(input: {groupChatId: "x", executorId: "y"}) { groupChatId } }'
    )

    response = client.get(GRAPHQL, params={"query": query})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "400"


def test_returns_code_400_when_a_document_uses_too_many_aliases(client: TestClient) -> None:
    aliases = " ".join(f"a{n}: healthCheck {{ value }}" for n in range(21))

    body = graphql(client, f"{{ {aliases} }}")

    assert body["errors"][0]["extensions"]["code"] == "400"


# -- 404, 409, 422 --------------------------------------------------------------------------------


def test_returns_code_404_when_the_group_chat_does_not_exist(client: TestClient) -> None:
    body = graphql(
        client, RENAME, {"i": {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE}}
    )

    only = error(body, "404", "group_chat_not_found")
    assert only["path"] == ["renameGroupChat"]
    assert event_types(client, UNKNOWN_CHAT) == []


@pytest.mark.parametrize(
    ("query", "variables", "reason"),
    [
        (RENAME, {"name": "x", "executorId": BOB}, "not_an_administrator"),
        (RENAME, {"name": "developers", "executorId": ALICE}, "name_unchanged"),
        (
            ADD_MEMBER,
            {"userAccountId": BOB, "role": "ADMIN", "executorId": ALICE},
            "already_a_member",
        ),
        (REMOVE_MEMBER, {"userAccountId": CAROL, "executorId": ALICE}, "not_a_member"),
        (REMOVE_MEMBER, {"userAccountId": ALICE, "executorId": ALICE}, "last_administrator"),
        (POST_MESSAGE, {"content": "hi", "executorId": CAROL}, "not_a_member"),
        (
            EDIT_MESSAGE,
            {"messageId": "01H42K4ABWQ5V2XQEP3A48VE9Z", "content": "x", "executorId": BOB},
            "message_not_found",
        ),
        (DELETE, {"executorId": BOB}, "not_an_administrator"),
    ],
)
def test_returns_code_422_with_the_rule_and_stores_nothing_when_a_rule_is_broken(
    client: TestClient, query: str, variables: dict[str, Any], reason: str
) -> None:
    chat_id = create(client)
    add(client, chat_id, BOB)
    before = event_types(client, chat_id)

    body = graphql(client, query, {"i": {"groupChatId": chat_id, **variables}})

    error(body, "422", reason)
    assert event_types(client, chat_id) == before


def test_returns_code_422_when_the_sender_edits_in_a_deleted_chat(client: TestClient) -> None:
    chat_id = create(client)
    message_id = data(
        client, POST_MESSAGE, {"i": {"groupChatId": chat_id, "content": "hi", "executorId": ALICE}}
    )["postMessage"]["messageId"]
    data(client, DELETE, {"i": {"groupChatId": chat_id, "executorId": ALICE}})

    body = graphql(
        client,
        EDIT_MESSAGE,
        {
            "i": {
                "groupChatId": chat_id,
                "messageId": message_id,
                "content": "x",
                "executorId": ALICE,
            }
        },
    )

    error(body, "422", "group_chat_deleted")


def _client_on(store: DelegatingStore) -> TestClient:
    app = create_app(
        Settings(event_store_url="memory://", command_max_retries=2), event_store=store
    )
    return TestClient(app, raise_server_exceptions=False)


def test_returns_code_409_when_concurrent_writers_win_every_retry() -> None:
    store = AlwaysConflictingStore(open_event_store("memory://"))
    with _client_on(store) as client:
        body = graphql(client, CREATE, {"i": {"name": "dev", "executorId": ALICE}})

    only = error(body, "409", "conflict")
    assert "retry" in only["message"]
    assert store.appends == 3  # the first attempt and the 2 retries of the shared handler


# -- 500 ------------------------------------------------------------------------------------------


def test_returns_code_500_service_unavailable_when_the_event_store_is_down() -> None:
    with _client_on(UnavailableStore(open_event_store("memory://"))) as client:
        body = graphql(
            client, RENAME, {"i": {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE}}
        )

    only = error(body, "500", "service_unavailable")
    assert "retry" in only["message"]


class _BrokenStore(DelegatingStore):
    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        raise RuntimeError("secret internals: disk on fire")


def test_returns_code_500_with_a_generic_message_and_logs_it_when_a_resolver_fails_unexpectedly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.ERROR),
        _client_on(_BrokenStore(open_event_store("memory://"))) as client,
    ):
        body = graphql(
            client, RENAME, {"i": {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE}}
        )

    only = error(body, "500", "internal_error")
    assert only["message"] == "an unexpected error occurred"
    assert "secret" not in str(body)
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert logged
    assert "disk on fire" in str(logged[0].exc_info[1])  # type: ignore[index]


def test_logs_nothing_at_error_level_when_the_caller_makes_a_mistake(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        graphql(
            client, RENAME, {"i": {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE}}
        )
        graphql(client, "{ nope }")

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
