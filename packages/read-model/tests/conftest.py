"""Fixtures of the read-model tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from read_model import create_engine_for, migrate
from read_model.testing import ReadModelSeeder
from sqlalchemy import Engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def read_model_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty (unmigrated) read-model database URL, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'read_model.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def migrated_engine(read_model_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty read model."""
    migrate(read_model_url)
    engine = create_engine_for(read_model_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def seed(migrated_engine: Engine) -> ReadModelSeeder:
    """Writes rows straight into the migrated read model."""
    return ReadModelSeeder(migrated_engine)
