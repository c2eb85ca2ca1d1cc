"""Alembic environment of the read model.

Run through `read_model.migrate(url)`, which passes an open connection in
`config.attributes["connection"]`; there is no alembic.ini. Every migration runs in one
transaction on PostgreSQL (transactional DDL) under an advisory lock, so that two processes
migrating at the same time (e.g. two replicas starting together) run one after the other and the
second finds nothing to do.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from read_model.migration import ADVISORY_LOCK_KEY, VERSION_TABLE
from read_model.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the read-model migrations with read_model.migrate(url)")
    _run(connection)


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) mode is not supported; use read_model.migrate(url)")
run_migrations_online()
