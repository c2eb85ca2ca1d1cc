"""Building commands from untrusted wire values: every bad value names its camelCase field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chat_domain import (
    AddMember,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    EditMessage,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    Role,
    Ulid,
    UlidGenerator,
    ValidationError,
)

CHAT = "GroupChat-01ARYZ6S41TSV4RRFFQ69G5FAV"
USER = "UserAccount-01ARYZ6S41TSV4RRFFQ69G5FAW"
EXECUTOR = "01arYZ6S41TSV4RRFFQ69G5FAX"  # unprefixed, partly lower-case
MESSAGE = "01ARYZ6S41TSV4RRFFQ69G5FAY"

VALID: dict[str, tuple[Callable[..., object], dict[str, Any]]] = {
    "create": (CreateGroupChat.parse, {"name": " Team ", "executor_id": EXECUTOR}),
    "rename": (
        RenameGroupChat.parse,
        {"group_chat_id": CHAT, "name": "New", "executor_id": EXECUTOR},
    ),
    "add": (
        AddMember.parse,
        {"group_chat_id": CHAT, "user_account_id": USER, "role": "ADMIN", "executor_id": EXECUTOR},
    ),
    "remove": (
        RemoveMember.parse,
        {"group_chat_id": CHAT, "user_account_id": USER, "executor_id": EXECUTOR},
    ),
    "post": (
        PostMessage.parse,
        {"group_chat_id": CHAT, "content": "hello", "executor_id": EXECUTOR},
    ),
    "edit": (
        EditMessage.parse,
        {"group_chat_id": CHAT, "message_id": MESSAGE, "content": "hi", "executor_id": EXECUTOR},
    ),
    "delete-message": (
        DeleteMessage.parse,
        {"group_chat_id": CHAT, "message_id": MESSAGE, "executor_id": EXECUTOR},
    ),
    "delete": (DeleteGroupChat.parse, {"group_chat_id": CHAT, "executor_id": EXECUTOR}),
}

WIRE_NAMES = {
    "name": "name",
    "executor_id": "executorId",
    "group_chat_id": "groupChatId",
    "user_account_id": "userAccountId",
    "role": "role",
    "content": "content",
    "message_id": "messageId",
}

BAD_VALUES: dict[str, list[object]] = {
    "name": ["", "   ", "x" * 101, None, 3],
    "executor_id": ["", "nope", "GroupChat-01ARYZ6S41TSV4RRFFQ69G5FAX", None, 7],
    "group_chat_id": ["", "GroupChat-xyz", "UserAccount-01ARYZ6S41TSV4RRFFQ69G5FAV", None, []],
    "user_account_id": ["", "bad", None, {}],
    "role": ["", "owner", None, 0],
    "content": ["", " \n ", "x" * 4001, None, 1],
    "message_id": ["", "GroupChat-01ARYZ6S41TSV4RRFFQ69G5FAY", None, 1],
}

CASES = [
    pytest.param(kind, field, bad, id=f"{kind}-{field}-{bad!r}"[:60])
    for kind, (_, kwargs) in VALID.items()
    for field in kwargs
    for bad in BAD_VALUES[field]
]


@pytest.mark.parametrize(("kind", "field", "bad"), CASES)
def test_parse_raises_validation_error_naming_the_wire_field_when_value_is_bad(
    kind: str, field: str, bad: object
) -> None:
    parse, kwargs = VALID[kind]
    with pytest.raises(ValidationError) as caught:
        parse(**{**kwargs, field: bad})
    assert caught.value.field == WIRE_NAMES[field]
    assert caught.value.status == 400


# What the valid wire values of VALID become once parsed: canonical ids and the role; text
# fields (names, contents) are the wire value trimmed.
PARSED: dict[str, object] = {
    "executor_id": "UserAccount-01ARYZ6S41TSV4RRFFQ69G5FAX",
    "group_chat_id": CHAT,
    "user_account_id": USER,
    "role": Role.ADMINISTRATOR,
    "message_id": MESSAGE,
}
COMMAND_TYPES = {
    "create": CreateGroupChat,
    "rename": RenameGroupChat,
    "add": AddMember,
    "remove": RemoveMember,
    "post": PostMessage,
    "edit": EditMessage,
    "delete-message": DeleteMessage,
    "delete": DeleteGroupChat,
}


@pytest.mark.parametrize("kind", list(VALID))
def test_parse_builds_the_command_when_every_value_is_valid(kind: str) -> None:
    parse, kwargs = VALID[kind]
    command = parse(**kwargs)
    assert type(command) is COMMAND_TYPES[kind]
    for field, wire in kwargs.items():
        value = getattr(command, field)
        expected = PARSED.get(field, wire.strip())
        assert (value if isinstance(value, Role) else str(value)) == expected, field


def test_create_trims_the_name_and_generates_ids_when_parsed() -> None:
    generate = UlidGenerator(clock=lambda: 1000, random_bytes=bytes)
    command = CreateGroupChat.parse(name=" Team ", executor_id=EXECUTOR, generator=generate)
    assert command.name.value == "Team"
    assert command.group_chat_id.ulid == Ulid.from_parts(1000, 0)
    assert command.member_id.ulid == Ulid.from_parts(1000, 1)


def test_add_member_reads_admin_as_administrator_when_parsed() -> None:
    _, kwargs = VALID["add"]
    command = AddMember.parse(**kwargs)
    assert command.role is Role.ADMINISTRATOR
    assert str(command.user_account_id) == USER


def test_post_message_generates_a_message_id_when_parsed() -> None:
    first = PostMessage.parse(group_chat_id=CHAT, content="a", executor_id=EXECUTOR)
    second = PostMessage.parse(group_chat_id=CHAT, content="a", executor_id=EXECUTOR)
    assert first.message_id != second.message_id


def test_parse_reports_the_first_bad_field_in_wire_order_when_several_are_bad() -> None:
    with pytest.raises(ValidationError) as caught:
        RenameGroupChat.parse(group_chat_id="bad", name="", executor_id="bad")
    assert caught.value.field == "groupChatId"
