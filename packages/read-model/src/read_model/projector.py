"""The projector: domain events -> statements on the read-model tables, exactly once per event.

`project(connection, event)` is the only writer of `group_chats`, `members` and `messages`. It runs
inside the caller's transaction and, in that same transaction, advances the aggregate's position in
`projection_positions`, so that an event's effect and the record that it happened commit together:

- `seq_nr <= position`: a duplicate (at-least-once delivery); nothing is written -> `DUPLICATE`.
- `seq_nr == position + 1`: the statements run and the position becomes `seq_nr` -> `APPLIED`.
- `seq_nr > position + 1`: a predecessor is missing; nothing is written, the caller retries the
  event later -> `GAP`. Events are never applied out of order.

The position is claimed first, with a conditional write (`UPDATE … WHERE seq_nr = n - 1`, or an
insert that does nothing on conflict for `seq_nr = 1`). On PostgreSQL the row lock taken by that
write makes a concurrent projector of the same aggregate wait for this transaction and then see the
new position (a duplicate); on SQLite writers are serialized anyway. So two updaters fed the same
events (a redelivery racing a retry) still apply each event once.

Timestamps come from the events (`occurred_at`, and the member / message objects they carry),
never from this process's clock: replaying the journal rebuilds the same rows.

`park(connection, ...)` records an event that can never be applied (undecodable, or one whose
predecessor is parked) in `parked_events`, for an operator; `load_checkpoint` / `save_checkpoint`
keep named global positions (the SQL poller's place in the journal) in `projection_checkpoints`.
`forget(connection, aggregate_id)` removes one chat's rows, position and parked events, so that
replaying its events re-projects it from scratch.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, assert_never

from chat_domain import (
    Event,
    GroupChatCreated,
    GroupChatDeleted,
    GroupChatMemberAdded,
    GroupChatMemberRemoved,
    GroupChatMessageDeleted,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatRenamed,
    Member,
)
from sqlalchemy import Connection, Insert, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from read_model._driver import DriverStatement
from read_model.schema import (
    ID_LENGTH,
    group_chats,
    members,
    messages,
    parked_events,
    projection_checkpoints,
    projection_positions,
)

_EVENT_TYPE_LENGTH: Final = 128  # parked_events.event_type


class Outcome(StrEnum):
    """What happened to one event.

    `project` returns `APPLIED`, `DUPLICATE` or `GAP`; `PARKED` is reported by the updater for an
    event it recorded in `parked_events` instead of applying it.
    """

    APPLIED = "applied"
    """The event's statements ran and the aggregate's position is now its `seq_nr`."""
    DUPLICATE = "duplicate"
    """Already applied (`seq_nr <= position`): skipped."""
    GAP = "gap"
    """A predecessor is missing (`seq_nr > position + 1`): not applied; retry later."""
    PARKED = "parked"
    """Can never be applied: recorded in `parked_events` (the aggregate stops there)."""

    @property
    def needs_retry(self) -> bool:
        """Whether the event must be delivered again (only a `GAP` is neither done nor parked)."""
        return self is Outcome.GAP


class ProjectionError(Exception):
    """The read model lacks a row that an event refers to, e.g. an edit of an unknown message.

    Positions make this impossible for a read model built only by this projector; it means the
    tables were changed by hand or restored inconsistently. The event cannot be applied: the
    updater parks it (rebuild the read model to recover).
    """


# -- statements --------------------------------------------------------------------------------
#
# Every statement the projector runs per event is built once, here, with bind parameters, and run
# on the driver's cursor (`DriverStatement`): building `insert(...).values(...)` per event cost more
# CPU than the database's work on it, and so did `Connection.execute` of a prepared statement.
# Each execution passes a value for every bind parameter. The where-clause parameters are named
# `w_<column>`: a bind parameter may not share its name with a column the statement sets.


def _set(table: Table, *names: str) -> dict[str, Any]:
    """`values()` of the named columns, each from a bind parameter of the column's name."""
    return {name: bindparam(name, type_=table.c[name].type) for name in names}


def _insert_all(table: Table) -> DriverStatement:
    return DriverStatement(insert(table).values(_set(table, *table.c.keys())), writes=True)


