"""Fixtures of the command service tests: apps and clients on each event store backend."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
pytest.register_assert_rewrite("command_test_support")

from command_service.app import create_app  # noqa: E402
from command_service.settings import Settings  # noqa: E402
from command_test_support import store_url  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from telemetry.testing import reset_telemetry  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # create_app reads the environment (settings, OTEL_*): keep the machine's out of the tests.
    for name in list(os.environ):
        if name.startswith(("OTEL_", "AUTH_")) or name in (
            "EVENT_STORE_URL",
            "SNAPSHOT_INTERVAL",
            "COMMAND_MAX_RETRIES",
            "MAX_BODY_BYTES",
            "PORT",
            "BODY_TIMEOUT_SECONDS",
            "IDEMPOTENCY_TTL_SECONDS",
            "MAX_MEMBERS_PER_GROUP_CHAT",
            "MAX_MESSAGES_PER_GROUP_CHAT",
            "AGGREGATE_CACHE_SIZE",
        ):
            monkeypatch.delenv(name)
    root_level = logging.getLogger().level
    yield
    reset_telemetry()
    logging.getLogger().setLevel(root_level)


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The event store backends every test runs on."""
    param: str = request.param
    return param


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_backend(request: pytest.FixtureRequest) -> str:
    """Every SQL/in-process backend, PostgreSQL included (for the tests that matter most)."""
    param: str = request.param
    return param


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppFactory]:
    """`make_client(backend, **settings)`: a started TestClient of `create_app` on `backend`.

    The app opens the store from its URL (as in production) and closes it on shutdown.
    """
    clients: list[TestClient] = []

    def make(backend: str, **settings: Any) -> TestClient:
        url = store_url(backend, tmp_path, request)
        app = create_app(Settings(event_store_url=url, **settings))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory, backend: str) -> TestClient:
    """A client of the command service on the `backend` event store (default settings)."""
    return make_client(backend)
