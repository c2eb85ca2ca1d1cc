"""Migrations: idempotent, concurrent-safe, reversible by reset, and in step with the schema."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from read_model import (
    VERSION_TABLE,
    create_engine_for,
    current_revision,
    head_revision,
    migrate,
    reset,
)
from read_model.schema import metadata
from sqlalchemy import inspect

READ_MODEL_TABLES = {
    "group_chats",
    "members",
    "messages",
    "projection_positions",
    "projection_checkpoints",
    "parked_events",
}


def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_migrate_creates_every_table_at_head_when_database_is_empty(read_model_url: str) -> None:
    assert current_revision(read_model_url) is None

    migrate(read_model_url)

    assert _tables(read_model_url) == READ_MODEL_TABLES | {VERSION_TABLE}
    assert current_revision(read_model_url) == head_revision()


def test_migrate_changes_nothing_when_run_twice(read_model_url: str) -> None:
    migrate(read_model_url)
    migrate(read_model_url)

    assert _tables(read_model_url) == READ_MODEL_TABLES | {VERSION_TABLE}
    assert current_revision(read_model_url) == head_revision()


@pytest.mark.slow
def test_migrate_succeeds_in_every_process_when_processes_migrate_concurrently(
    read_model_url: str,
) -> None:
    code = "import sys; from read_model import migrate; migrate(sys.argv[1])"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, read_model_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(process.wait(timeout=120), process.communicate()[0]) for process in processes]

    assert [status for status, _ in outcomes] == [0, 0, 0], outcomes
    assert current_revision(read_model_url) == head_revision()


def test_head_matches_schema_metadata_when_compared_by_autogenerate(read_model_url: str) -> None:
    migrate(read_model_url)
    engine = create_engine_for(read_model_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "version_table": VERSION_TABLE,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_reset_drops_read_model_tables_only_when_database_is_shared(read_model_url: str) -> None:
    migrate(read_model_url)
    engine = create_engine_for(read_model_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE journal (id INTEGER PRIMARY KEY)")
    finally:
        engine.dispose()

    reset(read_model_url)

    assert _tables(read_model_url) == {"journal"}
    assert current_revision(read_model_url) is None


def test_migrate_recreates_the_tables_when_run_after_reset(read_model_url: str) -> None:
    migrate(read_model_url)
    reset(read_model_url)
    reset(read_model_url)

    migrate(read_model_url)

    assert _tables(read_model_url) == READ_MODEL_TABLES | {VERSION_TABLE}
