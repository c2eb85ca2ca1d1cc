"""Engines: URL handling, SQLite connection settings, and "unavailable" errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from read_model import (
    ReadModelUnavailableError,
    create_engine_for,
    engine,
    migrate,
    normalize_url,
)
from read_model.queries import get_group_chats
from read_model.schema import group_chats, parked_events
from read_model.testing import ReadModelSeeder
from sqlalchemy import Engine, select


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@db:5432/rm",
        "postgres://u:p@db:5432/rm",
        "postgresql+psycopg://u:p@db:5432/rm",
    ],
)
def test_normalize_url_selects_psycopg_when_given_a_postgresql_url(url: str) -> None:
    normalized = normalize_url(url)

    assert normalized.drivername == "postgresql+psycopg"
    assert (normalized.host, normalized.port, normalized.database) == ("db", 5432, "rm")


@pytest.mark.parametrize(
    "url", ["mysql://u@db/rm", "postgresql+asyncpg://u@db/rm", "dynamodb://journal"]
)
def test_normalize_url_raises_value_error_when_the_database_is_unsupported(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        normalize_url(url)


def test_create_engine_for_configures_wal_and_foreign_keys_when_given_a_sqlite_file(
    tmp_path: Path,
) -> None:
    sqlite = engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'rm.db'}")
    try:
        with sqlite.connect() as connection:
            journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
            busy_timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        sqlite.dispose()

    assert (journal_mode, foreign_keys) == ("wal", 1)
    assert busy_timeout is not None
    assert busy_timeout > 0
    assert (tmp_path / "nested" / "dir" / "rm.db").exists()


def test_queries_raise_unavailable_when_postgresql_is_unreachable() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    unreachable = create_engine_for("postgresql://postgres@127.0.0.1:1/read_model")
    try:
        with pytest.raises(ReadModelUnavailableError):
            get_group_chats(unreachable, "UserAccount-01JDZZZZZZZZZZZZZZZZZZZZZZ")
    finally:
        unreachable.dispose()


def test_queries_raise_unavailable_when_the_database_was_never_migrated(
    read_model_url: str,
) -> None:
    unmigrated = create_engine_for(read_model_url)
    try:
        with pytest.raises(ReadModelUnavailableError):
            get_group_chats(unmigrated, "UserAccount-01JDZZZZZZZZZZZZZZZZZZZZZZ")
    finally:
        unmigrated.dispose()


def test_migrate_raises_unavailable_when_postgresql_is_unreachable() -> None:
    with pytest.raises(ReadModelUnavailableError):
        migrate("postgresql://postgres@127.0.0.1:1/read_model")


def test_timestamps_read_back_as_utc_milliseconds_when_written_with_any_offset(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    plus_two = timezone(timedelta(hours=2))
    written = datetime(2026, 11, 28, 12, 0, 0, 999999, tzinfo=plus_two)
    chat = seed.group_chat(seed.user(), at=written)

    with migrated_engine.connect() as connection:
        stored = connection.execute(
            select(group_chats.c.created_at).where(group_chats.c.id == chat)
        ).scalar_one()

    assert stored == datetime(2026, 11, 28, 10, 0, 0, 999000, tzinfo=UTC)
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


def test_timestamps_are_rejected_when_naive(migrated_engine: Engine) -> None:
    with pytest.raises(Exception, match="timezone-aware"), migrated_engine.begin() as connection:
        connection.execute(
            parked_events.insert().values(
                aggregate_id="GroupChat-01JDZZZZZZZZZZZZZZZZZZZZZZ",
                seq_nr=1,
                reason="test",
                parked_at=datetime(2026, 11, 28, 10, 0),
            )
        )
