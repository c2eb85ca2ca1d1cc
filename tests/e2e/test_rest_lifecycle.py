"""End to end over REST: the real processes, every endpoint, every rule, and a restart.

The module runs once per backend: on the SQLite default through `cqrs-es dev` (as a developer
runs it), and on PostgreSQL with `cqrs-es migrate`, then `command`, `query` and `updater`
started one by one (as production runs them) on one fresh database. Starting processes costs
seconds, so the tests of one backend share them; each test has its own users and chats, and
the restart test comes last.

The read side is eventually consistent: a read after a command polls (bounded) until the
updater has projected it.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from chat_domain.ulid import new_ulid

from cqrs_es.testing import Backend, DevStack, ServiceStack, eventually, exited_gracefully
from cqrs_es.testing.fixtures import postgres_database, process_harness

pytestmark = pytest.mark.slow

Stack = DevStack | ServiceStack

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
GROUP_CHAT_ID = re.compile(f"^GroupChat-{ULID}$")
USER_ACCOUNT_ID = re.compile(f"^UserAccount-{ULID}$")
BARE_ULID = re.compile(f"^{ULID}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

CHAT_KEYS = {"id", "name", "ownerId", "createdAt", "updatedAt"}
MEMBER_KEYS = {"id", "groupChatId", "userAccountId", "role", "createdAt", "updatedAt"}
MESSAGE_KEYS = {"id", "groupChatId", "userAccountId", "text", "createdAt", "updatedAt"}


def new_user() -> str:
    return f"UserAccount-{new_ulid()}"


def bare(prefixed_id: str) -> str:
    """The ULID of a prefixed id, lower-cased: ids are accepted in both forms and any case."""
    return prefixed_id.split("-", 1)[1].lower()


def utc_millis(moment: datetime) -> str:
    """`moment` in the API's format, truncated to the millisecond (as the events are)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class Api:
    """httpx2 clients of a stack's two services, with the checks every call shares."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.commands = httpx2.Client(base_url=stack.command_url, timeout=30.0)
        self.queries = httpx2.Client(base_url=stack.query_url, timeout=30.0)

    def close(self) -> None:
        self.commands.close()
        self.queries.close()

    def post(self, operation: str, **body: Any) -> httpx2.Response:
        """POST `/command/v1/group-chats/<operation>` with `body` as JSON."""
        return self.commands.post(f"/v1/group-chats/{operation}", json=body)

    def run(self, operation: str, *, status: int = 200, **body: Any) -> dict[str, Any]:
        """A command that must succeed with `status`; its JSON result."""
        response = self.post(operation, **body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, caller: str | None, **params: Any) -> httpx2.Response:
        """GET `/query/v1<path>` as `caller` (None: no `userAccountId`)."""
        if caller is not None:
            params["userAccountId"] = caller
        return self.queries.get(f"/v1{path}", params=params)

    def read(self, path: str, caller: str, **params: Any) -> Any:
        """A read that must succeed; its JSON."""
        response = self.get(path, caller, **params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    def until(
        self,
        path: str,
        caller: str,
        done: Callable[[httpx2.Response], bool],
        what: str,
        **params: Any,
    ) -> httpx2.Response:
        """Poll a read until `done`: read-your-own-write after a command, with a bounded wait."""
        return eventually(lambda: self.get(path, caller, **params), done, what)

    def until_json(
        self, path: str, caller: str, done: Callable[[Any], bool], what: str, **params: Any
    ) -> Any:
        """Poll a read until it is a 200 whose JSON satisfies `done`; that JSON."""
        response = self.until(
            path, caller, lambda r: r.status_code == 200 and done(r.json()), what, **params
        )
        return response.json()


def assert_problem(
    response: httpx2.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with `status` and `code` (and, for a validation error, `field`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert all(body.get(key) for key in ("type", "title", "detail")), body
    if field is not None:
        assert body.get("field") == field, body
        assert field in body["detail"], body
    return body


def assert_times(item: dict[str, Any]) -> None:
    assert TIME.match(item["createdAt"]), item
    assert TIME.match(item["updatedAt"]), item
    assert item["createdAt"] <= item["updatedAt"], item  # one fixed-width format: sortable


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite-dev"),
        pytest.param("postgres", id="postgres-services", marks=pytest.mark.postgres),
    ],
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`cqrs-es dev` on SQLite files, or the three processes on one fresh PostgreSQL database."""
    directory = tmp_path_factory.mktemp(f"rest-{request.param}")
    if request.param == "sqlite":
        with process_harness(request, directory) as harness:
            yield harness.dev(directory / "data")
        return
    # Exits in reverse order: the processes stop before their database is dropped.
    with postgres_database() as url, process_harness(request, directory) as harness:
        yield harness.services(Backend.postgres(url))


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[Api]:
    client = Api(stack)
    yield client
    client.close()


