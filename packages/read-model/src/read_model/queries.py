"""The read side's queries: the single source for every query interface (REST, GraphQL, Lambda).

Every function takes an `Engine` (a connection is taken from its pool for the call) or an open
`Connection`, plus ids in wire form (`GroupChat-<ULID>`, `UserAccount-<ULID>`, bare ULIDs for
messages: `str(GroupChatId)` etc.), and returns frozen dataclasses.

Visibility: the caller (`user_account_id`) sees a group chat only while it is a current member of
it (its membership is not disabled) and the chat is not deleted; removed members and deleted
messages are invisible to everybody. A read of something the caller may not see looks exactly like
a read of something that does not exist (None), so that the API reveals nothing.

Database failures that are not the caller's fault raise `read_model.ReadModelUnavailableError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from chat_domain.ulid import InvalidUlidError, Ulid
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    bindparam,
    exists,
    false,
    select,
    tuple_,
)
from sqlalchemy.sql.expression import Exists

from read_model._driver import DriverStatement, reading
from read_model.db import unavailable_on_database_errors
from read_model.schema import from_epoch_ms, group_chats, members, messages, to_epoch_ms

Bind = Engine | Connection
"""What the query functions read from."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GroupChatView:
    """A group chat as its members see it."""

    id: str
    name: str
    owner_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberView:
    """One current membership of a user account in a group chat."""

    id: str
    group_chat_id: str
    user_account_id: str
    role: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message that has not been deleted. `user_account_id` is the sender."""

    id: str
    group_chat_id: str
    user_account_id: str
    text: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a chat's messages, oldest first.

    `next_before` is the cursor to pass as `before` for the page of older messages, or None when
    there are no older messages.
    """

    items: tuple[MessageView, ...]
    next_before: str | None


class InvalidCursorError(ValueError):
    """A `before` cursor is not one this module produced (the edge answers 400)."""


_CURSOR_SEPARATOR: Final = ":"


def encode_cursor(created_at: datetime, message_id: str) -> str:
    """The opaque cursor for "messages before this one": base64url of `<epoch ms>:<message id>`."""
    raw = f"{to_epoch_ms(created_at)}{_CURSOR_SEPARATOR}{message_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, message id) position of a cursor; raises `InvalidCursorError`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
        millis_text, separator, id_text = text.partition(_CURSOR_SEPARATOR)
        if not separator or not millis_text.isdigit() or len(millis_text) > 15:
            raise ValueError("malformed position")
        message_id = str(Ulid.parse(id_text))
        return from_epoch_ms(int(millis_text)), message_id
    except (ValueError, OverflowError, binascii.Error, UnicodeError, InvalidUlidError) as error:
        raise InvalidCursorError("is not a valid cursor (pass back a nextBefore value)") from error


def _read(bind: Bind, work: Callable[[Connection], _T]) -> _T:
    """`work` on a connection of `bind`, database failures translated (see the module docstring).

    An engine's connection is taken for reads only (`_driver.reading`: with PostgreSQL, no
    transaction, one round trip per statement); a caller's connection begins its SQLAlchemy
    transaction if none is open, as `Connection.execute` would.
    """
    with unavailable_on_database_errors():
        if isinstance(bind, Connection):
            if not bind.in_transaction():
                bind.begin()
            return work(bind)
        with reading(bind) as connection:
            return work(connection)


# The statements are built once, with bind parameters for the ids (building one with
# SQLAlchemy Core and its cache key cost several hundred us of CPU per call), and run on the
# DBAPI cursor (`DriverStatement`: SQLAlchemy compiles them once per dialect and converts the
# values both ways, as `Connection.execute` would). Bind names: `user_account_id` is always the
# caller.


def _is_current_member(group_chat_id: ColumnElement[str]) -> Exists:
    return exists().where(
        members.c.group_chat_id == group_chat_id,
        members.c.user_account_id == bindparam("user_account_id"),
        members.c.disabled == false(),
    )


def _visible_chat() -> Select[tuple[int]]:
    return select(1).where(
        group_chats.c.id == bindparam("group_chat_id"),
        group_chats.c.disabled == false(),
        _is_current_member(group_chats.c.id),
    )


_GROUP_CHAT_COLUMNS: Final = (
    group_chats.c.id,
    group_chats.c.name,
    group_chats.c.owner_id,
    group_chats.c.created_at,
    group_chats.c.updated_at,
)
_MEMBER_COLUMNS: Final = (
    members.c.id,
    members.c.group_chat_id,
    members.c.user_account_id,
    members.c.role,
    members.c.created_at,
    members.c.updated_at,
)
_MESSAGE_COLUMNS: Final = (
    messages.c.id,
    messages.c.group_chat_id,
    messages.c.user_account_id,
    messages.c.text,
    messages.c.created_at,
    messages.c.updated_at,
)
# The views' fields are in the order of these columns: a row is a view's arguments.

_GROUP_CHATS: Final = DriverStatement(
    select(*_GROUP_CHAT_COLUMNS)
    .where(group_chats.c.disabled == false(), _is_current_member(group_chats.c.id))
    .order_by(group_chats.c.created_at.desc(), group_chats.c.id.desc()),
    writes=False,
)
_GROUP_CHAT: Final = DriverStatement(
    select(*_GROUP_CHAT_COLUMNS).where(
        group_chats.c.id == bindparam("group_chat_id"),
        group_chats.c.disabled == false(),
        _is_current_member(group_chats.c.id),
    ),
    writes=False,
)
_MEMBERS: Final = DriverStatement(
    select(*_MEMBER_COLUMNS)
    .where(
        members.c.group_chat_id == bindparam("group_chat_id"),
        members.c.disabled == false(),
        _visible_chat().exists(),
    )
    .order_by(members.c.created_at, members.c.id),
    writes=False,
)
_MEMBER: Final = DriverStatement(
    select(*_MEMBER_COLUMNS).where(
        members.c.group_chat_id == bindparam("group_chat_id"),
        members.c.user_account_id == bindparam("member_user_account_id"),
        members.c.disabled == false(),
        _visible_chat().exists(),
    ),
    writes=False,
)
_VISIBLE_CHAT: Final = DriverStatement(_visible_chat(), writes=False)