_POSITION: Final = DriverStatement(
    select(projection_positions.c.seq_nr).where(
        projection_positions.c.aggregate_id == bindparam("w_aggregate_id")
    ),
    writes=False,
)
_ADVANCE_POSITION: Final = DriverStatement(
    update(projection_positions)
    .where(
        projection_positions.c.aggregate_id == bindparam("w_aggregate_id"),
        projection_positions.c.seq_nr == bindparam("w_previous"),
    )
    .values(_set(projection_positions, "seq_nr")),
    writes=True,
)
_FIRST_POSITION: Final = DriverStatement(
    # The claim of `seq_nr = 1`: an insert that does nothing on conflict. RETURNING, not
    # rowcount: drivers need not report rowcount for an INSERT.
    lambda dialect: (
        _insert_for(dialect, projection_positions)
        .values(_set(projection_positions, "aggregate_id", "seq_nr"))
        .on_conflict_do_nothing(index_elements=["aggregate_id"])
        .returning(projection_positions.c.seq_nr)
    ),
    writes=True,
)
_INSERT_GROUP_CHAT: Final = _insert_all(group_chats)
_INSERT_MEMBER: Final = _insert_all(members)
_INSERT_MESSAGE: Final = _insert_all(messages)

_WHERE_GROUP_CHAT: Final = update(group_chats).where(group_chats.c.id == bindparam("w_id"))
_RENAME_GROUP_CHAT: Final = DriverStatement(
    _WHERE_GROUP_CHAT.values(_set(group_chats, "name", "updated_at", "last_seq_nr")), writes=True
)
_DISABLE_GROUP_CHAT: Final = DriverStatement(
    _WHERE_GROUP_CHAT.values(_set(group_chats, "disabled", "updated_at", "last_seq_nr")),
    writes=True,
)
_WHERE_MEMBER: Final = update(members).where(
    members.c.group_chat_id == bindparam("w_group_chat_id"),
    members.c.user_account_id == bindparam("w_user_account_id"),
)
_REVIVE_MEMBER: Final = DriverStatement(
    _WHERE_MEMBER.values(_set(members, *members.c.keys())), writes=True
)
_DISABLE_MEMBER: Final = DriverStatement(
    _WHERE_MEMBER.values(_set(members, "disabled", "updated_at", "last_seq_nr")), writes=True
)
_WHERE_MESSAGE: Final = update(messages).where(
    messages.c.id == bindparam("w_id"), messages.c.group_chat_id == bindparam("w_group_chat_id")
)
_EDIT_MESSAGE: Final = DriverStatement(
    _WHERE_MESSAGE.values(_set(messages, "text", "updated_at", "last_seq_nr")), writes=True
)
_DISABLE_MESSAGE: Final = DriverStatement(
    _WHERE_MESSAGE.values(_set(messages, "disabled", "updated_at", "last_seq_nr")), writes=True
)


def _insert_for(dialect: Dialect, table: Table) -> Any:
    """An INSERT that supports `on_conflict_do_nothing` on this dialect."""
    match dialect.name:
        case "postgresql":
            return postgresql.insert(table)
        case "sqlite":
            return sqlite.insert(table)
        case other:
            raise NotImplementedError(f"the read model does not support {other!r}")


# -- positions ---------------------------------------------------------------------------------


def position(connection: Connection, aggregate_id: str) -> int:
    """The `seq_nr` of the last event applied to `aggregate_id` (0 when none was)."""
    row = _POSITION.first(connection, {"w_aggregate_id": aggregate_id})
    return 0 if row is None else int(row[0])


def _claim(connection: Connection, aggregate_id: str, seq_nr: int) -> Outcome:
    """Advance the position from `seq_nr - 1` to `seq_nr` if it is there; else say why not."""
    if seq_nr < 1:
        raise ValueError(f"{aggregate_id}: seq_nr must be >= 1, got {seq_nr}")
    if seq_nr == 1:
        claimed = (
            _FIRST_POSITION.first(connection, {"aggregate_id": aggregate_id, "seq_nr": 1})
            is not None
        )
    else:
        claimed = (
            _ADVANCE_POSITION.rowcount(
                connection,
                {"w_aggregate_id": aggregate_id, "w_previous": seq_nr - 1, "seq_nr": seq_nr},
            )
            == 1
        )
    if claimed:
        return Outcome.APPLIED
    return Outcome.DUPLICATE if seq_nr <= position(connection, aggregate_id) else Outcome.GAP


# -- the projection ----------------------------------------------------------------------------


def project(connection: Connection, event: Event) -> Outcome:
    """Apply `event` to the read model exactly once, in the caller's transaction.

    Returns `APPLIED` (statements run, position advanced), `DUPLICATE` (already applied; nothing
    written) or `GAP` (a predecessor is missing; nothing written, retry later). Raises
    `ProjectionError` when the read model lacks a row the event refers to, and SQLAlchemy errors
    from the database; the caller must then roll the transaction back (the position advance is
    part of it).
    """
    aggregate_id = str(event.aggregate_id)
    outcome = _claim(connection, aggregate_id, event.seq_nr)
    if outcome is Outcome.APPLIED:
        _apply_effects(connection, event, aggregate_id)
    return outcome