@dataclass(frozen=True)
class Scene:
    """A chat of alice (administrator) with members bob and dave; carol is an outsider.

    bob posted `message` and posted then deleted `deleted_message`; `deleted_chat` is another
    chat of alice's, deleted. Everything is projected.
    """

    chat: str
    alice: str
    bob: str
    dave: str
    carol: str
    message: str
    deleted_message: str
    deleted_chat: str


@pytest.fixture(scope="module")
def scene(api: Api) -> Scene:
    alice, bob, dave, carol = new_user(), new_user(), new_user(), new_user()
    chat = api.run("create", status=201, name="team", executorId=alice)["groupChatId"]
    for user in (bob, dave):
        api.run("add-member", groupChatId=chat, userAccountId=user, role="member", executorId=alice)
    message = api.run("post-message", status=201, groupChatId=chat, content="mine", executorId=bob)[
        "messageId"
    ]
    deleted_message = api.run(
        "post-message", status=201, groupChatId=chat, content="oops", executorId=bob
    )["messageId"]
    api.run("delete-message", groupChatId=chat, messageId=deleted_message, executorId=bob)
    deleted_chat = api.run("create", status=201, name="gone", executorId=alice)["groupChatId"]
    api.run("delete", groupChatId=deleted_chat, executorId=alice)
    # The updater applies each aggregate's events in order: the last event of each is enough.
    api.until_json(
        f"/group-chats/{chat}/messages",
        alice,
        lambda page: [m["id"] for m in page["items"]] == [message],
        "the scene's messages",
    )
    api.until(f"/group-chats/{deleted_chat}", alice, lambda r: r.status_code == 404, "deletion")
    return Scene(chat, alice, bob, dave, carol, message, deleted_message, deleted_chat)


def test_documents_docs_and_healthchecks_are_served_when_the_services_run(api: Api) -> None:
    for client in (api.commands, api.queries):
        document = client.get("/openapi.json")
        assert document.status_code == 200, document.text
        assert document.json()["openapi"].startswith("3.1"), document.json()["openapi"]
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")

    command_paths = set(api.commands.get("/openapi.json").json()["paths"])
    assert {
        f"/command/v1/group-chats/{operation}"
        for operation in (
            "create",
            "rename",
            "delete",
            "add-member",
            "remove-member",
            "post-message",
            "edit-message",
            "delete-message",
        )
    } <= command_paths
    assert "/command/v1/healthcheck" in command_paths
    query_paths = set(api.queries.get("/openapi.json").json()["paths"])
    assert {
        "/query/v1/group-chats",
        "/query/v1/group-chats/{groupChatId}",
        "/query/v1/group-chats/{groupChatId}/members",
        "/query/v1/group-chats/{groupChatId}/members/{memberUserAccountId}",
        "/query/v1/group-chats/{groupChatId}/messages",
        "/query/v1/messages/{messageId}",
    } <= query_paths

    for client, path in (
        (api.commands, "/v1/healthcheck"),
        (api.queries, "/healthcheck"),
        (api.queries, "/v1/healthcheck"),
    ):
        health = client.get(path)
        assert health.status_code == 200, (path, health.text)
        assert health.headers["content-type"].startswith("text/plain"), (path, health.headers)


