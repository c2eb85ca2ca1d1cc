"""The GraphQL read API (`/query/graphql`) through HTTP, on a read model the projector wrote.

Commands are decided by the domain and their events applied by the real projector, so the rows
are what production writes (timestamps from the events, roles, soft removals).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chat_domain import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    EditMessage,
    EventId,
    GroupChat,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    decide,
    evolve,
)
from fastapi.testclient import TestClient
from query_service.app import create_app
from query_service.settings import Settings
from read_model import migrate, queries
from read_model.projector import Outcome, project
from sqlalchemy import Engine

GRAPHQL = "/query/graphql"
ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
BOB = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B"
CAROL = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE3C"
STRANGER = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE4D"
UNKNOWN_CHAT = "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z"
START = datetime(2026, 11, 28, 10, 0, 0, 123000, tzinfo=UTC)

CHAT_FIELDS = "id name ownerId createdAt updatedAt"
MEMBER_FIELDS = "id groupChatId userAccountId role createdAt updatedAt"
MESSAGE_FIELDS = "id groupChatId userAccountId text createdAt updatedAt"


class World:
    """Runs commands through the domain and projects their events into the read model.

    Each command happens one second after the previous one, starting at `START`.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.states: dict[str, GroupChat | None] = {}
        self.now = START - timedelta(seconds=1)

    def run(self, command: Command) -> Command:
        self.now += timedelta(seconds=1)
        key = str(command.group_chat_id)
        state = self.states.get(key)
        events = decide(state, command, event_id=EventId.generate(), occurred_at=self.now)
        with self.engine.begin() as connection:
            for event in events:
                assert project(connection, event) is Outcome.APPLIED
                state = evolve(state, event)
        self.states[key] = state
        return command

    def create(self, owner: str = ALICE, name: str = "developers") -> str:
        command = self.run(CreateGroupChat.parse(name=name, executor_id=owner))
        return str(command.group_chat_id)

    def add(self, chat: str, user: str, role: str = "member", by: str = ALICE) -> None:
        self.run(
            AddMember.parse(group_chat_id=chat, user_account_id=user, role=role, executor_id=by)
        )

    def remove(self, chat: str, user: str, by: str = ALICE) -> None:
        self.run(RemoveMember.parse(group_chat_id=chat, user_account_id=user, executor_id=by))

    def post(self, chat: str, by: str, content: str = "hi") -> str:
        command = self.run(PostMessage.parse(group_chat_id=chat, content=content, executor_id=by))
        assert isinstance(command, PostMessage)
        return str(command.message_id)

    def edit(self, chat: str, message: str, by: str, content: str) -> None:
        self.run(
            EditMessage.parse(
                group_chat_id=chat, message_id=message, content=content, executor_id=by
            )
        )

    def delete_message(self, chat: str, message: str, by: str = ALICE) -> None:
        self.run(DeleteMessage.parse(group_chat_id=chat, message_id=message, executor_id=by))

    def rename(self, chat: str, name: str, by: str = ALICE) -> None:
        self.run(RenameGroupChat.parse(group_chat_id=chat, name=name, executor_id=by))

    def delete(self, chat: str, by: str = ALICE) -> None:
        self.run(DeleteGroupChat.parse(group_chat_id=chat, executor_id=by))


@pytest.fixture
def read_model_url(tmp_path: Path) -> str:
    """A migrated SQLite read model (overrides conftest's SQLite + PostgreSQL pair).

    The GraphQL layer is database-agnostic: the query functions it calls are tested on both
    databases by the read-model and REST tests.
    """
    url = f"sqlite:///{tmp_path / 'read_model.db'}"
    migrate(url)
    return url


@pytest.fixture
def world(client: TestClient) -> World:
    """Commands projected into the app's read model."""
    return World(client.app.state.engine)  # type: ignore[attr-defined]


def graphql(client: TestClient, query: str, path: str = GRAPHQL) -> dict[str, Any]:
    """POST a GraphQL request; the HTTP status must be 200. Returns the JSON body."""
    response = client.post(path, json={"query": query})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def data(client: TestClient, query: str) -> Any:
    """The `data` of a request that must succeed."""
    body = graphql(client, query)
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


def at(seconds: int) -> str:
    """The wire form of START + `seconds`."""
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.123Z")


