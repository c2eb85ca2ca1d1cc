"""SQLite event store: one file, WAL mode, safe for threads and for several processes.

SQLite has a single writer at a time; every append runs in a `BEGIN IMMEDIATE` transaction, which
takes the write lock up front (waiting up to `busy_timeout_ms`), or, when it is a single INSERT
(one event, no snapshot, no idempotency record), as that statement alone, which SQLite runs as a
transaction of its own, taking the same lock the same way. Because appends are serialized
by that lock, positions (the table's rowid) are assigned and committed in the same order, so a
reader tailing `read_all` can never see position n+1 before position n: the log is gap-free.

Appends from several threads at once are group-committed: those that queue while one is being
written are committed together in the next transaction, each in a savepoint of its own, so they
share one fsync (`synchronous=FULL`) instead of waiting for one each (`SqliteEventStore._write`).

Stores in several processes (or several stores on one file in one process) take their write
turns through an exclusive `flock` (POSIX) on a file beside the database,
`<database>-writelock`, held from the start of a transaction to its commit: a writer that finds
it taken sleeps in the kernel until it is released and starts at once, instead of polling in
SQLite's busy handler, whose sleeps grow to 100 ms (with two command-service processes on one
file that made p99 latency 60 ms instead of 15). SQLite's own locking still decides who writes:
a writer that does not take the file lock (the `sqlite3` shell, say) is waited for in the busy
handler as before. A store that has met no other writer lately (`CONTENTION_MEMORY_S`) skips the
file lock, with SQLite's busy timeout off: the first BUSY answer tells it that another writer is
there, and it takes turns from then on.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar, cast

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

# What the trigger of migration 3 says when an event would leave a gap in its aggregate's seq_nrs.
_GAP = "events.seq_nr must follow the last event of its aggregate"  # no quote: SQL text

# Migrations, applied in order; the database's `PRAGMA user_version` is the number applied.
# Append new steps, never edit old ones.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # `position` is the rowid: assigned max+1 inside the write lock, so gap-free.
        """
        CREATE TABLE events (
            position       INTEGER PRIMARY KEY,
            aggregate_id   TEXT    NOT NULL,
            seq_nr         INTEGER NOT NULL CHECK (seq_nr >= 1),
            event_id       TEXT    NOT NULL UNIQUE,
            event_type     TEXT    NOT NULL,
            payload        BLOB    NOT NULL,
            metadata       TEXT    NOT NULL DEFAULT '{}',
            occurred_at_ms INTEGER NOT NULL,
            UNIQUE (aggregate_id, seq_nr)
        )
        """,
        # Only the latest snapshot per aggregate is kept: load never needs an older one.
        """
        CREATE TABLE snapshots (
            aggregate_id TEXT    PRIMARY KEY,
            seq_nr       INTEGER NOT NULL,
            payload      BLOB    NOT NULL
        )
        """,
    ),
    (
        # Idempotency records, written in the append's transaction (see `append`). `expires_at`
        # is Unix seconds; the index serves the purge of expired records.
        """
        CREATE TABLE idempotency_keys (
            key         TEXT    PRIMARY KEY,
            fingerprint TEXT    NOT NULL,
            response    BLOB    NOT NULL,
            expires_at  INTEGER NOT NULL
        )
        """,
        "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
    ),
    (
        # The events table again, without the UNIQUE index on event_id: a third b-tree written by
        # every append (a third page in the WAL per commit, ~6 % of the append rate). The event
        # id is the domain's, unique by construction (ULIDs from a monotonic generator); the
        # store identifies an event by (aggregate_id, seq_nr) and by its position.
        """
        CREATE TABLE events_v3 (
            position       INTEGER PRIMARY KEY,
            aggregate_id   TEXT    NOT NULL,
            seq_nr         INTEGER NOT NULL CHECK (seq_nr >= 1),
            event_id       TEXT    NOT NULL,
            event_type     TEXT    NOT NULL,
            payload        BLOB    NOT NULL,
            metadata       TEXT    NOT NULL DEFAULT '{}',
            occurred_at_ms INTEGER NOT NULL,
            UNIQUE (aggregate_id, seq_nr)
        )
        """,
        """
        INSERT INTO events_v3 (position, aggregate_id, seq_nr, event_id, event_type, payload,
                               metadata, occurred_at_ms)
        SELECT position, aggregate_id, seq_nr, event_id, event_type, payload, metadata,
               occurred_at_ms
        FROM events ORDER BY position
        """,
        "DROP TABLE events",
        "ALTER TABLE events_v3 RENAME TO events",
        # An aggregate's events are numbered 1, 2, 3, … without gaps, whoever writes them: an
        # event whose predecessor is missing is refused (`_GAP`). With UNIQUE (aggregate_id,
        # seq_nr) this is the append's version check: inserting event v+1 succeeds only if the
        # aggregate is at version v exactly. Unlike a check in the INSERT itself (INSERT …
        # SELECT … WHERE (SELECT MAX(seq_nr) …) = v), reading the table being written does not
        # make SQLite stage the row in a temporary table: ~10 µs less per append.
        f"""
        CREATE TRIGGER events_seq_nr_follows BEFORE INSERT ON events
        WHEN NEW.seq_nr > 1 AND NOT EXISTS (
            SELECT 1 FROM events WHERE aggregate_id = NEW.aggregate_id AND seq_nr = NEW.seq_nr - 1
        )
        BEGIN SELECT RAISE(ABORT, '{_GAP}'); END
        """,
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_EVENT_COLUMNS = (
    "position, aggregate_id, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms"
)
# The snapshot row and the events after it, in one statement: one read transaction, so one
# consistent state. The snapshot row, told apart by its NULL position, sorts first: every event
# after it has a greater seq_nr. Each side of the UNION ALL comes out of an index already in
# seq_nr order (the snapshot by its primary key, at most one row; the events by their
# (aggregate_id, seq_nr) key), so SQLite merges the two and sorts nothing. Keep it that way (no
# CTE, nothing that defeats the indexes): a sort, or a materialized CTE, copies the snapshot blob
# (250 KB for a chat of 10,000 messages) through a temporary b-tree, which made loading such a chat
# ~7x slower. The scalar subquery reads only the snapshot's seq_nr, not its blob.
_LOAD = (
    "SELECT NULL, seq_nr, NULL, NULL, payload, NULL, NULL FROM snapshots WHERE aggregate_id = :id"
    " UNION ALL"
    " SELECT position, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms FROM events"
    " WHERE aggregate_id = :id"
    " AND seq_nr > coalesce((SELECT seq_nr FROM snapshots WHERE aggregate_id = :id), 0)"
    " ORDER BY 2"
)
_LOAD_WITHOUT_SNAPSHOT = (
    "SELECT position, seq_nr, event_id, event_type, payload, metadata, occurred_at_ms FROM events"
    " WHERE aggregate_id = :id ORDER BY seq_nr"
)
_INSERT_EVENT = (
    "INSERT INTO events (aggregate_id, seq_nr, event_id, event_type, payload, metadata,"
    " occurred_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_IDLE_CONNECTIONS = 8

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: writers of several processes meet in
    # SQLite's busy handler, as they did before the lock file
    _LOCK_EX = _LOCK_NB = _LOCK_UN = 0
    _flock: Callable[[int, int], None] | None = None
else:
    _LOCK_EX, _LOCK_NB, _LOCK_UN, _flock = fcntl.LOCK_EX, fcntl.LOCK_NB, fcntl.LOCK_UN, fcntl.flock
_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class _PendingWrite:
    """One write waiting for its turn (`SqliteEventStore._write`): the work, then its outcome."""

    __slots__ = ("done", "error", "one_statement", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], Any], one_statement: bool) -> None:
        self.work = work
        self.one_statement = one_statement
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


_RETRYABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class SqliteEventStore:
    """An `EventStore` in a SQLite file.

    Reads borrow a pooled connection for their duration, so any number of threads can read at
    once (in parallel thanks to WAL); writes take turns on one connection of their own. The
    schema is created or migrated on construction (`ensure_schema`), which is idempotent and safe
    when several processes start on the same file at once.

    `synchronous=FULL`: a commit that returned is on disk even after a power cut (WAL's NORMAL
    could lose the last commits), because an acknowledged command must never be lost.
    """

    SCHEMA_WAIT_S = 120.0
    """Seconds opening a store waits for another process's write, a long migration say (see
    `ensure_schema`), before it raises `EventStoreUnavailableError`."""

    CONTENTION_MEMORY_S = 10.0
    """Seconds a store keeps taking turns through the file lock after it last met another
    writer (see `_in_turn_with_other_writers`)."""

    CHECKPOINT_AFTER_COMMITS = 100
    """Commits after which a thread of the store copies the WAL into the database (a passive
    checkpoint, on a connection of its own), so that writers rarely do it themselves.

    A checkpoint copies the pages the WAL holds into the database file and syncs it: a few
    milliseconds, which the commit that crossed `WAL_AUTOCHECKPOINT_PAGES` would otherwise
    spend before it returns. 100 commits stay under that limit (two or three WAL pages each), so
    the WAL restarts at the next write after the thread's checkpoint; a writer still checkpoints
    itself at the limit when the thread falls behind (or never runs: another process, a fork)."""

    WAL_AUTOCHECKPOINT_PAGES = 500
    """WAL frames (pages) after which a commit copies the WAL into the database and the WAL
    starts over (SQLite's default is 1,000).

    A WAL file is created anew each time a database is opened, and it grows until its first
    reset: while it grows, every commit's `fdatasync` must also write the file's inode and
    block map to disk (ext4: two more synchronous writes, a third of a commit's time there).
    Half the WAL halves that stretch after every start (the first ~230 appends instead of
    ~450, `bench/event_store.py`: 1.87x to 1.93x the baseline's rate); once it is reset,
    appends cost the same with either size (measured after 800 warm-up appends)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        *,
        busy_timeout_ms: int = 5000,
    ) -> None:
        if snapshot_interval < 0:
            raise ValueError("snapshot_interval must be >= 0 (0 disables snapshots)")
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError("SqliteEventStore needs a file path (use InMemoryEventStore)")
        self.snapshot_interval = snapshot_interval
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer_lock_fd: int | None = None  # see the module docstring; opened on first write
        self._writer_lock_closer: Callable[[], object] = lambda: None
        self._writer: sqlite3.Connection | None = None  # see `_writer_connection`
        self._writer_waits = True  # the writer connection has the busy timeout (not 0)
        self._contended_until = 0.0  # `time.monotonic()` until which other writers are expected
        self._commits_since_checkpoint = 0  # see `_committed`
        self._checkpointer: _Checkpointer | None = None
        self._queue_lock = threading.Lock()
        self._queue: list[_PendingWrite] = []
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._purge = PurgeSchedule()
        self.ensure_schema()

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT ourselves.
        # check_same_thread=False: a pooled connection moves between threads, one at a time.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(self.WAL_AUTOCHECKPOINT_PAGES)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: switch once, then every connection just checks. The
        # switch needs an exclusive lock and SQLite answers SQLITE_BUSY at once, without calling
        # the busy handler, when processes open a new file together; so retry until the timeout.
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
                if mode != "wal":
                    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF in _RETRYABLE and time.monotonic() < deadline:
                    time.sleep(0.005)
                    continue
                raise
            if mode != "wal":
                raise EventStoreError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
            return

    def _borrow(self) -> sqlite3.Connection:
        """An idle pooled connection, or a new one; give it back with `_give_back`."""
        with self._lock:
            if self._closed:
                raise EventStoreError("the event store is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            return conn
        try:
            return self._connect()
        except sqlite3.OperationalError as exc:
            self._raise_if_busy(exc)
            raise

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # an error left a transaction open
            conn.rollback()
        with self._lock:
            keep = not self._closed and len(self._idle) < _IDLE_CONNECTIONS
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()

    def _raise_if_busy(self, exc: sqlite3.OperationalError) -> None:
        """Raise `EventStoreUnavailableError` (retryable) if `exc` says the database is busy."""
        if exc.sqlite_errorcode & 0xFF in _RETRYABLE:
            raise EventStoreUnavailableError(f"{self.path}: {exc}") from exc

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._borrow()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            self._raise_if_busy(exc)
            raise
        finally:
            self._give_back(conn)

    def _write(
        self, work: Callable[[sqlite3.Connection], _T], *, one_statement: bool = False
    ) -> _T:
        """Run `work` in a write transaction and commit it; its result, or what it raised.

        `one_statement`: `work` writes with a single statement (any other statement it runs
        only reads). Alone in its turn, it then runs outside BEGIN/COMMIT: SQLite makes the
        statement a transaction of its own, taking the write lock (waiting in the busy handler
        as BEGIN IMMEDIATE does) and committing with the same fsync, in one call instead of
        three. In a batch it runs in its savepoint like any other write.

        Group commit: a write that finds another one in progress queues, and the next thread to
        take the write turn commits every queued write in one transaction, each in a savepoint
        of its own (one that raises is rolled back alone, its caller gets the error). With
        `synchronous=FULL` the commit's fsync is most of an append's time, so concurrent appends
        share it instead of waiting for one each; a write alone is committed at once, as before.
        A write returns only once the transaction holding it is committed (or has failed: then
        none of it is written).
        """
        holding = self._write_lock.acquire(blocking=False)
        if holding and not self._queue:
            # No write in progress and none queued (the common case): this one is committed
            # alone, without the queue's bookkeeping.
            try:
                return self._commit_alone(work, one_statement)
            finally:
                self._write_lock.release()
        pending = _PendingWrite(work, one_statement)
        with self._queue_lock:
            self._queue.append(pending)
        # SQLite has one writer at a time. This process's writers queue on a lock rather than in
        # SQLite's busy handler, which polls with sleeps of up to 100 ms and is not fair: with 16
        # threads appending at once, that made p99 append latency over a second and let some
        # appends fail with "database is locked" after the busy timeout (bench/http.py). Writers
        # in other processes still wait in the busy handler.
        if not holding and not self._write_lock.acquire(timeout=self._busy_timeout_ms / 1000):
            with self._queue_lock:
                waiting = any(queued is pending for queued in self._queue)
                if waiting:
                    self._queue = [queued for queued in self._queue if queued is not pending]
            if waiting:
                raise EventStoreUnavailableError(
                    f"{self.path}: no write turn within {self._busy_timeout_ms} ms"
                )
            # Taken by the thread writing now: its outcome is known when that thread is done.
            self._write_lock.acquire()
        try:
            if not pending.done:  # not written by the previous turn: this thread writes the queue
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit_batch(batch)
        finally:
            self._write_lock.release()
        if pending.error is not None:
            raise pending.error
        return cast(_T, pending.result)

    def _commit_alone(self, work: Callable[[sqlite3.Connection], _T], one_statement: bool) -> _T:
        """`work` committed in a transaction of its own; its result, or what it raised.

        What `_commit_batch` does for a batch of one, without the batch: the caller
        holds the write turn and nothing is queued.
        """

        def transaction(conn: sqlite3.Connection) -> _T:
            conn.execute("BEGIN IMMEDIATE")
            result = work(conn)
            conn.execute("COMMIT")
            return result

        try:
            # One statement is a transaction of its own (autocommit).
            result = self._in_turn_with_other_writers(work if one_statement else transaction)
        except Exception as exc:
            translated = self._translated(exc)
            if translated is exc:
                raise
            raise translated from exc
        self._committed()
        return result

    def _commit_batch(self, batch: list[_PendingWrite]) -> None:
        """Write `batch` in one transaction, in turn with other processes; every write ends done.

        `BEGIN IMMEDIATE` … `COMMIT`, each write in a savepoint of its own, unless the batch is a
        lone one-statement write: that statement is then a transaction of its own (see `_write`).
        """

        def transaction(conn: sqlite3.Connection) -> None:
            for pending in batch:  # run again after a BUSY answer: from scratch
                pending.result = pending.error = None
            if len(batch) == 1 and batch[0].one_statement:
                batch[0].result = batch[0].work(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                batch[0].result = batch[0].work(conn)
            else:
                for pending in batch:
                    conn.execute("SAVEPOINT write")
                    try:
                        pending.result = pending.work(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO write")
                        pending.error = self._translated(exc)
                    conn.execute("RELEASE write")
            conn.execute("COMMIT")

        try:
            self._in_turn_with_other_writers(transaction)
        except BaseException as exc:
            # Nothing of the batch was committed: each write fails with what stopped it.
            error = self._translated(exc) if isinstance(exc, Exception) else exc
            for pending in batch:
                if pending.error is None:
                    pending.error = error
            if not isinstance(exc, Exception):
                raise  # an interrupt: raised where it happened
        else:
            self._committed()
        finally:
            for pending in batch:
                pending.done = True

    def _in_turn_with_other_writers(self, transaction: Callable[[sqlite3.Connection], _T]) -> _T:
        """`transaction` on the writer connection, in turn with other writers of the file.

        Called holding `_write_lock`. A transaction that raised is rolled back. Writers of other
        processes (or other stores on the file) take turns through the file lock (see the
        module docstring). A store that has not met another writer in the last
        `CONTENTION_MEMORY_S` seconds skips the lock, with SQLite's busy timeout off: a BUSY
        answer then says at once that another writer is there, and the transaction (which
        could not start, so wrote nothing) runs again in turn. Two syscalls less per commit for
        the common single-process store.
        """
        conn = self._writer_connection()
        flock = _flock
        if flock is not None and time.monotonic() >= self._contended_until:
            if self._writer_waits:
                conn.execute("PRAGMA busy_timeout = 0")
                self._writer_waits = False
            try:
                return _rolled_back_on_error(conn, transaction)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
            self._contended_until = time.monotonic() + self.CONTENTION_MEMORY_S
        if not self._writer_waits:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._writer_waits = True
        if flock is None:  # pragma: no cover - not POSIX
            return _rolled_back_on_error(conn, transaction)
        fd = self._writer_lock()
        try:
            flock(fd, _LOCK_EX | _LOCK_NB)
        except BlockingIOError:
            self._contended_until = time.monotonic() + self.CONTENTION_MEMORY_S
            # Blocks without a timeout: whoever holds it is inside one commit, whose waits are
            # bounded by the busy timeout; this process's other writers wait on `_write_lock`,
            # which has one. The GIL is released while waiting.
            flock(fd, _LOCK_EX)
        try:
            return _rolled_back_on_error(conn, transaction)
        finally:
            flock(fd, _LOCK_UN)

    def _committed(self) -> None:
        """Count a commit; every `CHECKPOINT_AFTER_COMMITS`, wake the checkpoint thread.

        Called holding `_write_lock`. The thread starts with the first checkpoint it is asked for.
        """
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint < self.CHECKPOINT_AFTER_COMMITS:
            return
        self._commits_since_checkpoint = 0
        if self._checkpointer is None and not self._closed:
            try:
                self._checkpointer = checkpointer = _Checkpointer(self._connect, self.path)
            except RuntimeError as exc:  # no thread to be had: the writes are committed all
                # the same, and writers checkpoint themselves at `WAL_AUTOCHECKPOINT_PAGES`
                _log.warning("%s: no checkpoint thread: %s", self.path, exc)
                return
            # A store dropped without `close` must not leave the thread and its connection.
            weakref.finalize(self, checkpointer.stop, 0.0)
        if self._checkpointer is not None:
            self._checkpointer.request()

    def _writer_connection(self) -> sqlite3.Connection:
        """The connection writes use, opened on the first; only touched under `_write_lock`.

        One connection for every write, not one from the pool: its page cache keeps the pages
        appends go to, and a write borrows nothing.
        """
        conn = self._writer
        if conn is None:
            if self._closed:
                raise EventStoreError("the event store is closed")
            conn = self._writer = self._connect()
            self._writer_waits = True
        return conn

    def _writer_lock(self) -> int:
        fd = self._writer_lock_fd
        if self._closed:
            raise EventStoreError("the event store is closed")
        if fd is None:
            # Opened once and kept: the lock belongs to this open file description (O_CLOEXEC:
            # a program this process runs must not share it).
            fd = os.open(f"{self.path}-writelock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._writer_lock_fd = fd  # only ever set under `_write_lock`
            self._writer_lock_closer = weakref.finalize(self, os.close, fd)
        return fd

    def _translated(self, exc: Exception) -> Exception:
        """`exc`, or `EventStoreUnavailableError` (retryable) when it says the database is busy."""
        if isinstance(exc, sqlite3.OperationalError) and exc.sqlite_errorcode & 0xFF in _RETRYABLE:
            unavailable = EventStoreUnavailableError(f"{self.path}: {exc}")
            unavailable.__cause__ = exc
            return unavailable
        return exc

    # -- schema ------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create or migrate the tables to `SCHEMA_VERSION`; a no-op when already there.

        Runs inside `BEGIN IMMEDIATE`, so concurrent processes migrate one after the other and
        each sees the other's `user_version`. A migration can hold the write lock for seconds
        (version 3 copies the events: ~2 s per 200,000), longer than the busy timeout: a store
        opened meanwhile waits for it, up to `SCHEMA_WAIT_S`, instead of failing.
        """

        def migrate(conn: sqlite3.Connection) -> None:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise EventStoreError(
                    f"{self.path}: schema version {current} is newer than this code "
                    f"({SCHEMA_VERSION}); upgrade the application"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        deadline = time.monotonic() + self.SCHEMA_WAIT_S
        while True:
            try:
                self._write(migrate)
                return
            except EventStoreUnavailableError:
                if time.monotonic() >= deadline:
                    raise

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
        """Append `events` if the aggregate is at `expected_version`; see `EventStore.append`."""
        validate_append(aggregate_id, expected_version, events)
        if idempotency is not None:
            validate_idempotency(idempotency)
        new_version = expected_version + len(events)
        # Computed before taking the write lock: the factory is caller code, and the write lock
        # blocks every other writer. Discarded if the append fails.
        snapshot_payload = (
            snapshot()
            if snapshot is not None
            and snapshot_due(expected_version, new_version, self.snapshot_interval)
            else None
        )
        rows = [
            (
                aggregate_id,
                expected_version + offset,
                event.event_id,
                event.event_type,
                bytes(event.payload),
                json.dumps(dict(event.metadata)) if event.metadata else "{}",
                event.occurred_at_ms,
            )
            for offset, event in enumerate(events, start=1)
        ]

        def write(conn: sqlite3.Connection) -> None:
            # This process's write turn is held from here on: the key check and the insert
            # below cannot interleave with another append's.
            if idempotency is not None:
                _check_idempotency_key(conn, idempotency.key)
            # The version check is the schema's (migration 3): event v+1 goes in only if the
            # aggregate has event v and not yet v+1.
            try:
                conn.execute(_INSERT_EVENT, rows[0])
            except sqlite3.IntegrityError as exc:
                actual = _current_version(conn, aggregate_id)
                if actual != expected_version:
                    raise ConcurrencyError(aggregate_id, expected_version, actual) from exc
                # At the expected version, so neither seq_nr rule: another constraint (a NULL).
                raise EventStoreError(f"aggregate {aggregate_id!r}: {exc}") from exc
            if len(rows) > 1:
                try:
                    conn.executemany(_INSERT_EVENT, rows[1:])
                except sqlite3.IntegrityError as exc:
                    # They follow the first one, which held the version: not a conflict.
                    raise EventStoreError(f"aggregate {aggregate_id!r}: {exc}") from exc
            if snapshot_payload is not None:
                conn.execute(
                    "INSERT INTO snapshots (aggregate_id, seq_nr, payload) VALUES (?, ?, ?)"
                    " ON CONFLICT (aggregate_id) DO UPDATE"
                    " SET seq_nr = excluded.seq_nr, payload = excluded.payload",
                    (aggregate_id, new_version, bytes(snapshot_payload)),
                )
            if idempotency is not None:
                # Replaces an expired record under the same key (an unexpired one was refused).
                conn.execute(
                    "INSERT INTO idempotency_keys (key, fingerprint, response, expires_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
                    " SET fingerprint = excluded.fingerprint, response = excluded.response,"
                    " expires_at = excluded.expires_at",
                    (
                        idempotency.key,
                        idempotency.fingerprint,
                        bytes(idempotency.response),
                        idempotency.expires_at,
                    ),
                )

        # The common append (one event, no snapshot due, no idempotency record) is one INSERT.
        self._write(
            write,
            one_statement=len(rows) == 1 and snapshot_payload is None and idempotency is None,
        )
        if idempotency is not None and self._purge.due():
            self._purge_quietly()
        return new_version

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record under `key`, or None; see `EventStore.get_idempotency`."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT fingerprint, response, expires_at FROM idempotency_keys WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        record = IdempotencyRecord(key, row[0], bytes(row[1]), int(row[2]))
        return None if record.expired() else record

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        """Delete up to `limit` expired idempotency records; return how many."""
        if limit < 1:
            raise ValueError("limit must be >= 1")

        def purge(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE key IN"
                " (SELECT key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)",
                (int(time.time()), limit),
            )
            return int(cursor.rowcount)

        return self._write(purge)

    def _purge_quietly(self) -> None:
        # Housekeeping after a committed append: a busy database must not fail the append.
        with suppress(EventStoreError, sqlite3.Error):
            self.purge_expired_idempotency()

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        """The latest snapshot (unless `use_snapshot` is false) and the events after it."""
        # One statement (see `_LOAD`), so one read of one state (no BEGIN/COMMIT needed) and one
        # call into SQLite instead of four.
        with self._connection() as conn:
            rows = conn.execute(
                _LOAD if use_snapshot else _LOAD_WITHOUT_SNAPSHOT, {"id": aggregate_id}
            ).fetchall()
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
                metadata=_metadata_of(metadata),
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
        with self._connection() as conn:
            return [
                _stored_event(r)
                for r in conn.execute(
                    f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ?"
                    " ORDER BY position LIMIT ?",
                    (after_position, limit),
                )
            ]

    def close(self) -> None:
        """Close the pooled connections; connections in use close when they are returned."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        # The writer connection and lock file: closed now unless a write is still in progress
        # (then when the store is garbage-collected).
        if self._write_lock.acquire(timeout=self._busy_timeout_ms / 1000):
            checkpointer, self._checkpointer = self._checkpointer, None
            if checkpointer is not None:
                checkpointer.stop()
            try:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
                self._writer_lock_closer()
                self._writer_lock_fd = None
            finally:
                self._write_lock.release()

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Checkpointer:
    """A daemon thread that runs a passive checkpoint of the database at `path` when asked.

    Passive: it copies what it can without waiting for readers or writers, and never blocks
    them. Its failures (another process checkpointing at the same moment, say) are logged and
    forgotten: writers still checkpoint themselves at `WAL_AUTOCHECKPOINT_PAGES`.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], path: str) -> None:
        # Weak: the thread must not keep the store alive (see `SqliteEventStore._committed`).
        self._connect = weakref.WeakMethod(connect)
        self._path = path
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"checkpoint {path}", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint (one runs soon; requests made meanwhile add none)."""
        self._wanted.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the checkpoint it may be running (waiting up to `timeout`
        seconds for it); the thread closes its connection."""
        self._stopping = True
        self._wanted.set()
        if timeout > 0 and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    if conn is None:
                        connect = self._connect()
                        if connect is None:  # the store is gone
                            return
                        conn = connect()
                        del connect
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    _log.info("%s: background checkpoint skipped: %s", self._path, exc)
        finally:
            if conn is not None:
                conn.close()


def _rolled_back_on_error(
    conn: sqlite3.Connection, transaction: Callable[[sqlite3.Connection], _T]
) -> _T:
    try:
        return transaction(conn)
    finally:
        if conn.in_transaction:  # not committed: none of it is written
            _roll_back(conn)


def _roll_back(conn: sqlite3.Connection) -> None:
    # Called while an error is on its way up (or after one): a failing rollback must not hide it.
    with suppress(sqlite3.Error):
        conn.rollback()


def _check_idempotency_key(conn: sqlite3.Connection, key: str) -> None:
    row = conn.execute("SELECT expires_at FROM idempotency_keys WHERE key = ?", (key,)).fetchone()
    if row is not None and int(row[0]) > time.time():
        raise DuplicateIdempotencyKeyError(key)


def _current_version(conn: sqlite3.Connection, aggregate_id: str) -> int:
    row = conn.execute(
        "SELECT MAX(seq_nr) FROM events WHERE aggregate_id = ?", (aggregate_id,)
    ).fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _metadata_of(text: str) -> dict[str, Any]:
    # Most events carry no metadata (tracing off): skip the JSON parser for those.
    if text == "{}":
        return {}
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _stored_event(row: Any) -> StoredEvent:
    position, aggregate_id, seq_nr, event_id, event_type, payload, metadata, occurred = row
    return StoredEvent(
        aggregate_id=aggregate_id,
        seq_nr=seq_nr,
        event_id=event_id,
        event_type=event_type,
        payload=bytes(payload),
        occurred_at_ms=occurred,
        metadata=_metadata_of(metadata),
        position=position,
    )