def test_group_chat_life_cycle_is_read_back_by_its_members_when_each_command_is_projected(
    api: Api,
) -> None:
    alice, bob = new_user(), new_user()

    # create: the creator is the first member, an administrator
    created = api.run("create", status=201, name="developers", executorId=alice)
    chat = created["groupChatId"]
    assert created == {"groupChatId": chat}
    assert GROUP_CHAT_ID.match(chat)
    group_chat = api.until_json(f"/group-chats/{chat}", alice, lambda _: True, "created chat")
    assert set(group_chat) == CHAT_KEYS
    assert (group_chat["id"], group_chat["name"], group_chat["ownerId"]) == (
        chat,
        "developers",
        alice,
    )
    assert_times(group_chat)
    assert group_chat["createdAt"] == group_chat["updatedAt"]
    assert api.read("/group-chats", alice) == [group_chat]
    (owner,) = api.read(f"/group-chats/{chat}/members", alice)
    assert set(owner) == MEMBER_KEYS
    assert BARE_ULID.match(owner["id"])
    assert (owner["groupChatId"], owner["userAccountId"], owner["role"]) == (
        chat,
        alice,
        "administrator",
    )
    # Both rows come from the one GroupChatCreated event: the same timestamp, to the millisecond.
    assert owner["createdAt"] == group_chat["createdAt"]
    assert api.read(f"/group-chats/{chat}/members/{alice}", alice) == owner

    # add a member, ids given bare and in lower case, the role as the family's clients send it
    added = api.run(
        "add-member",
        groupChatId=bare(chat),
        userAccountId=bare(bob),
        role="MEMBER",
        executorId=bare(alice),
    )
    assert added == {"groupChatId": chat}
    members = api.until_json(
        f"/group-chats/{chat}/members", alice, lambda items: len(items) == 2, "added member"
    )
    assert [(m["userAccountId"], m["role"]) for m in members] == [
        (alice, "administrator"),
        (bob, "member"),
    ]
    member = members[1]
    assert set(member) == MEMBER_KEYS
    assert BARE_ULID.match(member["id"])
    assert member["groupChatId"] == chat
    assert_times(member)
    assert member["createdAt"] >= owner["createdAt"]
    assert api.read(f"/group-chats/{chat}/members/{bare(bob)}", bare(alice)) == member
    assert api.read("/group-chats", bob) == [api.read(f"/group-chats/{chat}", bob)]

    # post
    posted = api.run("post-message", status=201, groupChatId=chat, content="hello", executorId=bob)
    message = posted["messageId"]
    assert posted == {"groupChatId": chat, "messageId": message}
    assert BARE_ULID.match(message)
    page = api.until_json(
        f"/group-chats/{chat}/messages", alice, lambda p: len(p["items"]) == 1, "posted message"
    )
    assert set(page) == {"items", "nextBefore"}
    assert page["nextBefore"] is None
    (item,) = page["items"]
    assert set(item) == MESSAGE_KEYS
    assert (item["id"], item["groupChatId"], item["userAccountId"], item["text"]) == (
        message,
        chat,
        bob,
        "hello",
    )
    assert_times(item)
    assert item["createdAt"] == item["updatedAt"]
    assert api.read(f"/messages/{message}", bob) == item
    assert api.read(f"/messages/{message.lower()}", alice) == item

    # edit: the text changes, createdAt does not
    edited = api.run(
        "edit-message", groupChatId=chat, messageId=message, content="hello, world", executorId=bob
    )
    assert edited == {"groupChatId": chat, "messageId": message}
    edited_item = api.until_json(
        f"/messages/{message}", bob, lambda m: m["text"] == "hello, world", "edited message"
    )
    assert edited_item["createdAt"] == item["createdAt"]
    assert edited_item["updatedAt"] >= item["updatedAt"]
    assert_times(edited_item)

    # delete the message (an administrator may delete anyone's): gone from both reads
    deleted = api.run("delete-message", groupChatId=chat, messageId=message, executorId=alice)
    assert deleted == {"groupChatId": chat}
    gone = api.until(f"/messages/{message}", bob, lambda r: r.status_code == 404, "deleted message")
    assert_problem(gone, 404, "message_not_found")
    assert api.read(f"/group-chats/{chat}/messages", alice) == {"items": [], "nextBefore": None}

    # rename: the new name, createdAt unchanged
    renamed = api.run("rename", groupChatId=chat, name="ops", executorId=alice)
    assert renamed == {"groupChatId": chat}
    renamed_chat = api.until_json(
        f"/group-chats/{chat}", bob, lambda c: c["name"] == "ops", "renamed chat"
    )
    assert renamed_chat["createdAt"] == group_chat["createdAt"]
    assert renamed_chat["updatedAt"] >= group_chat["updatedAt"]
    assert_times(renamed_chat)

    # remove the member: the chat disappears for them
    removed = api.run("remove-member", groupChatId=chat, userAccountId=bob, executorId=alice)
    assert removed == {"groupChatId": chat}
    hidden = api.until(
        f"/group-chats/{chat}", bob, lambda r: r.status_code == 404, "removed member's view"
    )
    assert_problem(hidden, 404, "group_chat_not_found")
    assert api.read("/group-chats", bob) == []
    assert [m["userAccountId"] for m in api.read(f"/group-chats/{chat}/members", alice)] == [alice]
    assert_problem(api.get(f"/group-chats/{chat}/members/{bob}", alice), 404, "member_not_found")

    # delete the chat: it disappears for everyone
    assert api.run("delete", groupChatId=chat, executorId=alice) == {"groupChatId": chat}
    deleted_chat = api.until(
        f"/group-chats/{chat}", alice, lambda r: r.status_code == 404, "deleted chat"
    )
    assert_problem(deleted_chat, 404, "group_chat_not_found")
    assert api.read("/group-chats", alice) == []
    assert_problem(api.get(f"/group-chats/{chat}/members", alice), 404, "group_chat_not_found")
    assert_problem(api.get(f"/group-chats/{chat}/messages", alice), 404, "group_chat_not_found")


