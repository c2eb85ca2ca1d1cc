"""The event store contract, run against PostgreSQL, plus PostgreSQL-specific behaviour."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest
from contract import EventStoreContract, StoreFactory, closing_factory, idempotency, new_event
from event_store import EventStoreError, EventStoreUnavailableError
from event_store.postgres import SCHEMA_VERSION, VERSION_TABLE, PostgresEventStore

pytestmark = pytest.mark.postgres


class TestPostgresEventStore(EventStoreContract):
    # Enough single-event transactions from 8 threads, with a reader polling all the time, that
    # out-of-order commits would show up (they do when position assignment is not serialized).
    concurrent_events_per_writer = 60

    @pytest.fixture
    def store_factory(self, postgres_url: str) -> Iterator[StoreFactory]:
        yield from closing_factory(lambda interval: PostgresEventStore(postgres_url, interval))


def test_recovers_when_the_server_drops_every_connection(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url, min_size=2, max_size=2) as store:
        store.append("a", 0, [new_event("a1")])
        # What a server restart does to the pool's connections.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

        assert store.append("a", 1, [new_event("a2")]) == 2
        assert store.load("a").version == 2


def test_raises_unavailable_when_the_server_cannot_be_reached() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(EventStoreUnavailableError):
        PostgresEventStore(f"postgresql://postgres@127.0.0.1:{port}/none", timeout=0.5)


def test_records_the_schema_version_once_when_opened_twice(postgres_url: str) -> None:
    PostgresEventStore(postgres_url).close()
    PostgresEventStore(postgres_url).close()

    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall()
    assert versions == [(version,) for version in range(1, SCHEMA_VERSION + 1)]


def test_refuses_to_open_when_the_schema_is_newer_than_the_code(postgres_url: str) -> None:
    PostgresEventStore(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (%s)", (SCHEMA_VERSION + 1,))

    with pytest.raises(EventStoreError, match="newer"):
        PostgresEventStore(postgres_url)


def test_raises_event_store_error_when_used_after_close(postgres_url: str) -> None:
    store = PostgresEventStore(postgres_url)
    store.close()

    with pytest.raises(EventStoreError, match="closed"):
        store.load("a")


def test_migrates_a_version_1_database_and_keeps_its_events_when_opened(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url) as store:
        store.append("a", 0, [new_event("a1")])
    with psycopg.connect(postgres_url) as conn:  # a database written before idempotency
        conn.execute("DROP TABLE idempotency_keys")
        conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE version > 1")

    with PostgresEventStore(postgres_url) as migrated:
        migrated.append("a", 1, [new_event("a2")], idempotency=idempotency("k"))

        assert migrated.load("a").version == 2
        assert migrated.get_idempotency("k") is not None
    assert SCHEMA_VERSION == 2