def _member_row(group_chat_id: str, member: Member, seq_nr: int) -> dict[str, Any]:
    return {
        "id": str(member.id),
        "group_chat_id": group_chat_id,
        "user_account_id": str(member.user_account_id),
        "role": member.role.value,
        "disabled": False,
        "created_at": member.created_at,
        "updated_at": member.updated_at,
        "last_seq_nr": seq_nr,
    }


def _update_one(
    connection: Connection, statement: DriverStatement, values: dict[str, Any], what: str
) -> None:
    if statement.rowcount(connection, values) != 1:
        raise ProjectionError(f"the read model has no {what}")


def _apply_effects(connection: Connection, event: Event, chat_id: str) -> None:
    seq_nr = event.seq_nr
    at = event.occurred_at
    match event:
        case GroupChatCreated(name=name, member=creator):
            _INSERT_GROUP_CHAT.rowcount(
                connection,
                {
                    "id": chat_id,
                    "name": name.value,
                    "owner_id": str(event.executor_id),
                    "disabled": False,
                    "created_at": at,
                    "updated_at": at,
                    "last_seq_nr": seq_nr,
                },
            )
            _INSERT_MEMBER.rowcount(connection, _member_row(chat_id, creator, seq_nr))
        case GroupChatRenamed(name=name):
            _update_one(
                connection,
                _RENAME_GROUP_CHAT,
                {"w_id": chat_id, "name": name.value, "updated_at": at, "last_seq_nr": seq_nr},
                f"group chat {chat_id}",
            )
        case GroupChatMemberAdded(member=member):
            row = _member_row(chat_id, member, seq_nr)
            # A user removed earlier keeps its (disabled) row, and (group_chat_id,
            # user_account_id) is unique: the new membership takes that row over, with the new
            # member id, role and joining time.
            revived = _REVIVE_MEMBER.rowcount(
                connection,
                {
                    **row,
                    "w_group_chat_id": chat_id,
                    "w_user_account_id": row["user_account_id"],
                },
            )
            if revived == 0:
                _INSERT_MEMBER.rowcount(connection, row)
        case GroupChatMemberRemoved(user_account_id=user_account_id):
            _update_one(
                connection,
                _DISABLE_MEMBER,
                {
                    "w_group_chat_id": chat_id,
                    "w_user_account_id": str(user_account_id),
                    "disabled": True,
                    "updated_at": at,
                    "last_seq_nr": seq_nr,
                },
                f"member {user_account_id} in {chat_id}",
            )
        case GroupChatMessagePosted(message=message):
            _INSERT_MESSAGE.rowcount(
                connection,
                {
                    "id": str(message.id),
                    "group_chat_id": chat_id,
                    "user_account_id": str(message.sender_id),
                    "text": message.content.value,
                    "disabled": False,
                    "created_at": message.created_at,
                    "updated_at": message.updated_at,
                    "last_seq_nr": seq_nr,
                },
            )
        case GroupChatMessageEdited(message=message):
            _update_one(
                connection,
                _EDIT_MESSAGE,
                {
                    "w_id": str(message.id),
                    "w_group_chat_id": chat_id,
                    "text": message.content.value,
                    "updated_at": at,
                    "last_seq_nr": seq_nr,
                },
                f"message {message.id} in {chat_id}",
            )
        case GroupChatMessageDeleted(message_id=message_id):
            _update_one(
                connection,
                _DISABLE_MESSAGE,
                {
                    "w_id": str(message_id),
                    "w_group_chat_id": chat_id,
                    "disabled": True,
                    "updated_at": at,
                    "last_seq_nr": seq_nr,
                },
                f"message {message_id} in {chat_id}",
            )
        case GroupChatDeleted():
            _update_one(
                connection,
                _DISABLE_GROUP_CHAT,
                {"w_id": chat_id, "disabled": True, "updated_at": at, "last_seq_nr": seq_nr},
                f"group chat {chat_id}",
            )
        case _:
            assert_never(event)


# -- parking -----------------------------------------------------------------------------------


def _payload_text(payload: bytes | str | None) -> str | None:
    """The payload as storable text: UTF-8 as is, anything else as `base64:<data>`.

    PostgreSQL text cannot hold NUL or invalid UTF-8, and a parked payload must not fail to park.
    """
    if payload is None or isinstance(payload, str):
        return None if payload is None else payload.replace("\x00", "\\u0000")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return "base64:" + base64.b64encode(bytes(payload)).decode("ascii")
    return text