def test_group_chats_are_listed_newest_first_when_a_user_is_in_several(api: Api) -> None:
    alice = new_user()
    first = api.run("create", status=201, name="first", executorId=alice)["groupChatId"]
    second = api.run("create", status=201, name="second", executorId=alice)["groupChatId"]

    listed = api.until_json("/group-chats", alice, lambda chats: len(chats) == 2, "both chats")

    assert [c["id"] for c in listed] == [second, first]


@dataclass(frozen=True)
class Refusal:
    """A command the domain refuses: what is sent (built from the scene) and what comes back."""

    operation: str
    body: Callable[[Scene], dict[str, Any]]
    status: int
    code: str


REFUSALS = {
    "rename by a non-administrator": Refusal(
        "rename",
        lambda s: {"groupChatId": s.chat, "name": "x", "executorId": s.bob},
        422,
        "not_an_administrator",
    ),
    "add-member by a non-administrator": Refusal(
        "add-member",
        lambda s: {
            "groupChatId": s.chat,
            "userAccountId": s.carol,
            "role": "member",
            "executorId": s.bob,
        },
        422,
        "not_an_administrator",
    ),
    "remove-member by a non-administrator": Refusal(
        "remove-member",
        lambda s: {"groupChatId": s.chat, "userAccountId": s.dave, "executorId": s.bob},
        422,
        "not_an_administrator",
    ),
    "delete by a non-administrator": Refusal(
        "delete",
        lambda s: {"groupChatId": s.chat, "executorId": s.bob},
        422,
        "not_an_administrator",
    ),
    "post by a non-member": Refusal(
        "post-message",
        lambda s: {"groupChatId": s.chat, "content": "hi", "executorId": s.carol},
        422,
        "not_a_member",
    ),
    "add an existing member": Refusal(
        "add-member",
        lambda s: {
            "groupChatId": s.chat,
            "userAccountId": s.bob,
            "role": "member",
            "executorId": s.alice,
        },
        422,
        "already_a_member",
    ),
    "remove a non-member": Refusal(
        "remove-member",
        lambda s: {"groupChatId": s.chat, "userAccountId": s.carol, "executorId": s.alice},
        422,
        "not_a_member",
    ),
    "remove the last administrator": Refusal(
        "remove-member",
        lambda s: {"groupChatId": s.chat, "userAccountId": s.alice, "executorId": s.alice},
        422,
        "last_administrator",
    ),
    "rename to the same name": Refusal(
        "rename",
        lambda s: {"groupChatId": s.chat, "name": "team", "executorId": s.alice},
        422,
        "name_unchanged",
    ),
    "edit by someone else than the sender": Refusal(
        "edit-message",
        lambda s: {
            "groupChatId": s.chat,
            "messageId": s.message,
            "content": "x",
            "executorId": s.alice,
        },
        422,
        "not_the_sender",
    ),
    "delete-message by a member who is not the sender": Refusal(
        "delete-message",
        lambda s: {"groupChatId": s.chat, "messageId": s.message, "executorId": s.dave},
        422,
        "not_sender_or_administrator",
    ),
    "edit an unknown message": Refusal(
        "edit-message",
        lambda s: {
            "groupChatId": s.chat,
            "messageId": str(new_ulid()),
            "content": "x",
            "executorId": s.bob,
        },
        422,
        "message_not_found",
    ),
    "edit a deleted message": Refusal(
        "edit-message",
        lambda s: {
            "groupChatId": s.chat,
            "messageId": s.deleted_message,
            "content": "x",
            "executorId": s.bob,
        },
        422,
        "message_not_found",
    ),
    "delete a deleted message": Refusal(
        "delete-message",
        lambda s: {"groupChatId": s.chat, "messageId": s.deleted_message, "executorId": s.bob},
        422,
        "message_not_found",
    ),
    "post to a deleted chat": Refusal(
        "post-message",
        lambda s: {"groupChatId": s.deleted_chat, "content": "x", "executorId": s.alice},
        422,
        "group_chat_deleted",
    ),
    "rename a deleted chat": Refusal(
        "rename",
        lambda s: {"groupChatId": s.deleted_chat, "name": "y", "executorId": s.alice},
        422,
        "group_chat_deleted",
    ),
    "delete a deleted chat": Refusal(
        "delete",
        lambda s: {"groupChatId": s.deleted_chat, "executorId": s.alice},
        422,
        "group_chat_already_deleted",
    ),
    "any command on an unknown chat": Refusal(
        "rename",
        lambda s: {"groupChatId": f"GroupChat-{new_ulid()}", "name": "x", "executorId": s.alice},
        404,
        "group_chat_not_found",
    ),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_command_is_refused_with_its_rule_code_when_a_rule_forbids_it(
    api: Api, scene: Scene, case: Refusal
) -> None:
    response = api.post(case.operation, **case.body(scene))

    assert_problem(response, case.status, case.code)


INVALID_COMMANDS = {
    "groupChatId": (
        "rename",
        lambda s: {"groupChatId": "not-an-id", "name": "x", "executorId": s.alice},
    ),
    "groupChatId with another type's prefix": (
        "rename",
        lambda s: {"groupChatId": s.alice, "name": "x", "executorId": s.alice},
    ),
    "executorId": (
        "post-message",
        lambda s: {"groupChatId": s.chat, "content": "x", "executorId": "UserAccount-123"},
    ),
    "userAccountId": (
        "add-member",
        lambda s: {
            "groupChatId": s.chat,
            "userAccountId": "nobody",
            "role": "member",
            "executorId": s.alice,
        },
    ),
    "messageId": (
        "edit-message",
        lambda s: {"groupChatId": s.chat, "messageId": "m-1", "content": "x", "executorId": s.bob},
    ),
    "name (blank)": ("create", lambda s: {"name": "   ", "executorId": s.alice}),
    "name (missing)": ("create", lambda s: {"executorId": s.alice}),
    "content (empty)": (
        "post-message",
        lambda s: {"groupChatId": s.chat, "content": "", "executorId": s.bob},
    ),
    "content (over 4,000 characters)": (
        "post-message",
        lambda s: {"groupChatId": s.chat, "content": "x" * 4001, "executorId": s.bob},
    ),
    "role": (
        "add-member",
        lambda s: {
            "groupChatId": s.chat,
            "userAccountId": s.carol,
            "role": "owner",
            "executorId": s.alice,
        },
    ),
}


@pytest.mark.parametrize(
    ("operation", "body", "field"),
    [(op, body, name.split(" ", 1)[0]) for name, (op, body) in INVALID_COMMANDS.items()],
    ids=INVALID_COMMANDS.keys(),
)
def test_command_is_a_400_naming_the_field_when_a_value_is_invalid(
    api: Api, scene: Scene, operation: str, body: Callable[[Scene], dict[str, Any]], field: str
) -> None:
    response = api.post(operation, **body(scene))

    assert_problem(response, 400, "validation_error", field)


def test_command_is_a_4xx_problem_when_the_request_itself_is_malformed(
    api: Api, scene: Scene
) -> None:
    not_json = api.commands.post(
        "/v1/group-chats/create", content=b"{", headers={"content-type": "application/json"}
    )
    assert_problem(not_json, 400, "validation_error")

    oversize = api.post(
        "post-message", groupChatId=scene.chat, content="x" * 70_000, executorId=scene.bob
    )
    assert_problem(oversize, 413, "payload_too_large")

    assert_problem(api.commands.post("/v1/group-chats/explode", json={}), 404, "not_found")
    assert_problem(api.commands.get("/v1/group-chats/create"), 405, "method_not_allowed")


def test_chat_is_invisible_when_read_by_a_non_member(api: Api, scene: Scene) -> None:
    carol, chat = scene.carol, scene.chat

    assert api.read("/group-chats", carol) == []
    for path in (
        f"/group-chats/{chat}",
        f"/group-chats/{chat}/members",
        f"/group-chats/{chat}/messages",
        f"/group-chats/{chat}/members/{scene.alice}",
    ):
        assert_problem(api.get(path, carol), 404, "group_chat_not_found")
    assert_problem(api.get(f"/messages/{scene.message}", carol), 404, "message_not_found")
    # ... and to a member, it is all there
    assert api.read(f"/group-chats/{chat}", scene.dave)["id"] == chat
    assert api.read(f"/messages/{scene.message}", scene.dave)["id"] == scene.message


def test_deleted_and_unknown_things_are_404_when_read(api: Api, scene: Scene) -> None:
    alice = scene.alice

    assert_problem(
        api.get(f"/group-chats/{scene.deleted_chat}", alice), 404, "group_chat_not_found"
    )
    assert scene.deleted_chat not in [c["id"] for c in api.read("/group-chats", alice)]
    assert_problem(api.get(f"/messages/{scene.deleted_message}", alice), 404, "message_not_found")
    assert_problem(
        api.get(f"/group-chats/GroupChat-{new_ulid()}", alice), 404, "group_chat_not_found"
    )
    assert_problem(api.get(f"/messages/{new_ulid()}", alice), 404, "message_not_found")
    assert_problem(
        api.get(f"/group-chats/{scene.chat}/members/{scene.carol}", alice), 404, "member_not_found"
    )


@pytest.mark.parametrize(
    ("path", "caller", "params", "field"),
    [
        ("/group-chats/not-an-id", "alice", {}, "groupChatId"),
        ("/group-chats/{chat}/members", "alice", {}, None),
        ("/group-chats/{chat}/members/nobody", "alice", {}, "memberUserAccountId"),
        ("/group-chats/{chat}/messages", "UserAccount-xyz", {}, "userAccountId"),
        ("/group-chats/{chat}/messages", "alice", {"limit": 0}, "limit"),
        ("/group-chats/{chat}/messages", "alice", {"limit": 201}, "limit"),
        ("/group-chats/{chat}/messages", "alice", {"before": "garbage"}, "before"),
        ("/messages/m-1", "alice", {}, "messageId"),
        ("/group-chats", None, {}, "userAccountId"),
    ],
    ids=[
        "groupChatId",
        "valid",
        "memberUserAccountId",
        "userAccountId",
        "limit 0",
        "limit over 200",
        "before",
        "messageId",
        "userAccountId missing",
    ],
)
def test_read_is_a_400_naming_the_field_when_a_parameter_is_invalid(
    api: Api, scene: Scene, path: str, caller: str | None, params: dict[str, Any], field: str | None
) -> None:
    user = scene.alice if caller == "alice" else caller

    response = api.get(path.format(chat=scene.chat), user, **params)

    if field is None:  # the control: the same read with valid values succeeds
        assert response.status_code == 200, response.text
    else:
        assert_problem(response, 400, "validation_error", field)


def test_messages_are_paged_backwards_through_next_before_when_there_are_more_than_a_page(
    api: Api,
) -> None:
    alice = new_user()
    chat = api.run("create", status=201, name="busy", executorId=alice)["groupChatId"]
    posted = [
        api.run("post-message", status=201, groupChatId=chat, content=f"m{i}", executorId=alice)[
            "messageId"
        ]
        for i in range(7)
    ]
    everything = api.until_json(
        f"/group-chats/{chat}/messages", alice, lambda p: len(p["items"]) == 7, "seven messages"
    )
    assert [m["id"] for m in everything["items"]] == posted  # oldest first
    assert everything["nextBefore"] is None

    pages, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"before": before} if before else {})
        page = api.read(f"/group-chats/{chat}/messages", alice, **params)
        pages.append([m["text"] for m in page["items"]])
        before = page["nextBefore"]
        if before is None:
            break
        assert isinstance(before, str)
        assert len(pages) < 5, pages

    assert pages == [["m4", "m5", "m6"], ["m1", "m2", "m3"], ["m0"]]


