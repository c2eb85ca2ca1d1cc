"""`open_event_store` picks the backend from the URL."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from contract import new_event
from event_store import open_event_store
from event_store.memory import InMemoryEventStore
from event_store.sqlite import SqliteEventStore


def test_opens_an_in_memory_store_when_url_is_memory() -> None:
    store = open_event_store("memory://", snapshot_interval=7)

    assert isinstance(store, InMemoryEventStore)
    assert store.snapshot_interval == 7


def test_opens_a_relative_sqlite_file_and_creates_its_directories_when_path_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = open_event_store("sqlite:///var/data/events.db")
    store.append("a", 0, [new_event("a1")])
    store.close()

    assert isinstance(store, SqliteEventStore)
    assert (tmp_path / "var" / "data" / "events.db").is_file()


def test_opens_an_absolute_sqlite_file_when_url_has_four_slashes(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "events.db"

    store = open_event_store(f"sqlite:///{target}", snapshot_interval=5)
    store.append("a", 0, [new_event("a1")])
    store.close()

    assert store.snapshot_interval == 5
    assert str(target).startswith("/")
    assert target.is_file()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite://host/events.db", "sqlite:///:memory:", "sqlite:///d/"],
)
def test_raises_value_error_when_sqlite_url_names_no_file(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite"):
        open_event_store(url)


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_opens_postgres_when_url_is_a_libpq_url(postgres_url: str, scheme: str) -> None:
    from event_store.postgres import PostgresEventStore

    url = scheme + "://" + postgres_url.partition("://")[2]
    store = open_event_store(url)
    try:
        assert isinstance(store, PostgresEventStore)
        assert store.append("a", 0, [new_event("a1")]) == 1
    finally:
        store.close()


def test_delegates_to_the_dynamodb_backend_when_url_is_dynamodb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class FakeDynamoDBEventStore:
        @classmethod
        def from_url(cls, url: str, **kwargs: Any) -> str:
            calls.append((url, kwargs))
            return "the store"

    fake = types.ModuleType("event_store.dynamodb")
    fake.DynamoDBEventStore = FakeDynamoDBEventStore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "event_store.dynamodb", fake)
    url = "dynamodb://journal?snapshot_table=snapshot&endpoint_url=http://localhost:8000"

    assert open_event_store(url, snapshot_interval=9) == "the store"
    assert calls == [(url, {"snapshot_interval": 9})]


@pytest.mark.parametrize("url", ["mysql://db/x", "events.db", "", "redis://:secret@host/0"])
def test_raises_value_error_naming_the_formats_when_scheme_is_unknown(url: str) -> None:
    with pytest.raises(ValueError, match="expected one of") as caught:
        open_event_store(url)

    assert "secret" not in str(caught.value)


def test_raises_value_error_when_memory_url_has_a_path() -> None:
    with pytest.raises(ValueError, match="memory"):
        open_event_store("memory://somewhere")
