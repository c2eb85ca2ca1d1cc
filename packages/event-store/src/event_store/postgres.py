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

Round trips
-----------
A command loads, then appends, and every round trip to the server is latency in both, so each
takes one. `load` is a single statement returning the snapshot row and the events after it.
`append` is a single call of the server-side function `event_store_append` (created by schema
migration 3): it takes the lock, checks the idempotency key and the version, inserts the
events, the snapshot and the idempotency record, and returns the outcome; the connection being
in autocommit mode, the call is its own transaction and the commit needs no extra round trip.
Inside the function, which is VOLATILE, each statement takes a fresh snapshot under READ
COMMITTED, so the reasoning above holds statement for statement. Connections are not checked
with a query before use either (see `PostgresEventStore._getconn`). PostgreSQL's own prepared
statements kick in after a few calls on a connection (psycopg's `prepare_threshold`), and each
pooled connection keeps one cursor for appends (`_StoreConnection`), so their parameters' adapters
are looked up once per connection rather than once per call.
"""

from __future__ import annotations

import functools
import json
import select
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
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

_T = TypeVar("_T")

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
    (
        # The whole append in one server-side call (see `append`): one round trip, and in
        # autocommit mode the call is its own transaction, so the commit rides along. VOLATILE
        # (the default) matters: under READ COMMITTED a volatile function takes a fresh snapshot
        # for each statement, so the statements after the lock see the previous append. Outcomes
        # are returned, not raised, so that a lost race does not log an ERROR on the server.
        f"""
        CREATE OR REPLACE FUNCTION event_store_append(
            p_aggregate_id     TEXT,
            p_expected_version BIGINT,
            p_event_ids        TEXT[],
            p_event_types      TEXT[],
            p_payloads         BYTEA[],
            p_metadata         JSONB[],
            p_occurred_at_ms   BIGINT[],
            p_snapshot         BYTEA,
            p_key              TEXT,
            p_fingerprint      TEXT,
            p_response         BYTEA,
            p_expires_at       BIGINT,
            p_now              DOUBLE PRECISION,
            OUT outcome        TEXT,
            OUT version        BIGINT
        ) LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            last_position BIGINT;
        BEGIN
            PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});
            -- Under the lock: the key check and its insert cannot interleave with another append.
            IF p_key IS NOT NULL AND EXISTS (
                SELECT 1 FROM idempotency_keys WHERE key = p_key AND expires_at > p_now
            ) THEN
                outcome := 'duplicate_key';
                RETURN;
            END IF;
            SELECT coalesce(max(seq_nr), 0) INTO version
                FROM events WHERE aggregate_id = p_aggregate_id;
            IF version <> p_expected_version THEN
                outcome := 'conflict';
                RETURN;
            END IF;
            SELECT coalesce(max(position), 0) INTO last_position FROM events;
            INSERT INTO events (position, aggregate_id, seq_nr, event_id, event_type, payload,
                                metadata, occurred_at_ms)
                SELECT last_position + e.n, p_aggregate_id, p_expected_version + e.n,
                       e.event_id, e.event_type, e.payload, e.metadata, e.occurred_at_ms
                FROM unnest(p_event_ids, p_event_types, p_payloads, p_metadata,
                            p_occurred_at_ms) WITH ORDINALITY
                     AS e(event_id, event_type, payload, metadata, occurred_at_ms, n)
                ORDER BY e.n;
            version := p_expected_version + cardinality(p_event_ids);
            IF p_snapshot IS NOT NULL THEN
                INSERT INTO snapshots (aggregate_id, seq_nr, payload)
                    VALUES (p_aggregate_id, version, p_snapshot)
                    ON CONFLICT (aggregate_id) DO UPDATE
                    SET seq_nr = excluded.seq_nr, payload = excluded.payload;
            END IF;
            IF p_key IS NOT NULL THEN
                -- Replaces an expired record under the same key (an unexpired one was refused).
                INSERT INTO idempotency_keys (key, fingerprint, response, expires_at)
                    VALUES (p_key, p_fingerprint, p_response, p_expires_at)
                    ON CONFLICT (key) DO UPDATE
                    SET fingerprint = excluded.fingerprint, response = excluded.response,
                        expires_at = excluded.expires_at;
            END IF;
            outcome := 'appended';
        END
        $$
        """,
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_EVENT_COLUMNS = (
    "position, aggregate_id, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms"
)

# Explicit types: the parameters may be None or empty, and the function's types must match.
# Binary parameters (%b): the client neither escapes text nor hex-encodes the payloads. Each
# event field goes as one scalar parameter per event, gathered by `ARRAY[…]` on the server: psycopg
# dumps a Python list by inspecting its elements on every call, which cost ~25 us of client CPU
# per append, more than everything else the append does. One statement per event count, up to
# `_INLINE_EVENTS`; larger appends (rare: a command appends a few events) pass the lists.
_APPEND_TEMPLATE = (
    "SELECT outcome, version FROM event_store_append(%b, %b::bigint, {}::text[], {}::text[],"
    " {}::bytea[], {}::jsonb[], {}::bigint[], %b::bytea, %b::text, %b::text, %b::bytea,"
    " %b::bigint, %b::float8)"
)
_INLINE_EVENTS = 8
_APPEND_WITH_LISTS = _APPEND_TEMPLATE.format(*["%b"] * 5)


@functools.cache
def _append_statement(event_count: int) -> str:
    """The append call with one parameter per event field (`event_count` <= `_INLINE_EVENTS`)."""
    array = "ARRAY[" + ", ".join(["%b"] * event_count) + "]"
    return _APPEND_TEMPLATE.format(*[array] * 5)


# The snapshot and the events after it in one statement (one round trip, one consistent view):
# the snapshot row, told apart by its NULL position, sorts first since every event after it has
# a greater seq_nr. (The sort is cheap here: it moves the blob's TOAST pointer, not the blob.)
# Results come in binary format (see `load`).
_LOAD = (
    "WITH snapshot AS (SELECT seq_nr, payload FROM snapshots WHERE aggregate_id = %(id)s)"
    " SELECT NULL::bigint, seq_nr, NULL, NULL, payload, NULL::jsonb, NULL::bigint FROM snapshot"
    " UNION ALL"
    " SELECT position, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms FROM events"
    " WHERE aggregate_id = %(id)s AND seq_nr > coalesce((SELECT seq_nr FROM snapshot), 0)"
    " ORDER BY 2"
)
_LOAD_WITHOUT_SNAPSHOT = (
    "SELECT position, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms FROM events"
    " WHERE aggregate_id = %(id)s ORDER BY seq_nr"
)


class _StoreConnection(psycopg.Connection[Any]):
    """A pooled connection that keeps one cursor for the store's appends.

    A new cursor looks up the adapter of every parameter again on its first execute (~12 us of
    client CPU for the append's 13 parameters); a kept one reuses what it found. Only appends use
    it: their result is one small row, so the cursor holds no big result between calls.
    """

    _append_cursor: psycopg.Cursor[Any] | None = None

    def append_cursor(self) -> psycopg.Cursor[Any]:
        """This connection's append cursor, created on first use."""
        cursor = self._append_cursor
        if cursor is None or cursor.closed:
            cursor = self._append_cursor = self.cursor()
        return cursor


class PostgresEventStore:
    """An `EventStore` in PostgreSQL, safe to share between threads (a pooled connection per call).

    The schema is created or migrated on construction (`ensure_schema`), idempotently and safely
    from several processes at once. Connection problems (server down, restarting, pool exhausted
    for `timeout` seconds, the append lock not granted within `lock_timeout`) raise
    `EventStoreUnavailableError`, which callers may retry or answer with 503. Connections that a
    server restart has closed are spotted before use (without a round trip) and replaced, so the
    store recovers by itself; a read whose connection breaks in use is run once more on another.

    An append is never repeated by the store: once the call has been sent, a broken connection
    leaves the outcome unknown (the commit may have happened before the answer was lost), so an
    `EventStoreUnavailableError` from `append` means "maybe"; callers that retry must load again
    and decide from the current state (or find their idempotency record).
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
        self._pool: ConnectionPool[_StoreConnection] = ConnectionPool(
            url,
            connection_class=_StoreConnection,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True, **connect_timeout},
            configure=self._configure,
            # No `check`: a query before each use would cost a round trip per call. `_getconn`
            # spots connections a server restart has closed without one.
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
    def _connection(self) -> Iterator[_StoreConnection]:
        try:
            conn = self._getconn()
            try:
                with conn:  # as the pool's own `connection()`: roll back on error
                    yield conn
            finally:
                self._pool.putconn(conn)  # a broken connection is discarded and replaced
        except PoolClosed as exc:
            raise EventStoreError("the event store is closed") from exc
        except psycopg.OperationalError as exc:
            # Server unreachable or restarting, pool timeout, lock timeout, admin shutdown,
            # serialization failure: all transient.
            raise EventStoreUnavailableError(f"PostgreSQL event store unavailable: {exc}") from exc

    def _getconn(self) -> _StoreConnection:
        """A pooled connection, skipping those the server has closed while they sat idle.

        Instead of a query before each use (a round trip per call, what
        `ConnectionPool.check_connection` does), look at the socket: an idle connection in
        autocommit mode is sent nothing unless the server is closing it (a restart's FATAL
        message, a crash's end of file). Stale ones are discarded until a live or new one comes;
        after `max_size + 1` in a row the next one is lent unchecked (a connection whose socket
        is readable for another reason would otherwise be refused forever).
        """
        for _ in range(self._pool.max_size + 1):
            conn = self._pool.getconn()
            if not _closed_by_server(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)
        return self._pool.getconn()

    def _read(self, query: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run `query`; again on another connection if the connection broke under the first.

        A read has no effect, so repeating it is always safe. This covers a connection that
        broke after `_getconn` looked at it (the server went down in between) or that looked
        idle but was not; a second failure is the caller's `EventStoreUnavailableError`.
        """
        with self._connection() as conn:
            try:
                return query(conn)
            except psycopg.OperationalError:
                if not conn.closed:  # a server-side error (lock timeout, …), not a lost link
                    raise
        with self._connection() as conn:
            return query(conn)

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
        # The metadata goes as JSON text (the server parses it as it would a jsonb parameter).
        fields = (
            [event.event_id for event in events],
            [event.event_type for event in events],
            [bytes(event.payload) for event in events],
            [json.dumps(dict(event.metadata)) if event.metadata else "{}" for event in events],
            [event.occurred_at_ms for event in events],
        )
        tail = (
            None if snapshot_payload is None else bytes(snapshot_payload),
            None if idempotency is None else idempotency.key,
            None if idempotency is None else idempotency.fingerprint,
            None if idempotency is None else bytes(idempotency.response),
            None if idempotency is None else idempotency.expires_at,
            time.time(),
        )
        if len(events) <= _INLINE_EVENTS:
            statement = _append_statement(len(events))
            params: tuple[Any, ...] = (
                aggregate_id,
                expected_version,
                *(value for field in fields for value in field),
                *tail,
            )
        else:
            statement, params = _APPEND_WITH_LISTS, (aggregate_id, expected_version, *fields, *tail)
        # One round trip: the connection is in autocommit mode, so this statement is a
        # transaction of its own, committed before the answer comes back. Not retried on a
        # broken connection: the commit may have happened (see the class docstring).
        with self._connection() as conn:
            try:
                row = conn.append_cursor().execute(statement, params).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise _unique_violation(exc, aggregate_id, expected_version) from exc
        assert row is not None
        outcome, version = row
        if outcome == "duplicate_key":
            assert idempotency is not None
            raise DuplicateIdempotencyKeyError(idempotency.key)
        if outcome == "conflict":
            raise ConcurrencyError(aggregate_id, expected_version, int(version))
        if outcome != "appended":  # only a function this code does not know could say so
            raise EventStoreError(f"aggregate {aggregate_id!r}: unexpected outcome {outcome!r}")
        if idempotency is not None and self._purge.due():
            self._purge_quietly()
        return new_version

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record under `key`, or None; see `EventStore.get_idempotency`."""
        row = self._read(
            lambda conn: conn.execute(
                "SELECT fingerprint, response, expires_at FROM idempotency_keys WHERE key = %s",
                (key,),
            ).fetchone()
        )
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

        def query(conn: psycopg.Connection[Any]) -> list[Any]:
            statement = _LOAD if use_snapshot else _LOAD_WITHOUT_SNAPSHOT
            # Binary results: in text format a bytea comes hex-encoded, twice its size, and is
            # decoded by the client; that doubled the load time of a chat with a 250 KB snapshot.
            # The rows are the same Python values as in text format (int, str, bytes, and the
            # jsonb metadata parsed into a dict).
            return conn.execute(statement, {"id": aggregate_id}, binary=True).fetchall()

        rows = self._read(query)
        latest = None
        if rows and rows[0][0] is None:
            latest = Snapshot(aggregate_id, int(rows[0][1]), bytes(rows[0][4]))
            rows = rows[1:]
        events = [
            StoredEvent(
                aggregate_id=aggregate_id,
                seq_nr=seq_nr,
                event_id=event_id,
                event_type=event_type,
                payload=bytes(payload),
                occurred_at_ms=occurred_at_ms,
                metadata=metadata,
                position=position,
            )
            for position, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms in rows
        ]
        version = events[-1].seq_nr if events else 0 if latest is None else latest.seq_nr
        return LoadedStream(aggregate_id, latest, events, version)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Events with position > `after_position`, in position order, at most `limit`."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        rows = self._read(
            lambda conn: conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > %s"
                " ORDER BY position LIMIT %s",
                (after_position, limit),
            ).fetchall()
        )
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


def _closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection is known to be dead, found out without a round trip.

    Anything to read on the socket of an idle connection means the server is closing it: the
    FATAL message of a shutdown or a terminated backend, or the end of file of a crash.
    """
    if conn.closed:
        return True
    fd = conn.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows has no poll()


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
