"""The event store contract, run against the SQLite backend, plus SQLite-specific behaviour."""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from contract import (
    EventStoreContract,
    StoreFactory,
    closing_factory,
    idempotency,
    new_event,
    snapshot_of,
)
from event_store import (
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStoreError,
    EventStoreUnavailableError,
    StoredEvent,
)
from event_store.sqlite import _GAP, _LOAD, _MIGRATIONS, SCHEMA_VERSION, SqliteEventStore
from multiprocess_writers import append_from_another_process


class TestSqliteEventStore(EventStoreContract):
    enforces_unique_event_id = False  # no index on event_id (schema version 3)

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[StoreFactory]:
        path = tmp_path / "events.db"
        yield from closing_factory(lambda interval: SqliteEventStore(path, interval))


def test_keeps_everything_when_the_file_is_opened_again(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    history = [f"e{n}" for n in range(5)]
    with SqliteEventStore(path, snapshot_interval=2) as store:
        store.append("a", 0, [new_event(n) for n in history[:3]], snapshot=snapshot_of(history[:3]))
        store.append("a", 3, [new_event(n) for n in history[3:]])
        store.append("b", 0, [new_event("b1", metadata={"k": "v"})])
        loaded, log = store.load("a"), list(store.read_all())

    with SqliteEventStore(path, snapshot_interval=2) as reopened:
        assert reopened.load("a") == loaded
        assert list(reopened.read_all()) == log
        assert reopened.append("b", 1, [new_event("b2")]) == 2
        assert [e.position for e in reopened.read_all()] == [1, 2, 3, 4, 5, 6, 7]


def test_uses_wal_and_records_the_schema_version_when_created(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    SqliteEventStore(path).close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_wal_starts_over_after_wal_autocheckpoint_pages(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    limit = SqliteEventStore.WAL_AUTOCHECKPOINT_PAGES
    with SqliteEventStore(path) as store:
        with store._connection() as conn:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == limit
        largest = 0
        for n in range(3 * limit):  # a few WAL pages each: several checkpoints
            store.append(f"chat-{n % 50}", n // 50, [new_event(f"e{n}")])
            largest = max(largest, os.path.getsize(f"{path}-wal"))
        # Reset after each checkpoint rather than grown: at most the limit plus one commit.
        assert largest <= (limit + 10) * (page_size + 24) + 32
        assert [e.seq_nr for e in store.load("chat-7").events] == list(
            range(1, 3 * limit // 50 + 1)
        )


def _checkpoint_threads(path: Path) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"checkpoint {path}" and t.is_alive()]


class _CheckpointsOnlyInTheBackground(SqliteEventStore):
    WAL_AUTOCHECKPOINT_PAGES = 1_000_000  # writers never checkpoint themselves
    CHECKPOINT_AFTER_COMMITS = 20


def test_a_thread_checkpoints_the_wal_and_stops_with_the_store(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = _CheckpointsOnlyInTheBackground(path)
    size_before = os.path.getsize(path)
    assert _checkpoint_threads(path) == []  # started with the first checkpoint it is asked for
    for n in range(200):
        store.append(f"chat-{n % 40}", n // 40, [new_event(f"e{n}")])
    assert len(_checkpoint_threads(path)) == 1
    # Only the thread copies the WAL into the database file, which therefore grows.
    deadline = time.monotonic() + 10
    while os.path.getsize(path) == size_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.getsize(path) > size_before
    store.close()
    assert _checkpoint_threads(path) == []
    with SqliteEventStore(path) as reopened:
        assert len(list(reopened.read_all())) == 200


def test_writes_go_on_when_no_checkpoint_thread_can_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    path = tmp_path / "events.db"
    with _CheckpointsOnlyInTheBackground(path) as store:
        for n in range(50):
            assert store.append("chat", n, [new_event(f"e{n}")]) == n + 1
        assert [e.seq_nr for e in store.load("chat").events] == list(range(1, 51))
    assert "no checkpoint thread: can't start new thread" in caplog.text


def test_a_store_dropped_without_close_leaves_no_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = _CheckpointsOnlyInTheBackground(path)
    for n in range(50):
        store.append("chat", n, [new_event(f"e{n}")])
    assert len(_checkpoint_threads(path)) == 1
    del store
    gc.collect()
    deadline = time.monotonic() + 10
    while _checkpoint_threads(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _checkpoint_threads(path) == []


def test_a_failing_background_checkpoint_is_logged_and_appends_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class CheckpointCannotConnect(_CheckpointsOnlyInTheBackground):
        def _connect(self) -> sqlite3.Connection:
            if threading.current_thread().name.startswith("checkpoint "):
                raise sqlite3.OperationalError("unable to open database file")
            return super()._connect()

    caplog.set_level(logging.INFO, logger="event_store.sqlite")
    path = tmp_path / "events.db"
    with CheckpointCannotConnect(path) as store:
        for n in range(100):
            store.append("chat", n, [new_event(f"e{n}")])
        deadline = time.monotonic() + 10
        while "background checkpoint skipped" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "unable to open database file" in caplog.text
        assert len(_checkpoint_threads(path)) == 1  # still there for the next request
        assert store.append("chat", 100, [new_event("e100")]) == 101
    assert _checkpoint_threads(path) == []


def test_raises_unavailable_when_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = SqliteEventStore(path, busy_timeout_ms=50)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(EventStoreUnavailableError):
            store.append("a", 0, [new_event("a1")])
        assert store.load("a").version == 0  # WAL: readers are not blocked by the writer
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.append("a", 0, [new_event("a1")]) == 1
    store.close()


def test_waits_for_another_process_to_release_the_write_lock_when_appending_one_event(
    tmp_path: Path,
) -> None:
    # A lone one-event append is a single statement outside BEGIN/COMMIT: it must still wait for
    # the write lock in SQLite's busy handler, as BEGIN IMMEDIATE does, and write only after it.
    path = tmp_path / "events.db"
    with SqliteEventStore(path, busy_timeout_ms=10_000) as store:
        store.append("a", 0, [new_event("a1")])
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute(
            "INSERT INTO events (aggregate_id, seq_nr, event_id, event_type, payload,"
            " occurred_at_ms) VALUES ('a', 2, 'evt-other', 't', x'', 0)"
        )
        release = threading.Timer(0.2, lambda: (blocker.execute("COMMIT"), blocker.close()))
        release.start()
        try:
            with pytest.raises(ConcurrencyError) as refused:
                store.append("a", 1, [new_event("a2")])  # decided on version 1; the blocker wrote 2
            assert store.append("a", 2, [new_event("a3")]) == 3
        finally:
            release.join()

        assert refused.value.actual_version == 2
        assert [e.event_id for e in store.load("a").events] == ["evt-a1", "evt-other", "evt-a3"]


def test_refuses_to_open_when_the_schema_is_newer_than_the_code(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(EventStoreError, match="newer"):
        SqliteEventStore(path)


def test_raises_value_error_when_path_is_in_memory() -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteEventStore(":memory:")


def test_raises_event_store_error_when_used_after_close(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    store.close()

    with pytest.raises(EventStoreError, match="closed"):
        store.load("a")


def _file_at_schema_version(path: Path, version: int) -> None:
    """A database file as the code of schema `version` left it: its migrations, no more."""
    with closing(sqlite3.connect(path)) as conn:
        for migration in _MIGRATIONS[:version]:
            for statement in migration:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()


def _insert_raw(path: Path, *events: tuple[str, int, str]) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.executemany(
            "INSERT INTO events (aggregate_id, seq_nr, event_id, event_type, payload,"
            " occurred_at_ms) VALUES (?, ?, ?, 'test.Happened', x'7b7d', 0)",
            events,
        )
        conn.commit()


def test_migrates_a_version_1_file_and_keeps_its_events_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    _file_at_schema_version(path, 1)  # before idempotency records
    _insert_raw(path, ("a", 1, "evt-a1"))

    with SqliteEventStore(path) as migrated:
        migrated.append("a", 1, [new_event("a2")], idempotency=idempotency("k"))

        assert migrated.load("a").version == 2
        assert migrated.get_idempotency("k") is not None
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_migrates_a_version_2_file_and_keeps_its_events_and_positions_when_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    _file_at_schema_version(path, 2)  # event ids unique, no seq_nr trigger
    _insert_raw(path, ("a", 1, "evt-a1"), ("b", 1, "evt-b1"), ("a", 2, "evt-a2"))
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM events WHERE event_id = 'evt-b1'")  # position 2 left unused
        conn.commit()

    with SqliteEventStore(path) as migrated:
        before = list(migrated.read_all())
        with pytest.raises(ConcurrencyError) as ahead:
            migrated.append("a", 5, [new_event("a6")])
        with pytest.raises(ConcurrencyError) as behind:
            migrated.append("a", 1, [new_event("a2-again")])
        assert migrated.append("a", 2, [new_event("a3")]) == 3
        assert migrated.append("c", 0, [new_event("a3")]) == 1  # event ids are not an index

        assert [(e.position, e.event_id) for e in before] == [(1, "evt-a1"), (3, "evt-a2")]
        assert [e.event_id for e in migrated.load("a").events] == ["evt-a1", "evt-a2", "evt-a3"]
        assert [e.position for e in migrated.read_all()] == [1, 3, 4, 5]
    assert (ahead.value.actual_version, behind.value.actual_version) == (2, 2)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_load_sorts_nothing_when_the_aggregate_has_a_snapshot(tmp_path: Path) -> None:
    # The load's ORDER BY must be served by the indexes: a sort (or a materialized CTE) copies
    # the snapshot blob through a temporary b-tree, ~7x the load time of a 250 KB snapshot.
    with SqliteEventStore(tmp_path / "events.db", snapshot_interval=2) as store:
        store.append("a", 0, [new_event("a1"), new_event("a2")], snapshot=snapshot_of(["a1", "a2"]))
        store.append("a", 2, [new_event("a3")])
        with store._connection() as conn:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {_LOAD}", {"id": "a"})]

        assert not [step for step in plan if "TEMP" in step or "MATERIALIZE" in step], plan
        assert store.load("a").snapshot is not None


def test_refuses_an_event_that_would_leave_a_gap_whoever_writes_it(tmp_path: Path) -> None:
    # The seq_nr rules are the schema's, so they hold for any writer, not only for the store.
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        store.append("a", 0, [new_event("a1")])
    insert = (
        "INSERT INTO events (aggregate_id, seq_nr, event_id, event_type, payload, occurred_at_ms)"
        " VALUES (?, ?, ?, 't', x'', 0)"
    )
    with closing(sqlite3.connect(path)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match=_GAP):
            conn.execute(insert, ("a", 3, "evt-gap"))
        with pytest.raises(sqlite3.IntegrityError, match=_GAP):
            conn.execute(insert, ("b", 2, "evt-first-missing"))
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(insert, ("a", 1, "evt-again"))
        conn.execute(insert, ("a", 2, "evt-next"))
        conn.commit()
        rows = conn.execute("SELECT aggregate_id, seq_nr FROM events ORDER BY position").fetchall()

    assert rows == [("a", 1), ("a", 2)]


def test_checks_the_predecessor_with_one_index_seek_when_appending(tmp_path: Path) -> None:
    # The version check (the trigger's lookup of event v) must stay a seek in the
    # (aggregate_id, seq_nr) index, not a scan of the events.
    with SqliteEventStore(tmp_path / "events.db") as store, store._connection() as conn:
        (body,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            ("events_seq_nr_follows",),
        ).fetchone()
        condition = body[: body.index("BEGIN")]
        lookup = condition[condition.index("SELECT 1") : condition.rindex(")")]
        lookup = lookup.replace("NEW.", ":")
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {lookup}", ("a", 2))]

    assert any(step.startswith("SEARCH events USING COVERING INDEX") for step in plan), plan
    assert not [step for step in plan if step.startswith("SCAN events")], plan


def test_appends_queued_behind_a_busy_writer_are_committed_together_each_with_its_own_outcome(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    store = SqliteEventStore(path, busy_timeout_ms=10_000)
    store.append("x", 0, [new_event("x1")])
    outcomes: dict[str, object] = {}

    def append(
        label: str, aggregate_id: str, expected: int, name: str, key: str | None = None
    ) -> threading.Thread:
        def run() -> None:
            try:
                outcomes[label] = store.append(
                    aggregate_id,
                    expected,
                    [new_event(name)],
                    idempotency=None if key is None else idempotency(key),
                )
            except Exception as exc:
                outcomes[label] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    # Another process holds SQLite's write lock: the first append takes this process's write
    # turn and waits in SQLite; the others queue behind it and are written in one transaction.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    threads = [append("first", "a", 0, "a1")]
    time.sleep(0.2)
    threads += [
        append("ok", "b", 0, "b1"),
        append("stale", "x", 0, "x2"),  # x is at version 1
        append("keyed", "d", 0, "d1", key="k"),
        append("same key", "e", 0, "e1", key="k"),  # refused: the key of "keyed" (or the reverse)
        append("also ok", "c", 0, "c1"),
    ]
    time.sleep(0.3)
    blocker.execute("ROLLBACK")
    blocker.close()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes["first"] == 1
    assert outcomes["ok"] == 1
    assert outcomes["also ok"] == 1
    assert isinstance(outcomes["stale"], ConcurrencyError)
    # Which of the two appends with one key is written depends on the queue's order: exactly one.
    keyed = sorted([outcomes["keyed"], outcomes["same key"]], key=lambda o: isinstance(o, int))
    assert isinstance(keyed[0], DuplicateIdempotencyKeyError)
    assert keyed[1] == 1
    written = "evt-d1" if outcomes["keyed"] == 1 else "evt-e1"
    assert store.load("d").version + store.load("e").version == 1
    log = list(store.read_all())
    assert [e.position for e in log] == list(range(1, len(log) + 1))
    assert sorted(e.event_id for e in log) == sorted(
        {"evt-x1", "evt-a1", "evt-b1", "evt-c1", written}
    )
    assert store.load("x").version == 1
    store.close()


def test_many_threads_appending_at_once_each_get_their_own_version(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "events.db") as store:
        results: dict[int, list[int]] = {}

        def writer(number: int) -> None:
            results[number] = [
                store.append(f"agg-{number}", n, [new_event(f"{number}-{n}")]) for n in range(25)
            ]

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert results == {n: list(range(1, 26)) for n in range(16)}
        log = list(store.read_all())
        assert [e.position for e in log] == list(range(1, 16 * 25 + 1))
        assert all(store.load(f"agg-{n}").version == 25 for n in range(16))


def test_stores_in_several_processes_write_one_file_gap_free_and_lose_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    processes, appends = 3, 30
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        outcomes = pool.starmap(
            append_from_another_process, [(str(path), w, appends) for w in range(processes)]
        )

    with SqliteEventStore(path) as store:
        log = list(store.read_all())
        shared = store.load("shared", use_snapshot=False)
    total = processes * 4 * appends
    assert sum(won for won, _ in outcomes) == total
    assert len(log) == 2 * total  # every acknowledged append is there, once
    assert [e.position for e in log] == list(range(1, 2 * total + 1))
    assert [e.seq_nr for e in shared.events] == list(range(1, total + 1))
    for w in range(processes):
        for t in range(4):
            assert store_versions(log, f"own-{w}-{t}") == list(range(1, appends + 1))
    assert Path(f"{path}-writelock").exists()


def store_versions(log: list[StoredEvent], aggregate_id: str) -> list[int]:
    return [e.seq_nr for e in log if e.aggregate_id == aggregate_id]


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection holds SQLite's write lock for `seconds`, as a long migration does."""
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: (blocker.execute("ROLLBACK"), blocker.close()))
    release.start()
    return release


def _meet_another_writer(store: SqliteEventStore, path: Path, aggregate_id: str) -> None:
    """Append while another connection holds SQLite's write lock for 0.2 s: a first BUSY."""
    release = _hold_write_lock(path, 0.2)
    try:
        assert store.append(aggregate_id, 0, [new_event(f"{aggregate_id}1")]) == 1  # waited
    finally:
        release.join()


@contextmanager
def _lock_file_held(path: Path) -> Iterator[None]:
    lock_file = os.open(f"{path}-writelock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock_file, fcntl.LOCK_EX)  # as a writer in another process holds it
    try:
        yield
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        os.close(lock_file)


def test_a_write_waits_while_another_process_holds_the_writer_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        _meet_another_writer(store, path, "a")
        done = threading.Event()
        appender = threading.Thread(
            target=lambda: (store.append("a", 1, [new_event("a2")]), done.set())
        )
        with _lock_file_held(path):
            appender.start()
            assert not done.wait(0.3)  # waiting for its turn, not failing
            assert store.load("a").version == 1
        assert done.wait(10)
        appender.join()
        assert store.load("a").version == 2


def test_a_store_that_met_no_other_writer_writes_without_the_lock_file(tmp_path: Path) -> None:
    # Two syscalls less per commit; SQLite's own lock still orders the writes.
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store, _lock_file_held(path):
        assert store.append("a", 0, [new_event("a1")]) == 1
        assert store.append("a", 1, [new_event("a2"), new_event("a3")]) == 3
        assert store.load("a").version == 3


def test_takes_turns_after_meeting_a_writer_and_skips_the_lock_again_once_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        store.CONTENTION_MEMORY_S = 0.5
        with _lock_file_held(path):
            assert store.append("solo", 0, [new_event("solo1")]) == 1  # alone: no lock file
        _meet_another_writer(store, path, "a")  # waited in SQLite, then wrote: not failed

        done = threading.Event()
        appender = threading.Thread(
            target=lambda: (store.append("a", 1, [new_event("a2")]), done.set())
        )
        with _lock_file_held(path):
            appender.start()
            assert not done.wait(0.2)  # in turn through the lock file now
        assert done.wait(10)
        appender.join()

        time.sleep(0.6)  # no other writer met since: alone again
        with _lock_file_held(path):
            assert store.append("a", 2, [new_event("a3")]) == 3
        assert [e.event_id for e in store.load("a").events] == ["evt-a1", "evt-a2", "evt-a3"]


def test_opening_waits_for_another_process_writing_longer_than_the_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    release = _hold_write_lock(path, 0.6)
    started = time.monotonic()
    try:
        with SqliteEventStore(path, busy_timeout_ms=100) as store:
            waited = time.monotonic() - started
            assert store.append("a", 0, [new_event("a1")]) == 1
    finally:
        release.join()

    assert waited >= 0.5


def test_opening_gives_up_after_waiting_schema_wait_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    monkeypatch.setattr(SqliteEventStore, "SCHEMA_WAIT_S", 0.3)
    release = _hold_write_lock(path, 1.5)
    try:
        with pytest.raises(EventStoreUnavailableError):
            SqliteEventStore(path, busy_timeout_ms=100)
    finally:
        release.join()