def _message_page(*, seek: bool) -> DriverStatement:
    conditions = [
        messages.c.group_chat_id == bindparam("group_chat_id"),
        messages.c.disabled == false(),
    ]
    if seek:
        conditions.append(
            tuple_(messages.c.created_at, messages.c.id)
            < tuple_(
                bindparam("before_created_at", type_=messages.c.created_at.type),
                bindparam("before_id", type_=messages.c.id.type),
            )
        )
    return DriverStatement(
        select(*_MESSAGE_COLUMNS)
        .where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        # One more than asked for tells whether an older page exists.
        .limit(bindparam("limit", type_=Integer)),
        writes=False,
    )


_NEWEST_MESSAGES: Final = _message_page(seek=False)
_MESSAGES_BEFORE: Final = _message_page(seek=True)
_MESSAGE: Final = DriverStatement(
    select(*_MESSAGE_COLUMNS)
    .join(group_chats, group_chats.c.id == messages.c.group_chat_id)
    .where(
        messages.c.id == bindparam("message_id"),
        messages.c.disabled == false(),
        group_chats.c.disabled == false(),
        _is_current_member(messages.c.group_chat_id),
    ),
    writes=False,
)


def _rows(bind: Bind, statement: DriverStatement, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    return _read(bind, lambda connection: statement.rows(connection, values))


def get_group_chats(bind: Bind, user_account_id: str) -> list[GroupChatView]:
    """The group chats `user_account_id` currently belongs to, newest first."""
    rows = _rows(bind, _GROUP_CHATS, {"user_account_id": user_account_id})
    return [GroupChatView(*row) for row in rows]


def get_group_chat(bind: Bind, group_chat_id: str, user_account_id: str) -> GroupChatView | None:
    """The group chat, or None when it does not exist or the caller may not see it."""
    rows = _rows(
        bind, _GROUP_CHAT, {"group_chat_id": group_chat_id, "user_account_id": user_account_id}
    )
    return GroupChatView(*rows[0]) if rows else None


def get_members(bind: Bind, group_chat_id: str, user_account_id: str) -> list[MemberView] | None:
    """The chat's current members, oldest first; None when the caller may not see the chat.

    (None, not an empty list: a visible chat always has at least one member, the caller.)
    """
    rows = _rows(
        bind, _MEMBERS, {"group_chat_id": group_chat_id, "user_account_id": user_account_id}
    )
    return [MemberView(*row) for row in rows] if rows else None


def get_member(
    bind: Bind, group_chat_id: str, member_user_account_id: str, user_account_id: str
) -> MemberView | None:
    """`member_user_account_id`'s current membership of the chat, or None (unknown, removed, or
    the caller may not see the chat)."""
    rows = _rows(
        bind,
        _MEMBER,
        {
            "group_chat_id": group_chat_id,
            "member_user_account_id": member_user_account_id,
            "user_account_id": user_account_id,
        },
    )
    return MemberView(*rows[0]) if rows else None


def get_messages(
    bind: Bind,
    group_chat_id: str,
    user_account_id: str,
    *,
    limit: int = 50,
    before: str | None = None,
) -> MessagePage | None:
    """Up to `limit` messages older than the `before` cursor (absent: the newest), oldest first.

    Returns None when the caller may not see the chat. Raises `InvalidCursorError` for a cursor
    this module did not produce and `ValueError` for a `limit` below 1. Messages are ordered by
    (created_at, id); message ids are monotonic ULIDs, so ties within a millisecond keep posting
    order.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    values: dict[str, Any] = {
        "group_chat_id": group_chat_id,
        "user_account_id": user_account_id,
        "limit": limit + 1,
    }
    page = _NEWEST_MESSAGES
    if before is not None:
        values["before_created_at"], values["before_id"] = decode_cursor(before)
        page = _MESSAGES_BEFORE

    def read(connection: Connection) -> list[tuple[Any, ...]] | None:
        if not _VISIBLE_CHAT.rows(connection, values):
            return None
        return page.rows(connection, values)

    rows = _read(bind, read)
    if rows is None:
        return None
    newest_first = [MessageView(*row) for row in rows[:limit]]
    next_before = None
    if len(rows) > limit:
        oldest = newest_first[-1]
        next_before = encode_cursor(oldest.created_at, oldest.id)
    return MessagePage(items=tuple(reversed(newest_first)), next_before=next_before)


def get_message(bind: Bind, message_id: str, user_account_id: str) -> MessageView | None:
    """The message, or None when it does not exist, is deleted, or the caller may not see its
    chat."""
    rows = _rows(bind, _MESSAGE, {"message_id": message_id, "user_account_id": user_account_id})
    return MessageView(*rows[0]) if rows else None


__all__ = [
    "Bind",
    "GroupChatView",
    "InvalidCursorError",
    "MemberView",
    "MessagePage",
    "MessageView",
    "decode_cursor",
    "encode_cursor",
    "get_group_chat",
    "get_group_chats",
    "get_member",
    "get_members",
    "get_message",
    "get_messages",
]