def _updater_pid(stack: Stack) -> int:
    if isinstance(stack, DevStack):
        return stack.child_pid("updater")
    pid = stack.updater.pid
    assert pid is not None
    return pid


def test_timestamps_come_from_the_events_when_the_updater_projects_them_late(
    api: Api,
) -> None:
    alice = new_user()
    updater = _updater_pid(api.stack)
    os.kill(updater, signal.SIGSTOP)  # the updater is frozen: nothing is projected meanwhile
    try:
        before = utc_millis(datetime.now(UTC))
        chat = api.run("create", status=201, name="late", executorId=alice)["groupChatId"]
        api.run("post-message", status=201, groupChatId=chat, content="x", executorId=alice)
        after = utc_millis(datetime.now(UTC))
        # Let the clock move on well past the commands before anything is projected.
        time.sleep(0.3)
        resumed = utc_millis(datetime.now(UTC))
        assert resumed > after
    finally:
        os.kill(updater, signal.SIGCONT)

    group_chat = api.until_json(f"/group-chats/{chat}", alice, lambda _: True, "late chat")
    page = api.until_json(
        f"/group-chats/{chat}/messages", alice, lambda p: len(p["items"]) == 1, "late message"
    )
    stamps = [group_chat["createdAt"], group_chat["updatedAt"]]
    stamps += [page["items"][0]["createdAt"], page["items"][0]["updatedAt"]]
    assert all(before <= stamp <= after for stamp in stamps), (before, stamps, after, resumed)


