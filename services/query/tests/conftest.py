"""Fixtures of the query-service tests: the app on a migrated SQLite or PostgreSQL read model."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the tests' support modules, imported by plain name
    sys.path.insert(0, _HERE)
pytest.register_assert_rewrite("query_parity_scenarios")

from fastapi.testclient import TestClient  # noqa: E402
from query_service.app import create_app  # noqa: E402
from query_service.settings import Settings  # noqa: E402
from read_model import migrate  # noqa: E402
from read_model.testing import ReadModelSeeder  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def read_model_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty read model, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'read_model.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(url)
    return url


@pytest.fixture
def settings(read_model_url: str) -> Settings:
    """Settings of the app under test (small pages make pagination cheap to test)."""
    return Settings(read_model_url=read_model_url, page_size_default=3, page_size_max=5)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of the app, started (lifespan) and stopped around the test."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def seed(client: TestClient) -> ReadModelSeeder:
    """Writes rows straight into the app's read model."""
    return ReadModelSeeder(client.app.state.engine)  # type: ignore[attr-defined]
