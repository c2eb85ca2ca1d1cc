"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto server (DynamoDB, DynamoDB Streams, …) shared by the session.

    While it runs, the environment holds dummy AWS credentials, region us-east-1 and
    AWS_ENDPOINT_URL pointing at moto, so no boto3 client made by a test can reach real AWS.
    The server's state is shared: each test uses tables of its own (unique names).
    """
    moto_server = pytest.importorskip("moto.server")
    dummy_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name, value in dummy_env.items():
            mp.setenv(name, value)
        _serialize_moto_dynamodb(mp)
        # Port 0: the OS picks a free port, and the server reports it (no race for a port).
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            yield endpoint
        finally:
            server.stop()


def _serialize_moto_dynamodb(mp: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB handle one request at a time, as atomic as DynamoDB itself.

    moto applies a TransactWriteItems item by item and rolls back by restoring a deep copy of
    the tables, with no lock: concurrent requests (the event store's racing-writers tests)
    interleave, lose committed writes or fail with "dictionary changed size during iteration".
    Only DynamoDB and DynamoDB Streams calls are serialized (a long-polling call of another
    service must not block the server).
    """
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    handle = DomainDispatcherApplication.__call__
    lock = threading.Lock()

    def serialized(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with lock:
                return handle(self, environ, start_response)
        return handle(self, environ, start_response)

    mp.setattr(DomainDispatcherApplication, "__call__", serialized)
