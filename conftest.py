"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL to a brand-new database of this test's own, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    admin = _admin_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable at {admin}: {exc}")
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
