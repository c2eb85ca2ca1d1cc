"""PostgreSQL event store (psycopg 3 with a connection pool).

The global position and the commit-order trap
---------------------------------------------
The read-model updater tails the journal with `read_all(after_position)`. That only works if a
reader that has seen position n can never later see a smaller position appear. A BIGSERIAL does
not guarantee it: transaction A takes position 5, transaction B takes 6, B commits first; a reader
now sees 6, moves its cursor past it, and when A commits, position 5 is behind the cursor and is
skipped forever. Rolled-back transactions also burn sequence values, leaving gaps a reader cannot
tell from a slow writer.

So every append takes one transaction-scoped advisory lock (`pg_advisory_xact_lock`) before it
assigns positions, and assigns `max(position) + 1, + 2, …` while holding it. Appends therefore
commit one after the other, in position order, and a rolled-back append leaves no hole: positions
are gap-free and appear in order. PostgreSQL makes a commit visible before it releases the
transaction's locks, so the next lock holder always sees the previous append. The price is that
appends (not reads) are serialized across the database; the critical section is a few short
statements, and the snapshot is serialized before the lock is taken.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolClosed

from event_store._types import (
    DEFAULT_SNAPSHOT_INTERVAL,
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStoreError,
    EventStoreUnavailableError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    PurgeSchedule,
    Snapshot,
    SnapshotFactory,
    StoredEvent,
    snapshot_due,
    validate_append,
    validate_idempotency,
)

# Advisory lock keys share one namespace per database with every other user of advisory locks
# (the read model uses 0x5EAD30DE1); these are this module's own.
APPEND_LOCK_KEY = 0x0E5E_0001
"""Serializes appends, so that positions commit in order (see the module docstring)."""
MIGRATION_LOCK_KEY = 0x0E5E_0002
"""Serializes schema migrations run by several processes at once."""

# The version table is named after the package (not `schema_version`) so that the event store can
# share a database with other schemas, e.g. the read model's.
VERSION_TABLE = "event_store_schema_version"

# Migrations, applied in order inside one transaction; append new steps, never edit old ones.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE events (
            position       BIGINT  PRIMARY KEY,
            aggregate_id   TEXT    NOT NULL,
            seq_nr         BIGINT  NOT NULL CHECK (seq_nr >= 1),
            event_id       TEXT    NOT NULL,
            event_type     TEXT    NOT NULL,
            payload        BYTEA   NOT NULL,
            metadata       JSONB   NOT NULL DEFAULT '{}',
            occurred_at_ms BIGINT  NOT NULL,
            CONSTRAINT events_stream_seq_nr_key UNIQUE (aggregate_id, seq_nr),
            CONSTRAINT events_event_id_key UNIQUE (event_id)
        )
        """,
        # Only the latest snapshot per aggregate is kept: load never needs an older one.
        """
        CREATE TABLE snapshots (
            aggregate_id TEXT   PRIMARY KEY,
            seq_nr       BIGINT NOT NULL,
            payload      BYTEA  NOT NULL
        )
        """,
    ),
    (
        # Idempotency records, written in the append's transaction (see `append`). `expires_at`
        # is Unix seconds; the index serves the purge of expired records.
        """
        CREATE TABLE idempotency_keys (
            key         TEXT   PRIMARY KEY,
            fingerprint TEXT   NOT NULL,
            response    BYTEA  NOT NULL,
            expires_at  BIGINT NOT NULL
        )
        """,
        "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_EVENT_COLUMNS = (
    "position, aggregate_id, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms"
)