def _bare(prefixed: str) -> str:
    return prefixed.rsplit("-", 1)[-1]


# -- transport ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GRAPHQL, f"{GRAPHQL}/"])
def test_answers_typename_with_200_when_posted_with_or_without_trailing_slash(
    client: TestClient, path: str
) -> None:
    assert graphql(client, "{ __typename }", path=path) == {"data": {"__typename": "Query"}}


def test_openapi_document_leaves_graphql_out_when_it_is_served(client: TestClient) -> None:
    document = client.get("/query/openapi.json").json()

    assert not [path for path in document["paths"] if "graphql" in path]


# -- reads ----------------------------------------------------------------------------------------


def test_returns_every_field_in_wire_format_when_the_caller_is_a_member(
    client: TestClient, world: World
) -> None:
    chat = world.create(ALICE, "developers")  # t=0
    world.add(chat, BOB, "member")  # t=1
    message = world.post(chat, BOB, "hello")  # t=2
    world.rename(chat, "ops")  # t=3
    world.edit(chat, message, BOB, "hello, world")  # t=4

    result = data(
        client,
        f"""{{
          getGroupChat(groupChatId: "{chat}", userAccountId: "{BOB}") {{ {CHAT_FIELDS} }}
          getGroupChats(userAccountId: "{BOB}") {{ {CHAT_FIELDS} }}
          getMember(groupChatId: "{chat}", userAccountId: "{BOB}") {{ {MEMBER_FIELDS} }}
          getMembers(groupChatId: "{chat}", userAccountId: "{BOB}") {{ {MEMBER_FIELDS} }}
          getMessage(messageId: "{message}", userAccountId: "{ALICE}") {{ {MESSAGE_FIELDS} }}
          getMessages(groupChatId: "{chat}", userAccountId: "{ALICE}") {{ {MESSAGE_FIELDS} }}
        }}""",
    )

    group_chat = {
        "id": chat,
        "name": "ops",
        "ownerId": ALICE,
        "createdAt": at(0),
        "updatedAt": at(3),  # the rename: the chat's own last change
    }
    assert re.fullmatch(f"GroupChat-{ULID}", chat)
    assert result["getGroupChat"] == group_chat
    assert result["getGroupChats"] == [group_chat]
    bob = result["getMember"]
    assert re.fullmatch(ULID, bob["id"])
    assert bob == {
        "id": bob["id"],
        "groupChatId": chat,
        "userAccountId": BOB,
        "role": "member",
        "createdAt": at(1),
        "updatedAt": at(1),
    }
    alice = result["getMembers"][0]
    assert alice["role"] == "administrator"
    assert (alice["userAccountId"], alice["createdAt"]) == (ALICE, at(0))
    assert result["getMembers"] == [alice, bob]
    expected_message = {
        "id": message,
        "groupChatId": chat,
        "userAccountId": BOB,
        "text": "hello, world",
        "createdAt": at(2),
        "updatedAt": at(4),
    }
    assert result["getMessage"] == expected_message
    assert result["getMessages"] == [expected_message]
    for value in (group_chat["createdAt"], bob["updatedAt"], expected_message["updatedAt"]):
        assert TIME.match(value)


def test_lists_chats_newest_first_and_messages_oldest_first_without_deleted_ones(
    client: TestClient, world: World
) -> None:
    older, newer = world.create(ALICE, "older"), world.create(ALICE, "newer")
    first = world.post(older, ALICE, "first")
    deleted = world.post(older, ALICE, "deleted")
    last = world.post(older, ALICE, "last")
    world.delete_message(older, deleted)

    result = data(
        client,
        f"""{{
          getGroupChats(userAccountId: "{ALICE}") {{ id }}
          getMessages(groupChatId: "{older}", userAccountId: "{ALICE}") {{ id text }}
        }}""",
    )

    assert [chat["id"] for chat in result["getGroupChats"]] == [newer, older]
    assert result["getMessages"] == [{"id": first, "text": "first"}, {"id": last, "text": "last"}]


def test_returns_the_newest_page_size_max_messages_oldest_first_when_a_chat_has_more(
    client: TestClient, world: World, settings: Settings
) -> None:
    chat = world.create()
    posted = [world.post(chat, ALICE, f"m{n}") for n in range(settings.page_size_max + 2)]

    result = data(
        client, f'{{ getMessages(groupChatId: "{chat}", userAccountId: "{ALICE}") {{ id }} }}'
    )

    assert [m["id"] for m in result["getMessages"]] == posted[-settings.page_size_max :]


