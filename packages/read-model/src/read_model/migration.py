"""Create, upgrade and drop the read model's tables (Alembic, driven programmatically).

`migrate(url)` brings the database to the latest revision and is idempotent: running it twice, or
from two processes at once, is safe (PostgreSQL: one transaction under an advisory lock; SQLite:
one `BEGIN IMMEDIATE` transaction, which takes the database's write lock first).

Alembic records the revision in its own table, `read_model_alembic_version` (not the default
`alembic_version`), so that the read model can share a database with other Alembic-managed schemas.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, MetaData, Table, event, inspect, text
from sqlalchemy.engine.url import URL

from read_model.db import create_engine_for, unavailable_on_database_errors
from read_model.schema import metadata

VERSION_TABLE: Final = "read_model_alembic_version"
"""The table where Alembic records the read model's revision."""

ADVISORY_LOCK_KEY: Final = 0x5EAD_30DE1
"""PostgreSQL advisory lock that serializes concurrent migrations of the read model."""

# Alembic keeps the running migration in module-level state: one migration per process at a time.
_PROCESS_LOCK: Final = threading.Lock()

_SCRIPT_LOCATION: Final = str(Path(__file__).parent / "migrations")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def _migration_engine(url: str | URL) -> Engine:
    engine = create_engine_for(url)
    if engine.dialect.name == "sqlite":
        # pysqlite commits implicitly before DDL; take over transaction control so that the whole
        # migration is one transaction that holds the write lock from its first statement.
        @event.listens_for(engine, "connect")
        def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(url: str | URL, revision: str = "head") -> None:
    """Upgrade the read model at `url` to `revision` (default: the latest). Idempotent.

    Raises `ReadModelUnavailableError` when the database cannot be reached.
    """
    from alembic import command

    engine = _migration_engine(url)
    try:
        with _PROCESS_LOCK, unavailable_on_database_errors(), engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The revision the read model at `url` is at, or None when it has never been migrated."""
    from alembic.migration import MigrationContext

    engine = create_engine_for(url)
    try:
        with unavailable_on_database_errors(), engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The latest revision of the read model's migrations."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(_SCRIPT_LOCATION)
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise RuntimeError("the read model has no migrations")
    return head


def reset(url: str | URL) -> None:
    """Drop every read-model table and the revision table (for a rebuild from the journal).

    Tables of other schemas sharing the database are left alone. Run `migrate(url)` afterwards to
    recreate the tables empty.
    """
    engine = _migration_engine(url)
    try:
        with unavailable_on_database_errors(), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            metadata.drop_all(connection, checkfirst=True)
            if inspect(connection).has_table(VERSION_TABLE):
                Table(VERSION_TABLE, MetaData()).drop(connection)
    finally:
        engine.dispose()