class PostgresEventStore:
    """An `EventStore` in PostgreSQL, safe to share between threads (a pooled connection per call).

    The schema is created or migrated on construction (`ensure_schema`), idempotently and safely
    from several processes at once. Connection problems (server down, restarting, pool exhausted
    for `timeout` seconds, the append lock not granted within `lock_timeout`) raise
    `EventStoreUnavailableError`, which callers may retry or answer with 503. The pool checks each
    connection before lending it, so the store recovers by itself after a server restart.

    An `EventStoreUnavailableError` raised while committing leaves the outcome unknown (the commit
    may have happened); callers that retry must load again and decide from the current state.
    """

    def __init__(
        self,
        url: str,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        min_size: int = 1,
        max_size: int = 10,
        *,
        timeout: float = 5.0,
        lock_timeout: float = 10.0,
    ) -> None:
        if snapshot_interval < 0:
            raise ValueError("snapshot_interval must be >= 0 (0 disables snapshots)")
        self.snapshot_interval = snapshot_interval
        self._lock_timeout_ms = int(lock_timeout * 1000)
        self._purge = PurgeSchedule()
        try:
            given = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL URL: {exc}") from None
        # A server that drops packets would otherwise hang a pool worker for minutes.
        connect_timeout = {} if "connect_timeout" in given else {"connect_timeout": 5}
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True, **connect_timeout},
            configure=self._configure,
            # Run a trivial query before lending a connection: connections broken by a server
            # restart are discarded and replaced instead of failing the caller's first query.
            check=ConnectionPool.check_connection,
            name="event-store",
        )
        self._pool.open()
        try:
            self.ensure_schema()
        except BaseException:
            self._pool.close()
            raise

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        # The append lock must be taken in READ COMMITTED: each statement after the lock then sees
        # the previous holder's commit. Under REPEATABLE READ the snapshot would date from the
        # transaction's first statement and max(position) could be stale. Set explicitly in case
        # the server's default_transaction_isolation differs.
        conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        conn.execute(
            sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{self._lock_timeout_ms}ms"))
        )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolClosed as exc:
            raise EventStoreError("the event store is closed") from exc
        except psycopg.OperationalError as exc:
            # Server unreachable or restarting, pool timeout, lock timeout, admin shutdown,
            # serialization failure: all transient.
            raise EventStoreUnavailableError(f"PostgreSQL event store unavailable: {exc}") from exc

    # -- schema ------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create or migrate the tables to `SCHEMA_VERSION`; a no-op when already there.

        One transaction under an advisory lock: concurrent processes migrate one after the other,
        and DDL being transactional in PostgreSQL, a failed migration leaves nothing behind.
        """
        version_table = sql.Identifier(VERSION_TABLE)
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY)").format(
                    version_table
                )
            )
            row = conn.execute(
                sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(version_table)
            ).fetchone()
            current = int(row[0]) if row is not None else 0
            if current > SCHEMA_VERSION:
                raise EventStoreError(
                    f"event store schema version {current} is newer than this code "
                    f"({SCHEMA_VERSION}); upgrade the application"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(
                    sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(version_table),
                    (version + 1,),
                )

    # -- the port ----------------------------------------------------------------------------

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        """Append `events` if the aggregate is at `expected_version`; see `EventStore.append`.

        With `idempotency`, the record is inserted in the same transaction. An unexpired record
        under the same key makes the append fail with `DuplicateIdempotencyKeyError`. As with
        any append, an `EventStoreUnavailableError` raised while committing leaves the outcome
        unknown; a retry of the request with the same key then finds the record if the commit
        happened, and the caller answers with the response it holds.
        """
        validate_append(aggregate_id, expected_version, events)
        validate_idempotency(idempotency)
        new_version = expected_version + len(events)
        # Computed before the append lock: it is caller code and the lock blocks every writer.
        snapshot_payload = (
            snapshot()
            if snapshot is not None
            and snapshot_due(expected_version, new_version, self.snapshot_interval)
            else None
        )
        with self._connection() as conn, conn.transaction():
            # Separate statements on purpose: in READ COMMITTED each statement takes a fresh
            # snapshot, so only statements *after* the lock is granted see the previous append.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
            row = conn.execute(
                "SELECT (SELECT coalesce(max(seq_nr), 0) FROM events WHERE aggregate_id = %s),"
                " (SELECT coalesce(max(position), 0) FROM events)",
                (aggregate_id,),
            ).fetchone()
            assert row is not None
            current, last_position = int(row[0]), int(row[1])
            # Under the append lock, so the check and the insert below cannot interleave with
            # another append's (the primary key would still refuse a duplicate).
            if idempotency is not None:
                _check_idempotency_key(conn, idempotency.key)
            if current != expected_version:
                raise ConcurrencyError(aggregate_id, expected_version, current)
            rows = [
                (
                    last_position + offset,
                    aggregate_id,
                    expected_version + offset,
                    event.event_id,
                    event.event_type,
                    bytes(event.payload),
                    Jsonb(dict(event.metadata)),
                    event.occurred_at_ms,
                )
                for offset, event in enumerate(events, start=1)
            ]
            try:
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO events ({_EVENT_COLUMNS})"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise _unique_violation(exc, aggregate_id, expected_version) from exc
            if snapshot_payload is not None:
                conn.execute(
                    "INSERT INTO snapshots (aggregate_id, seq_nr, payload) VALUES (%s, %s, %s)"
                    " ON CONFLICT (aggregate_id) DO UPDATE"
                    " SET seq_nr = excluded.seq_nr, payload = excluded.payload",
                    (aggregate_id, new_version, bytes(snapshot_payload)),
                )
            if idempotency is not None:
                # Replaces an expired record under the same key (an unexpired one was refused).
                conn.execute(
                    "INSERT INTO idempotency_keys (key, fingerprint, response, expires_at)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO UPDATE"
                    " SET fingerprint = excluded.fingerprint, response = excluded.response,"
                    " expires_at = excluded.expires_at",
                    (
                        idempotency.key,
                        idempotency.fingerprint,
                        bytes(idempotency.response),
                        idempotency.expires_at,
                    ),
                )
        if idempotency is not None and self._purge.due():
            self._purge_quietly()
        return new_version

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record under `key`, or None; see `EventStore.get_idempotency`."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT fingerprint, response, expires_at FROM idempotency_keys WHERE key = %s",
                (key,),
            ).fetchone()
        if row is None:
            return None
        record = IdempotencyRecord(key, row[0], bytes(row[1]), int(row[2]))
        return None if record.expired() else record

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        """Delete up to `limit` expired idempotency records; return how many.

        Not under the append lock: an append replacing the same expired key concurrently
        either sees the row (and updates it) or not (and inserts it).
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._connection() as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE key IN"
                " (SELECT key FROM idempotency_keys WHERE expires_at <= %s LIMIT %s)",
                (int(time.time()), limit),
            )
            return int(cursor.rowcount)

    def _purge_quietly(self) -> None:
        # Housekeeping after a committed append: a failure here must not fail the append.
        with suppress(EventStoreError, psycopg.Error):
            self.purge_expired_idempotency()

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        """The latest snapshot (unless `use_snapshot` is false) and the events after it."""
        # No transaction needed: the journal is append-only, so the events after the snapshot we
        # read are the same whichever later snapshot is written meanwhile.
        with self._connection() as conn:
            row = (
                conn.execute(
                    "SELECT seq_nr, payload FROM snapshots WHERE aggregate_id = %s",
                    (aggregate_id,),
                ).fetchone()
                if use_snapshot
                else None
            )
            latest = None if row is None else Snapshot(aggregate_id, int(row[0]), bytes(row[1]))
            after = 0 if latest is None else latest.seq_nr
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events"
                " WHERE aggregate_id = %s AND seq_nr > %s ORDER BY seq_nr",
                (aggregate_id, after),
            ).fetchall()
        events = [_stored_event(r) for r in rows]
        version = events[-1].seq_nr if events else after
        return LoadedStream(aggregate_id, latest, events, version)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Events with position > `after_position`, in position order, at most `limit`."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > %s"
                " ORDER BY position LIMIT %s",
                (after_position, limit),
            ).fetchall()
        return [_stored_event(r) for r in rows]

    def close(self) -> None:
        """Close the pool and its connections."""
        self._pool.close()

    def __enter__(self) -> PostgresEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_idempotency_key(conn: psycopg.Connection[Any], key: str) -> None:
    row = conn.execute("SELECT expires_at FROM idempotency_keys WHERE key = %s", (key,)).fetchone()
    if row is not None and int(row[0]) > time.time():
        raise DuplicateIdempotencyKeyError(key)


def _unique_violation(
    exc: psycopg.errors.UniqueViolation, aggregate_id: str, expected_version: int
) -> EventStoreError:
    constraint = exc.diag.constraint_name
    if constraint == "events_stream_seq_nr_key":
        # Cannot happen while the append lock is held after the version check; should it ever,
        # it still means another writer got there first.
        return ConcurrencyError(aggregate_id, expected_version)
    if constraint == "events_event_id_key":
        return EventStoreError(f"aggregate {aggregate_id!r}: duplicate event id: {exc}")
    return EventStoreError(f"aggregate {aggregate_id!r}: append rejected: {exc}")


def _stored_event(row: Any) -> StoredEvent:
    position, aggregate_id, seq_nr, event_id, event_type, payload, metadata, occurred = row
    return StoredEvent(
        aggregate_id=aggregate_id,
        seq_nr=seq_nr,
        event_id=event_id,
        event_type=event_type,
        payload=bytes(payload),
        occurred_at_ms=occurred,
        metadata=metadata,
        position=position,
    )
