"""The event store contract, run against PostgreSQL, plus PostgreSQL-specific behaviour."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import event_store.postgres
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


def _drop_every_connection(postgres_url: str) -> None:
    """What a server restart does to the pool's connections (waiting until they are gone)."""
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_recovers_when_the_server_drops_every_connection(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url, min_size=2, max_size=2) as store:
        store.append("a", 0, [new_event("a1")])
        _drop_every_connection(postgres_url)

        assert store.append("a", 1, [new_event("a2")]) == 2
        assert store.load("a").version == 2


def test_reads_recover_when_the_server_drops_every_connection(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url, min_size=3, max_size=3) as store:
        store.append("a", 0, [new_event("a1")], idempotency=idempotency("k"))
        _drop_every_connection(postgres_url)

        assert store.load("a").version == 1
        _drop_every_connection(postgres_url)
        assert [e.seq_nr for e in store.read_all()] == [1]
        _drop_every_connection(postgres_url)
        assert store.get_idempotency("k") is not None


def test_retries_a_read_but_not_an_append_when_a_connection_breaks_in_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the server went down between the idle check and the query: the check sees nothing.
    monkeypatch.setattr(event_store.postgres, "_closed_by_server", lambda conn: False)
    with PostgresEventStore(postgres_url, min_size=1, max_size=1) as store:
        store.append("a", 0, [new_event("a1")])
        _drop_every_connection(postgres_url)
        assert store.load("a").version == 1  # retried on a new connection

        _drop_every_connection(postgres_url)
        # The outcome of an append whose connection broke is unknown in general: not retried.
        with pytest.raises(EventStoreUnavailableError):
            store.append("a", 1, [new_event("a2")])
        assert store.append("a", 1, [new_event("a2")]) == 2


def test_appends_on_after_a_refused_append_on_the_same_connection(postgres_url: str) -> None:
    # One connection, so every append runs on its kept cursor, the refused one included.
    with PostgresEventStore(postgres_url, min_size=1, max_size=1) as store:
        store.append("a", 0, [new_event("a1")])
        with pytest.raises(EventStoreError, match="duplicate event id"):
            store.append("b", 0, [new_event("a1")])  # a server-side error on the cursor
        assert store.append("b", 0, [new_event("b1")]) == 1
        assert store.append("a", 1, [new_event("a2"), new_event("a3")]) == 3

        assert [(e.aggregate_id, e.seq_nr) for e in store.read_all()] == [
            ("a", 1),
            ("b", 1),
            ("a", 2),
            ("a", 3),
        ]


def test_loads_the_snapshot_and_only_the_later_events_in_one_statement(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url, snapshot_interval=2) as store:
        store.append("a", 0, [new_event("a1"), new_event("a2")], lambda: b"state@2")
        store.append("a", 2, [new_event("a3")], lambda: b"unused")
        store.append("b", 0, [new_event("b1")])

        loaded = store.load("a")
        unsnapshotted = store.load("a", use_snapshot=False)

    assert loaded.snapshot is not None
    assert (loaded.snapshot.seq_nr, loaded.snapshot.payload) == (2, b"state@2")
    assert [(e.seq_nr, e.position) for e in loaded.events] == [(3, 3)]
    assert loaded.version == 3
    assert unsnapshotted.snapshot is None
    assert [e.seq_nr for e in unsnapshotted.events] == [1, 2, 3]


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
    assert SCHEMA_VERSION == 3


def test_migrates_a_version_2_database_without_the_append_function_when_opened(
    postgres_url: str,
) -> None:
    with PostgresEventStore(postgres_url) as store:
        store.append("a", 0, [new_event("a1")])
    with psycopg.connect(postgres_url) as conn:  # a database written before the function
        conn.execute("DROP FUNCTION event_store_append")
        conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE version > 2")

    with PostgresEventStore(postgres_url) as migrated:
        assert migrated.append("a", 1, [new_event("a2")]) == 2
        assert migrated.load("a").version == 2