def test_accepts_ids_without_prefix_or_in_lower_case_when_reads_name_them(
    client: TestClient, world: World
) -> None:
    chat = world.create()
    message = world.post(chat, ALICE)

    chat_ulid, alice_ulid = _bare(chat), _bare(ALICE)
    alice_lower = f"UserAccount-{alice_ulid.lower()}"

    result = data(
        client,
        f"""{{
          getGroupChat(groupChatId: "{chat_ulid.lower()}", userAccountId: "{alice_ulid}") {{ id }}
          getMessage(messageId: "{message.lower()}", userAccountId: "{alice_lower}") {{ id }}
          getMember(groupChatId: "{chat_ulid}", userAccountId: "{alice_ulid}") {{ userAccountId }}
        }}""",
    )

    assert result == {
        "getGroupChat": {"id": chat},
        "getMessage": {"id": message},
        "getMember": {"userAccountId": ALICE},
    }


# -- visibility: 404 for single objects, [] for lists ---------------------------------------------


@pytest.fixture
def scene(world: World) -> dict[str, str]:
    """A chat of ALICE where BOB was removed and CAROL is a member, a deleted chat of ALICE, and
    messages: a live one, a deleted one, one in the deleted chat."""
    chat = world.create()
    world.add(chat, BOB)
    world.add(chat, CAROL)
    live = world.post(chat, CAROL)
    gone = world.post(chat, CAROL)
    world.delete_message(chat, gone, by=CAROL)
    world.remove(chat, BOB)
    deleted_chat = world.create()
    in_deleted = world.post(deleted_chat, ALICE)
    world.delete(deleted_chat)
    return {
        "chat": chat,
        "live": live,
        "gone": gone,
        "deleted_chat": deleted_chat,
        "in_deleted": in_deleted,
    }


@pytest.mark.parametrize(
    ("chat", "caller"),
    [
        ("chat", STRANGER),  # not a member
        ("chat", BOB),  # removed
        ("deleted_chat", ALICE),  # deleted chat
        (UNKNOWN_CHAT, ALICE),  # no such chat
    ],
)
def test_single_object_reads_are_404_and_lists_are_empty_when_the_caller_may_not_see_the_chat(
    client: TestClient, scene: dict[str, str], chat: str, caller: str
) -> None:
    chat_id = scene.get(chat, chat)

    chat_body = graphql(
        client, f'{{ getGroupChat(groupChatId: "{chat_id}", userAccountId: "{caller}") {{ id }} }}'
    )
    member_body = graphql(
        client, f'{{ getMember(groupChatId: "{chat_id}", userAccountId: "{caller}") {{ id }} }}'
    )
    lists = data(
        client,
        f"""{{
          getMembers(groupChatId: "{chat_id}", userAccountId: "{caller}") {{ id }}
          getMessages(groupChatId: "{chat_id}", userAccountId: "{caller}") {{ id }}
        }}""",
    )

    assert error(chat_body, "404", "group_chat_not_found")["path"] == ["getGroupChat"]
    assert error(member_body, "404", "member_not_found")["path"] == ["getMember"]
    assert lists == {"getMembers": [], "getMessages": []}
    if caller != ALICE:
        chats = data(client, f'{{ getGroupChats(userAccountId: "{caller}") {{ id }} }}')
        assert chats == {"getGroupChats": []}


@pytest.mark.parametrize(
    ("message", "caller"),
    [
        ("live", STRANGER),
        ("live", BOB),  # removed since
        ("gone", CAROL),  # deleted message, even for its sender
        ("in_deleted", ALICE),  # message of a deleted chat
        ("01H42K4ABWQ5V2XQEP3A48VE9Z", ALICE),  # no such message
    ],
)
def test_get_message_is_404_when_the_caller_may_not_see_the_message(
    client: TestClient, scene: dict[str, str], message: str, caller: str
) -> None:
    message_id = scene.get(message, message)

    body = graphql(
        client, f'{{ getMessage(messageId: "{message_id}", userAccountId: "{caller}") {{ id }} }}'
    )

    error(body, "404", "message_not_found")


