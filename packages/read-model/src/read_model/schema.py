"""The read model's SQL schema (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Tables:

- `group_chats`, `members`, `messages`: the views the query service reads. Removals are soft
  (`disabled = true`); `last_seq_nr` is the sequence number of the last event that changed the row.
- `projection_positions`: per aggregate, the sequence number of the last event applied. The
  projector advances it in the same transaction as the event's own statements.
- `projection_checkpoints`: named global positions (e.g. the SQL poller's position in the journal).
- `parked_events`: events that can never be applied (undecodable), kept for an operator.

Identifiers are stored in wire form: `GroupChat-<ULID>`, `UserAccount-<ULID>`, bare ULIDs for
members and messages.

Timestamps (`UtcTimestamp`) are timezone-aware UTC datetimes truncated to milliseconds. PostgreSQL
stores them as `timestamp(3) with time zone`; SQLite as a BIGINT of milliseconds since the Unix
epoch, which is exact, compact and sorts correctly. Python code always sees aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

ID_LENGTH: Final = 64
"""Room for every id in wire form (the longest, `UserAccount-<ULID>`, has 38 characters)."""


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime (sub-millisecond part dropped)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a read-model timestamp must be timezone-aware, got {value!r}")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(value: int) -> datetime:
    """The aware UTC datetime `value` milliseconds after the Unix epoch."""
    return _EPOCH + timedelta(milliseconds=value)


def truncate_to_ms(value: datetime) -> datetime:
    """`value` in UTC with the sub-millisecond part dropped (the precision the read model keeps)."""
    return from_epoch_ms(to_epoch_ms(value))


class UtcTimestamp(TypeDecorator[datetime]):
    """An aware UTC datetime with millisecond precision; naive datetimes are rejected.

    PostgreSQL: `timestamp(3) with time zone`. SQLite: BIGINT epoch milliseconds. Values are
    truncated (not rounded) to milliseconds before they are written, on both databases, so that
    the same event produces the same stored value everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True, precision=3))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a read-model timestamp must be a datetime, got {value!r}")
        millis = to_epoch_ms(value)
        return millis if dialect.name == "sqlite" else from_epoch_ms(millis)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return from_epoch_ms(int(value))


# Deterministic constraint names, so that migrations and autogenerate comparisons agree.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""All read-model tables. The Alembic head must always match it (a test checks)."""


group_chats = Table(
    "group_chats",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner_id", String(ID_LENGTH), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("last_seq_nr", BigInteger, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column(
        "group_chat_id",
        String(ID_LENGTH),
        ForeignKey("group_chats.id"),
        nullable=False,
    ),
    Column("user_account_id", String(ID_LENGTH), nullable=False),
    Column("role", String(32), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("last_seq_nr", BigInteger, nullable=False),
    UniqueConstraint("group_chat_id", "user_account_id"),
    # "Which chats is this user in?" (the group chat list, every visibility check).
    Index(None, "user_account_id", "group_chat_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column(
        "group_chat_id",
        String(ID_LENGTH),
        ForeignKey("group_chats.id"),
        nullable=False,
    ),
    Column("user_account_id", String(ID_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcTimestamp, nullable=False),
    Column("updated_at", UtcTimestamp, nullable=False),
    Column("last_seq_nr", BigInteger, nullable=False),
    # The message page: one chat's messages in (created_at, id) order, seeked by cursor.
    Index(None, "group_chat_id", "created_at", "id"),
)

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("aggregate_id", String(ID_LENGTH), primary_key=True),
    Column("seq_nr", BigInteger, nullable=False),
)

projection_checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

parked_events = Table(
    "parked_events",
    metadata,
    # One row per event: parking the same event twice (at-least-once input) is a no-op.
    Column("aggregate_id", String(ID_LENGTH), primary_key=True),
    Column("seq_nr", BigInteger, primary_key=True),
    Column("event_id", String(ID_LENGTH), nullable=True),
    Column("event_type", String(128), nullable=True),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=True),
    Column("parked_at", UtcTimestamp, nullable=False),
)

__all__ = [
    "ID_LENGTH",
    "NAMING_CONVENTION",
    "UtcTimestamp",
    "from_epoch_ms",
    "group_chats",
    "members",
    "messages",
    "metadata",
    "parked_events",
    "projection_checkpoints",
    "projection_positions",
    "to_epoch_ms",
    "truncate_to_ms",
]
