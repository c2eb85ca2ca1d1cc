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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from chat_domain.ulid import InvalidUlidError, Ulid
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    Select,
    exists,
    false,
    literal,
    select,
    tuple_,
)
from sqlalchemy.sql.expression import Exists

from read_model.db import unavailable_on_database_errors
from read_model.schema import from_epoch_ms, group_chats, members, messages, to_epoch_ms

Bind = Engine | Connection
"""What the query functions read from."""


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


@contextmanager
def _connection(bind: Bind) -> Iterator[Connection]:
    with unavailable_on_database_errors():
        if isinstance(bind, Connection):
            yield bind
        else:
            with bind.connect() as connection:
                yield connection


def _is_current_member(group_chat_id: object, user_account_id: str) -> Exists:
    return exists().where(
        members.c.group_chat_id == group_chat_id,
        members.c.user_account_id == user_account_id,
        members.c.disabled == false(),
    )


def _visible_chat(group_chat_id: str, user_account_id: str) -> Select[tuple[int]]:
    return select(1).where(
        group_chats.c.id == group_chat_id,
        group_chats.c.disabled == false(),
        _is_current_member(group_chats.c.id, user_account_id),
    )


def _group_chat(m: RowMapping) -> GroupChatView:
    return GroupChatView(
        id=m["id"],
        name=m["name"],
        owner_id=m["owner_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _member(m: RowMapping) -> MemberView:
    return MemberView(
        id=m["id"],
        group_chat_id=m["group_chat_id"],
        user_account_id=m["user_account_id"],
        role=m["role"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _message(m: RowMapping) -> MessageView:
    return MessageView(
        id=m["id"],
        group_chat_id=m["group_chat_id"],
        user_account_id=m["user_account_id"],
        text=m["text"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
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


def get_group_chats(bind: Bind, user_account_id: str) -> list[GroupChatView]:
    """The group chats `user_account_id` currently belongs to, newest first."""
    query = (
        select(*_GROUP_CHAT_COLUMNS)
        .where(
            group_chats.c.disabled == false(),
            _is_current_member(group_chats.c.id, user_account_id),
        )
        .order_by(group_chats.c.created_at.desc(), group_chats.c.id.desc())
    )
    with _connection(bind) as connection:
        return [_group_chat(row) for row in connection.execute(query).mappings()]


def get_group_chat(bind: Bind, group_chat_id: str, user_account_id: str) -> GroupChatView | None:
    """The group chat, or None when it does not exist or the caller may not see it."""
    query = select(*_GROUP_CHAT_COLUMNS).where(
        group_chats.c.id == group_chat_id,
        group_chats.c.disabled == false(),
        _is_current_member(group_chats.c.id, user_account_id),
    )
    with _connection(bind) as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else _group_chat(row)


def get_members(bind: Bind, group_chat_id: str, user_account_id: str) -> list[MemberView] | None:
    """The chat's current members, oldest first; None when the caller may not see the chat.

    (None, not an empty list: a visible chat always has at least one member, the caller.)
    """
    query = (
        select(*_MEMBER_COLUMNS)
        .where(
            members.c.group_chat_id == group_chat_id,
            members.c.disabled == false(),
            _visible_chat(group_chat_id, user_account_id).exists(),
        )
        .order_by(members.c.created_at, members.c.id)
    )
    with _connection(bind) as connection:
        rows = connection.execute(query).mappings().all()
    return [_member(row) for row in rows] if rows else None


def get_member(
    bind: Bind, group_chat_id: str, member_user_account_id: str, user_account_id: str
) -> MemberView | None:
    """`member_user_account_id`'s current membership of the chat, or None (unknown, removed, or
    the caller may not see the chat)."""
    query = select(*_MEMBER_COLUMNS).where(
        members.c.group_chat_id == group_chat_id,
        members.c.user_account_id == member_user_account_id,
        members.c.disabled == false(),
        _visible_chat(group_chat_id, user_account_id).exists(),
    )
    with _connection(bind) as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else _member(row)


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
    conditions = [messages.c.group_chat_id == group_chat_id, messages.c.disabled == false()]
    if before is not None:
        created_at, message_id = decode_cursor(before)
        conditions.append(
            tuple_(messages.c.created_at, messages.c.id)
            < tuple_(
                literal(created_at, messages.c.created_at.type),
                literal(message_id, messages.c.id.type),
            )
        )
    page_query = (
        select(*_MESSAGE_COLUMNS)
        .where(*conditions)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        # One more than asked for tells whether an older page exists.
        .limit(limit + 1)
    )
    with _connection(bind) as connection:
        if connection.execute(_visible_chat(group_chat_id, user_account_id)).first() is None:
            return None
        rows = connection.execute(page_query).mappings().all()
    newest_first = [_message(row) for row in rows[:limit]]
    next_before = None
    if len(rows) > limit:
        oldest = newest_first[-1]
        next_before = encode_cursor(oldest.created_at, oldest.id)
    return MessagePage(items=tuple(reversed(newest_first)), next_before=next_before)


def get_message(bind: Bind, message_id: str, user_account_id: str) -> MessageView | None:
    """The message, or None when it does not exist, is deleted, or the caller may not see its
    chat."""
    query = (
        select(*_MESSAGE_COLUMNS)
        .join(group_chats, group_chats.c.id == messages.c.group_chat_id)
        .where(
            messages.c.id == message_id,
            messages.c.disabled == false(),
            group_chats.c.disabled == false(),
            _is_current_member(messages.c.group_chat_id, user_account_id),
        )
    )
    with _connection(bind) as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else _message(row)


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