def test_get_message_returns_it_when_the_caller_is_a_current_member(
    client: TestClient, scene: dict[str, str]
) -> None:
    result = data(
        client, f'{{ getMessage(messageId: "{scene["live"]}", userAccountId: "{ALICE}") {{ id }} }}'
    )

    assert result == {"getMessage": {"id": scene["live"]}}


# -- 400 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('getGroupChat(groupChatId: "nope", userAccountId: "{ALICE}") { id }', "groupChatId"),
        ('getGroupChat(groupChatId: "{ALICE}", userAccountId: "{ALICE}") { id }', "groupChatId"),
        ('getGroupChats(userAccountId: "UserAccount-123") { id }', "userAccountId"),
        ('getMember(groupChatId: "{CHAT}", userAccountId: "") { id }', "userAccountId"),
        ('getMembers(groupChatId: "x", userAccountId: "{ALICE}") { id }', "groupChatId"),
        ('getMessage(messageId: "{CHAT}", userAccountId: "{ALICE}") { id }', "messageId"),
        ('getMessages(groupChatId: "{CHAT}", userAccountId: "bob") { id }', "userAccountId"),
    ],
)
def test_returns_code_400_naming_the_argument_when_an_id_is_malformed(
    client: TestClient, query: str, field: str
) -> None:
    query = query.replace("{ALICE}", ALICE).replace("{CHAT}", UNKNOWN_CHAT)

    body = graphql(client, f"{{ {query} }}")

    only = error(body, "400", "validation_error")
    assert only["extensions"]["field"] == field
    assert only["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "query",
    [
        "{ getGroupChats(userAccountId: ",  # syntax error
        '{ getGroupChats(userAccountId: "x") { id nope } }',  # unknown field
        "{ getGroupChats { id } }",  # missing argument
        "{ getGroupChats(userAccountId: 5) { id } }",  # wrong argument type
        '{ getGroupChats(userAccountId: "x", limit: 5) { id } }',  # unknown argument
        '{ getGroupChats(userAccountId: "x") }',  # no selection
        'mutation { createGroupChat(input: {name: "x", executorId: "y"}) { groupChatId } }',
    ],
)
def test_returns_code_400_with_http_200_when_the_document_is_invalid(
    client: TestClient, query: str
) -> None:
    body = graphql(client, query)

    assert body["data"] is None
    assert body["errors"]
    for each in body["errors"]:
        assert each["extensions"] == {"code": "400", "reason": "validation_error"}


def test_returns_http_400_with_code_400_when_the_body_is_not_json(client: TestClient) -> None:
    response = client.post(GRAPHQL, content=b"{nope", headers={"content-type": "application/json"})

    assert response.status_code == 400
    (only,) = response.json()["errors"]
    assert only["extensions"] == {"code": "400", "reason": "validation_error"}


def test_answers_queries_over_get_when_a_client_sends_them_so(
    client: TestClient, world: World
) -> None:
    chat = world.create()

    response = client.get(
        GRAPHQL, params={"query": f'{{ getGroupChats(userAccountId: "{ALICE}") {{ id }} }}'}
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"getGroupChats": [{"id": chat}]}}


# -- 500 ------------------------------------------------------------------------------------------


@pytest.fixture
def unmigrated_client(tmp_path: Path) -> Iterator[TestClient]:
    """The app on an SQLite read model whose tables were never created."""
    app = create_app(Settings(read_model_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_returns_code_500_service_unavailable_when_the_read_model_is_unavailable(
    unmigrated_client: TestClient,
) -> None:
    body = graphql(unmigrated_client, f'{{ getGroupChats(userAccountId: "{ALICE}") {{ id }} }}')

    only = error(body, "500", "service_unavailable")
    assert "retry" in only["message"]


def test_returns_code_500_with_a_generic_message_and_logs_it_when_a_query_fails_unexpectedly(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals: table on fire")

    monkeypatch.setattr(queries, "get_group_chats", broken)
    with caplog.at_level(logging.ERROR):
        body = graphql(client, f'{{ getGroupChats(userAccountId: "{ALICE}") {{ id }} }}')

    only = error(body, "500", "internal_error")
    assert only["message"] == "an unexpected error occurred"
    assert "secret" not in str(body)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