def _snapshot(api: Api, users: list[str], chats: list[str]) -> dict[str, Any]:
    """Every read of the query service about `chats`, as each of `users`: status and body."""
    seen: dict[str, Any] = {}

    def read(path: str, user: str) -> Any:
        response = api.get(path, user)
        seen[f"{user} {path}"] = (response.status_code, response.json())
        return response.json() if response.status_code == 200 else None

    for user in users:
        read("/group-chats", user)
        for chat in chats:
            read(f"/group-chats/{chat}", user)
            for member in read(f"/group-chats/{chat}/members", user) or []:
                read(f"/group-chats/{chat}/members/{member['userAccountId']}", user)
            for message in (read(f"/group-chats/{chat}/messages", user) or {"items": []})["items"]:
                read(f"/messages/{message['id']}", user)
    return seen


STARTED_AT = re.compile(r"updater started at journal position (\d+)")
STOPPED_AT = re.compile(r"updater stopped after .*journal position (\d+)")


def _updater_log(stack: Stack) -> str:
    process = stack.process if isinstance(stack, DevStack) else stack.updater
    return process.current_output()


def test_all_data_is_kept_and_nothing_is_projected_twice_when_every_process_restarts(
    api: Api, scene: Scene
) -> None:
    stack = api.stack
    alice, bob = new_user(), new_user()
    chat = api.run("create", status=201, name="durable", executorId=alice)["groupChatId"]
    api.run("add-member", groupChatId=chat, userAccountId=bob, role="member", executorId=alice)
    posted = [
        api.run("post-message", status=201, groupChatId=chat, content=t, executorId=bob)[
            "messageId"
        ]
        for t in ("one", "two", "three")
    ]
    api.run("rename", groupChatId=chat, name="kept", executorId=alice)
    api.until_json(f"/group-chats/{chat}", bob, lambda c: c["name"] == "kept", "last command")
    users = [alice, bob, scene.alice, scene.bob, scene.carol]
    before = _snapshot(api, users, [chat, scene.chat, scene.deleted_chat])

    codes = stack.stop()

    if isinstance(stack, DevStack):
        assert codes == {"dev": 0}, stack.process.tail()
        output = stack.process.current_output()
        assert "cqrs-es dev: stopped" in output
        assert "exited with" not in output, output  # dev's report of a child that failed
        assert "killed by" not in output, output
    else:
        assert all(exited_gracefully(code) for code in codes.values()), codes
    stopped = STOPPED_AT.findall(_updater_log(stack))
    assert stopped, _updater_log(stack)

    stack.start()

    # The updater resumes from its checkpoint: nothing is replayed.
    started = eventually(
        lambda: STARTED_AT.findall(_updater_log(stack)), bool, "the updater's start"
    )
    assert started == [stopped[-1]]
    assert int(started[0]) > 0
    assert _snapshot(api, users, [chat, scene.chat, scene.deleted_chat]) == before

    # New commands work, and are projected once.
    latest = api.run("post-message", status=201, groupChatId=chat, content="four", executorId=bob)
    page = api.until_json(
        f"/group-chats/{chat}/messages", alice, lambda p: len(p["items"]) >= 4, "new message"
    )
    assert [m["id"] for m in page["items"]] == [*posted, latest["messageId"]]
    assert [c["id"] for c in api.read("/group-chats", alice)] == [chat]