def park(
    connection: Connection,
    *,
    aggregate_id: str,
    seq_nr: int,
    event_id: str | None,
    event_type: str | None,
    payload: bytes | str | None,
    reason: str,
) -> bool:
    """Record an event that can never be applied, in the caller's transaction.

    The fields are the stored event's (not a decoded event's, which may not exist). The payload is
    kept as UTF-8 text, or as `base64:<data>` when it is not valid UTF-8. Parking the same
    `(aggregate_id, seq_nr)` again is a no-op (the first reason is kept). Returns whether a new row
    was written. The aggregate's position does not move: its later events cannot be applied
    either (see `parked_predecessor`).
    """
    statement: Insert = (
        _insert_for(connection.dialect, parked_events)
        .values(
            aggregate_id=aggregate_id[:ID_LENGTH],
            seq_nr=seq_nr,
            event_id=None if event_id is None else event_id[:ID_LENGTH],
            event_type=None if event_type is None else event_type[:_EVENT_TYPE_LENGTH],
            reason=reason,
            payload=_payload_text(payload),
            # An operator's timestamp (when it was parked), not part of any view.
            parked_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["aggregate_id", "seq_nr"])
        .returning(parked_events.c.seq_nr)
    )
    return connection.execute(statement).first() is not None


def parked_predecessor(connection: Connection, aggregate_id: str, seq_nr: int) -> int | None:
    """The `seq_nr` of a parked event between the aggregate's position and `seq_nr`, if any.

    Such an event blocks the aggregate for good: `seq_nr` can then never be applied.
    """
    current = select(projection_positions.c.seq_nr).where(
        projection_positions.c.aggregate_id == aggregate_id
    )
    value = connection.execute(
        select(func.min(parked_events.c.seq_nr)).where(
            parked_events.c.aggregate_id == aggregate_id,
            parked_events.c.seq_nr < seq_nr,
            parked_events.c.seq_nr > func.coalesce(current.scalar_subquery(), 0),
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


# -- forgetting --------------------------------------------------------------------------------


def forget(connection: Connection, aggregate_id: str) -> dict[str, int]:
    """Remove everything the read model holds of one group chat, in the caller's transaction.

    Deletes the chat's `projection_positions` row, its `members` and `messages`, its
    `group_chats` row and its `parked_events`: afterwards the read model is as if no event of
    `aggregate_id` had ever been applied, and replaying the chat's events from seq_nr 1 rebuilds
    its rows (`cqrs-es rebuild-read-model --aggregate`). Run it in one transaction so that it
    removes all of it or nothing; other chats and the checkpoints are not touched. Returns the
    number of rows deleted per table (all 0 for a chat the read model does not know).
    """
    deleted: dict[str, int] = {}
    # The position goes first: deleting it takes the row lock every projector of this chat
    # claims first (`_claim`). On PostgreSQL a projector that is mid-transaction makes this wait
    # until it commits, so the deletes below (each seeing the latest commits, READ COMMITTED)
    # also remove what it wrote; one that comes later waits for this transaction and then finds
    # no position, a gap, and writes nothing. Children go before their chat (foreign keys).
    for table, column in (
        (projection_positions, projection_positions.c.aggregate_id),
        (members, members.c.group_chat_id),
        (messages, messages.c.group_chat_id),
        (group_chats, group_chats.c.id),
        (parked_events, parked_events.c.aggregate_id),
    ):
        deleted[table.name] = connection.execute(
            delete(table).where(column == aggregate_id)
        ).rowcount
    return deleted


# -- checkpoints -------------------------------------------------------------------------------

_CHECKPOINT: Final = DriverStatement(
    select(projection_checkpoints.c.position).where(
        projection_checkpoints.c.name == bindparam("w_name")
    ),
    writes=False,
)
_ADVANCE_CHECKPOINT: Final = DriverStatement(
    update(projection_checkpoints)
    .where(
        projection_checkpoints.c.name == bindparam("w_name"),
        projection_checkpoints.c.position < bindparam("w_position"),
    )
    .values(_set(projection_checkpoints, "position")),
    writes=True,
)


def load_checkpoint(connection: Connection, name: str) -> int:
    """The global position saved under `name` (0 when none was)."""
    row = _CHECKPOINT.first(connection, {"w_name": name})
    return 0 if row is None else int(row[0])


def save_checkpoint(connection: Connection, name: str, position: int) -> None:
    """Move the checkpoint `name` forward to `position`, in the caller's transaction.

    Never moves it backwards: a slower updater finishing an older batch cannot undo progress.
    """
    moved = _ADVANCE_CHECKPOINT.rowcount(
        connection, {"w_name": name, "w_position": position, "position": position}
    )
    if moved == 0:
        connection.execute(
            _insert_for(connection.dialect, projection_checkpoints)
            .values(name=name, position=position)
            .on_conflict_do_nothing(index_elements=["name"])
        )


__all__ = [
    "Outcome",
    "ProjectionError",
    "forget",
    "load_checkpoint",
    "park",
    "parked_predecessor",
    "position",
    "project",
    "save_checkpoint",
]
