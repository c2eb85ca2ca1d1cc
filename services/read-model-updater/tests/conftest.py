"""Fixtures of the updater tests: read models and event stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from read_model import create_engine_for, migrate
from sqlalchemy import Engine
from telemetry.testing import reset_telemetry


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def read_model_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty (unmigrated) read-model database URL, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'read_model.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(read_model_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty read model."""
    migrate(read_model_url)
    created = create_engine_for(read_model_url)
    try:
        yield created
    finally:
        created.dispose()


def _second_database(postgres_url: str) -> Iterator[str]:
    """Another fresh database on the same server as `postgres_url`, dropped afterwards."""
    import psycopg

    parts = urlsplit(postgres_url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql-shared", marks=pytest.mark.postgres),
        pytest.param("postgresql-separate", marks=pytest.mark.postgres),
    ]
)
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(EVENT_STORE_URL, READ_MODEL_URL): SQLite files, one PostgreSQL database holding both, or
    two PostgreSQL databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}", f"sqlite:///{tmp_path / 'read_model.db'}"
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    if request.param == "postgresql-shared":
        yield postgres_url, postgres_url
        return
    yield from ((postgres_url, other) for other in _second_database(postgres_url))


@pytest.fixture(autouse=True)
def _no_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the machine's OTEL_* settings out; tests that trace configure it themselves."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    yield
    reset_telemetry()
