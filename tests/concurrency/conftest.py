"""The concurrency suite runs the real processes through `cqrs_es.testing` (see its fixtures)."""

from __future__ import annotations

import pytest

from cqrs_es.testing import Backend
from cqrs_es.testing.fixtures import (  # noqa: F401 (fixtures and hooks, found by name)
    harness,
    postgres_backend,
    pytest_runtest_makereport,
    sqlite_backend,
)
from cqrs_es.testing.reliability import (  # noqa: F401 (a fixture and hooks, found by name)
    pytest_runtest_logreport,
    pytest_sessionfinish,
    reliability,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn: SQLite files, then one PostgreSQL database."""
    fixture: Backend = request.getfixturevalue(f"{request.param}_backend")
    return fixture
