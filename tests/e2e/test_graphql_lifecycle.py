"""End to end through GraphQL alone: `cqrs-es dev` (command, query and updater as real
processes on SQLite files), a group chat's whole life cycle, every field and format checked.

The client sends what the family's GraphQL clients send: named operations that declare
variables of API.md's input types. Reads poll (bounded) until the updater has projected the
previous command: the read side is eventually consistent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from cqrs_es.testing import DevStack, Harness, eventually

pytestmark = pytest.mark.slow

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
GROUP_CHAT_ID = re.compile(f"^GroupChat-{ULID}$")
USER_ACCOUNT_ID = re.compile(f"^UserAccount-{ULID}$")
BARE_ULID = re.compile(f"^{ULID}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
BOB_ULID = "01H42K4ABWQ5V2XQEP3A48VE2B"
BOB = f"UserAccount-{BOB_ULID}"

CHAT_FIELDS = "id name ownerId createdAt updatedAt"
MEMBER_FIELDS = "id groupChatId userAccountId role createdAt updatedAt"
MESSAGE_FIELDS = "id groupChatId userAccountId text createdAt updatedAt"

CREATE = """mutation CreateGroupChat($input: CreateGroupChatInput!) {
  createGroupChat(input: $input) { groupChatId } }"""
RENAME = """mutation RenameGroupChat($input: RenameGroupChatInput!) {
  renameGroupChat(input: $input) { groupChatId } }"""
ADD_MEMBER = """mutation AddMember($input: AddMemberInput!) {
  addMember(input: $input) { groupChatId } }"""
REMOVE_MEMBER = """mutation RemoveMember($input: RemoveMemberInput!) {
  removeMember(input: $input) { groupChatId } }"""
POST_MESSAGE = """mutation PostMessage($input: PostMessageInput!) {
  postMessage(input: $input) { groupChatId messageId } }"""
EDIT_MESSAGE = """mutation EditMessage($input: EditMessageInput!) {
  editMessage(input: $input) { groupChatId messageId } }"""
DELETE_MESSAGE = """mutation DeleteMessage($input: DeleteMessageInput!) {
  deleteMessage(input: $input) { groupChatId } }"""
DELETE = """mutation DeleteGroupChat($input: DeleteGroupChatInput!) {
  deleteGroupChat(input: $input) { groupChatId } }"""

GET_GROUP_CHAT = f"""query GetGroupChat($groupChatId: String!, $userAccountId: String!) {{
  getGroupChat(groupChatId: $groupChatId, userAccountId: $userAccountId) {{ {CHAT_FIELDS} }} }}"""
GET_GROUP_CHATS = f"""query GetGroupChats($userAccountId: String!) {{
  getGroupChats(userAccountId: $userAccountId) {{ {CHAT_FIELDS} }} }}"""
GET_MEMBER = f"""query GetMember($groupChatId: String!, $userAccountId: String!) {{
  getMember(groupChatId: $groupChatId, userAccountId: $userAccountId) {{ {MEMBER_FIELDS} }} }}"""
GET_MEMBERS = f"""query GetMembers($groupChatId: String!, $userAccountId: String!) {{
  getMembers(groupChatId: $groupChatId, userAccountId: $userAccountId) {{ {MEMBER_FIELDS} }} }}"""
GET_MESSAGE = f"""query GetMessage($messageId: String!, $userAccountId: String!) {{
  getMessage(messageId: $messageId, userAccountId: $userAccountId) {{ {MESSAGE_FIELDS} }} }}"""
GET_MESSAGES = f"""query GetMessages($groupChatId: String!, $userAccountId: String!) {{
  getMessages(groupChatId: $groupChatId, userAccountId: $userAccountId) {{ {MESSAGE_FIELDS} }} }}"""


@dataclass
class GraphQL:
    """GraphQL clients of a running `cqrs-es dev`'s two services."""

    stack: DevStack
    http: httpx2.Client

    @property
    def command_url(self) -> str:
        return f"{self.stack.command_url}/graphql"

    @property
    def query_url(self) -> str:
        return f"{self.stack.query_url}/graphql/"  # the trailing-slash form

    def request(self, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(url, json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def command(self, query: str, **variables: Any) -> dict[str, Any]:
        """Run a mutation that must succeed; return its `data`."""
        body = self.request(self.command_url, query, variables)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def query(self, query: str, **variables: Any) -> dict[str, Any]:
        """Run a query (it may fail); return the whole body."""
        return self.request(self.query_url, query, variables)

    def stop(self) -> int:
        """SIGINT to dev's process group, as Ctrl-C would; return the exit status."""
        return self.stack.stop()["dev"]


@pytest.fixture
def dev(harness: Harness) -> Iterator[GraphQL]:
    """`cqrs-es dev` on free ports with a fresh data directory, healthy; stopped afterwards."""
    stack = harness.dev()
    with httpx2.Client(timeout=30.0) as http:
        yield GraphQL(stack, http)


def ok(body: dict[str, Any]) -> bool:
    return "errors" not in body


def not_found(body: dict[str, Any]) -> bool:
    return body.get("data") is None and [e["extensions"]["code"] for e in body["errors"]] == ["404"]


def assert_times(item: dict[str, Any]) -> None:
    assert TIME.match(item["createdAt"]), item
    assert TIME.match(item["updatedAt"]), item
    assert item["createdAt"] <= item["updatedAt"], item  # same fixed-width format: sortable


def test_whole_group_chat_life_cycle_works_through_graphql_when_run_against_cqrs_es_dev(
    dev: GraphQL,
) -> None:
    # create, add a member (role in the upper case the family's clients send), post
    created = dev.command(CREATE, input={"name": "developers", "executorId": ALICE})
    chat = created["createGroupChat"]["groupChatId"]
    assert GROUP_CHAT_ID.match(chat)
    added = dev.command(
        ADD_MEMBER,
        input={
            "groupChatId": chat,
            "userAccountId": BOB_ULID,
            "role": "MEMBER",
            "executorId": ALICE,
        },
    )
    assert added == {"addMember": {"groupChatId": chat}}
    posted = dev.command(
        POST_MESSAGE, input={"groupChatId": chat, "content": "hello", "executorId": BOB}
    )["postMessage"]
    message = posted["messageId"]
    assert posted == {"groupChatId": chat, "messageId": message}
    assert BARE_ULID.match(message)

    # wait for the read model, then read everything
    eventually(lambda: dev.query(GET_GROUP_CHAT, groupChatId=chat, userAccountId=ALICE), ok, "chat")
    messages = eventually(
        lambda: dev.query(GET_MESSAGES, groupChatId=chat, userAccountId=BOB),
        lambda body: ok(body) and len(body["data"]["getMessages"]) == 1,
        "messages",
    )["data"]["getMessages"]

    group_chat = dev.query(GET_GROUP_CHAT, groupChatId=chat, userAccountId=BOB)["data"][
        "getGroupChat"
    ]
    assert {k: group_chat[k] for k in ("id", "name", "ownerId")} == {
        "id": chat,
        "name": "developers",
        "ownerId": ALICE,
    }
    assert set(group_chat) == {"id", "name", "ownerId", "createdAt", "updatedAt"}
    assert USER_ACCOUNT_ID.match(group_chat["ownerId"])
    assert_times(group_chat)

    chats = dev.query(GET_GROUP_CHATS, userAccountId=ALICE)["data"]["getGroupChats"]
    assert chats == [group_chat]

    member = dev.query(GET_MEMBER, groupChatId=chat, userAccountId=BOB)["data"]["getMember"]
    assert BARE_ULID.match(member["id"])
    assert {k: member[k] for k in ("groupChatId", "userAccountId", "role")} == {
        "groupChatId": chat,
        "userAccountId": BOB,
        "role": "member",
    }
    assert_times(member)

    members = dev.query(GET_MEMBERS, groupChatId=chat, userAccountId=ALICE)["data"]["getMembers"]
    assert [(m["userAccountId"], m["role"]) for m in members] == [
        (ALICE, "administrator"),
        (BOB, "member"),
    ]
    assert members[1] == member
    assert BARE_ULID.match(members[0]["id"])
    assert members[0]["groupChatId"] == chat
    assert_times(members[0])

    expected_message = dev.query(GET_MESSAGE, messageId=message, userAccountId=ALICE)["data"][
        "getMessage"
    ]
    assert {k: expected_message[k] for k in ("id", "groupChatId", "userAccountId", "text")} == {
        "id": message,
        "groupChatId": chat,
        "userAccountId": BOB,
        "text": "hello",
    }
    assert_times(expected_message)
    assert messages == [expected_message]

    # rename, and see the new name
    renamed = dev.command(RENAME, input={"groupChatId": chat, "name": "ops", "executorId": ALICE})
    assert renamed == {"renameGroupChat": {"groupChatId": chat}}
    renamed_chat = eventually(
        lambda: dev.query(GET_GROUP_CHAT, groupChatId=chat, userAccountId=ALICE),
        lambda body: ok(body) and body["data"]["getGroupChat"]["name"] == "ops",
        "renamed chat",
    )["data"]["getGroupChat"]
    assert renamed_chat["createdAt"] == group_chat["createdAt"]
    assert renamed_chat["updatedAt"] >= group_chat["updatedAt"]

    # edit, and see the new text
    edited = dev.command(
        EDIT_MESSAGE,
        input={
            "groupChatId": chat,
            "messageId": message,
            "content": "hello, world",
            "executorId": BOB,
        },
    )
    assert edited == {"editMessage": {"groupChatId": chat, "messageId": message}}
    edited_message = eventually(
        lambda: dev.query(GET_MESSAGE, messageId=message, userAccountId=BOB),
        lambda body: ok(body) and body["data"]["getMessage"]["text"] == "hello, world",
        "edited message",
    )["data"]["getMessage"]
    assert edited_message["createdAt"] == expected_message["createdAt"]
    assert edited_message["updatedAt"] >= expected_message["updatedAt"]
    assert_times(edited_message)

    # delete the message: gone from both reads
    deleted = dev.command(
        DELETE_MESSAGE, input={"groupChatId": chat, "messageId": message, "executorId": BOB}
    )
    assert deleted == {"deleteMessage": {"groupChatId": chat}}
    eventually(
        lambda: dev.query(GET_MESSAGE, messageId=message, userAccountId=ALICE),
        not_found,
        "deleted message",
    )
    assert dev.query(GET_MESSAGES, groupChatId=chat, userAccountId=ALICE) == {
        "data": {"getMessages": []}
    }

    # remove the member: the chat disappears for them
    removed = dev.command(
        REMOVE_MEMBER, input={"groupChatId": chat, "userAccountId": BOB, "executorId": ALICE}
    )
    assert removed == {"removeMember": {"groupChatId": chat}}
    eventually(
        lambda: dev.query(GET_GROUP_CHAT, groupChatId=chat, userAccountId=BOB),
        not_found,
        "chat seen by the removed member",
    )
    assert dev.query(GET_GROUP_CHATS, userAccountId=BOB) == {"data": {"getGroupChats": []}}
    assert not_found(dev.query(GET_MEMBER, groupChatId=chat, userAccountId=BOB))
    members = dev.query(GET_MEMBERS, groupChatId=chat, userAccountId=ALICE)["data"]["getMembers"]
    assert [m["userAccountId"] for m in members] == [ALICE]

    # delete the chat: it disappears
    gone = dev.command(DELETE, input={"groupChatId": chat, "executorId": ALICE})
    assert gone == {"deleteGroupChat": {"groupChatId": chat}}
    eventually(
        lambda: dev.query(GET_GROUP_CHAT, groupChatId=chat, userAccountId=ALICE),
        not_found,
        "deleted chat",
    )
    assert dev.query(GET_GROUP_CHATS, userAccountId=ALICE) == {"data": {"getGroupChats": []}}
    assert dev.query(GET_MEMBERS, groupChatId=chat, userAccountId=ALICE) == {
        "data": {"getMembers": []}
    }

    # Ctrl-C stops all three processes cleanly
    assert dev.stop() == 0, dev.stack.process.tail()
