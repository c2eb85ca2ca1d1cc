"""The behaviour every `EventStore` backend must have, written once and run against each backend.

How to run it against a backend: subclass `EventStoreContract` in a `test_<backend>.py` of this
directory (this directory's conftest.py makes `contract` importable and rewrites its asserts) and
override the `store_factory` fixture. The fixture yields a callable
`factory(snapshot_interval=100) -> EventStore`; every call must open a *new* store instance on the
*same* storage for the test (same file, database or tables), so that the reopen tests see the data
of earlier instances, and the fixture closes what it opened at teardown. `closing_factory` does the
bookkeeping::

    from contract import EventStoreContract, StoreFactory, closing_factory

    class TestMyEventStore(EventStoreContract):
        supports_read_all = False  # capabilities, see the class attributes below

        @pytest.fixture
        def store_factory(self, tmp_path: Path) -> Iterator[StoreFactory]:
            yield from closing_factory(
                lambda interval: MyEventStore(tmp_path, snapshot_interval=interval)
            )

Tests that need a capability a backend lacks are skipped according to the class attributes.
Payloads are JSON so that a fake fold (the state is the list of event payloads) can check that a
snapshot plus the events after it give the same state as a full replay.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Protocol

import pytest
from event_store import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStore,
    EventStoreError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    StoredEvent,
)

# A safety net so that a broken backend fails the test instead of hanging it; never a timing check.
BARRIER_TIMEOUT_S = 120


class StoreFactory(Protocol):
    """Opens a new store instance on the test's storage."""

    def __call__(self, snapshot_interval: int = 100) -> EventStore: ...


def closing_factory(open_store: Callable[[int], EventStore]) -> Iterator[StoreFactory]:
    """Yield a `StoreFactory` around `open_store(snapshot_interval)`; close its stores after."""
    opened: list[EventStore] = []

    def factory(snapshot_interval: int = 100) -> EventStore:
        store = open_store(snapshot_interval)
        opened.append(store)
        return store

    yield factory
    for store in reversed(opened):
        store.close()


def new_event(name: str, *, metadata: dict[str, str] | None = None) -> NewEvent:
    """An event whose payload is the JSON of `name`; `name` doubles as a unique event id stem."""
    return NewEvent(
        event_id=f"evt-{name}",
        event_type="Noted",
        payload=json.dumps(name).encode(),
        occurred_at_ms=1_700_000_000_000,
        metadata=metadata or {},
    )


def idempotency(
    key: str, response: bytes = b'{"status":201}', *, fingerprint: str = "fp-1", ttl: int = 3600
) -> IdempotencyRecord:
    """An idempotency record under `key` that expires `ttl` seconds from now (negative: past)."""
    return IdempotencyRecord(key, fingerprint, response, int(time.time()) + ttl)


def fold(loaded: LoadedStream) -> list[Any]:
    """The fake aggregate state: the list of every event payload, starting from the snapshot."""
    state: list[Any] = [] if loaded.snapshot is None else json.loads(loaded.snapshot.payload)
    return state + [json.loads(event.payload) for event in loaded.events]


def snapshot_of(state: Sequence[Any]) -> Callable[[], bytes]:
    """A snapshot factory returning `state` (the state after the appended events)."""
    return lambda: json.dumps(list(state)).encode()


class EventStoreContract:
    """Contract tests for an `EventStore`; subclass and provide `store_factory` (see module doc)."""

    supports_read_all: ClassVar[bool] = True
    """The backend has a global gap-free position and implements `read_all`."""

    reopens_storage: ClassVar[bool] = True
    """Stores opened by `store_factory` share storage (False for the in-memory store)."""

    enforces_unique_event_id: ClassVar[bool] = True
    """Appending an event id that is already stored fails with `EventStoreError`."""

    concurrent_events_per_writer: ClassVar[int] = 40
    """Events each of the 8 writers appends (one per transaction) in the tailing-reader test."""

    purges_idempotency: ClassVar[bool] = True
    """`purge_expired_idempotency` deletes expired records itself (DynamoDB leaves it to TTL)."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override in the subclass: yield a factory opening stores on one fresh storage."""
        raise NotImplementedError("subclasses of EventStoreContract must define store_factory")

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> EventStore:
        """A store that snapshots every 3 events, so that snapshot paths run in small tests."""
        return store_factory(snapshot_interval=3)

    def _require(self, capability: str) -> None:
        if not getattr(self, capability):
            pytest.skip(f"backend lacks {capability}")

    # -- append and load ---------------------------------------------------------------------

    def test_loads_version_zero_and_nothing_else_when_aggregate_is_unknown(
        self, store: EventStore
    ) -> None:
        loaded = store.load("nobody")

        assert (loaded.aggregate_id, loaded.version, loaded.snapshot, list(loaded.events)) == (
            "nobody",
            0,
            None,
            [],
        )

    def test_load_returns_the_appended_events_when_appended(self, store: EventStore) -> None:
        event = new_event("one", metadata={"traceparent": "00-abc-def-01", "user": "ü"})

        version = store.append("agg-1", 0, [event])
        loaded = store.load("agg-1")

        assert version == 1
        assert loaded.version == 1
        assert loaded.snapshot is None
        [stored] = loaded.events
        assert (
            stored.aggregate_id,
            stored.seq_nr,
            stored.event_id,
            stored.event_type,
            stored.payload,
            stored.occurred_at_ms,
            dict(stored.metadata),
        ) == (
            "agg-1",
            1,
            event.event_id,
            "Noted",
            event.payload,
            event.occurred_at_ms,
            {
                "traceparent": "00-abc-def-01",
                "user": "ü",
            },
        )

    def test_round_trips_arbitrary_bytes_when_payload_is_binary(self, store: EventStore) -> None:
        payload = bytes(range(256)) + b"\x00\x00"
        event = NewEvent("evt-bin", "Binary", payload, 1)

        store.append("agg-bin", 0, [event])

        assert store.load("agg-bin").events[0].payload == payload

    def test_seq_nrs_are_contiguous_from_one_when_appended_in_several_batches(
        self, store: EventStore
    ) -> None:
        store.append("agg", 0, [new_event("a"), new_event("b")])
        store.append("agg", 2, [new_event("c")])
        version = store.append("agg", 3, [new_event("d"), new_event("e")])

        loaded = store_without_snapshots(store, "agg")
        assert version == 5
        assert [e.seq_nr for e in loaded] == [1, 2, 3, 4, 5]
        assert [json.loads(e.payload) for e in loaded] == ["a", "b", "c", "d", "e"]

    def test_round_trips_every_field_when_batches_of_any_size_are_appended(
        self, store: EventStore
    ) -> None:
        # Batch sizes on both sides of any size-dependent encoding of an append (PostgreSQL
        # passes small batches field by field, larger ones as arrays).
        version = 0
        expected: list[tuple[object, ...]] = []
        for size in [1, 2, 7, 8, 9, 12]:
            batch = [
                NewEvent(
                    event_id=f"evt-{size}-{n}",
                    event_type=f"Type{n}" if n % 2 else 'Noted "quoted", {braced}',
                    payload=bytes([n, 0, 255]) + f"{size}".encode(),
                    occurred_at_ms=1_700_000_000_000 + 1000 * size + n,
                    metadata={"n": str(n), "note": 'a "b", {c}'} if n % 3 else {},
                )
                for n in range(size)
            ]
            version = store.append("batches", version, batch)
            expected += [
                (e.event_id, e.event_type, e.payload, e.occurred_at_ms, dict(e.metadata))
                for e in batch
            ]

        loaded = store_without_snapshots(store, "batches")
        assert version == len(expected) == 39
        assert [e.seq_nr for e in loaded] == list(range(1, 40))
        assert [
            (e.event_id, e.event_type, e.payload, e.occurred_at_ms, dict(e.metadata))
            for e in loaded
        ] == expected

    def test_keeps_aggregates_apart_when_appending_to_several(self, store: EventStore) -> None:
        store.append("left", 0, [new_event("l1")])
        store.append("right", 0, [new_event("r1"), new_event("r2")])
        store.append("left", 1, [new_event("l2")])

        assert [e.event_id for e in store.load("left").events] == ["evt-l1", "evt-l2"]
        assert [e.seq_nr for e in store.load("right").events] == [1, 2]
        assert {e.aggregate_id for e in store.load("right").events} == {"right"}

    @pytest.mark.parametrize("stale", [0, 1, 3, 7])
    def test_raises_concurrency_error_and_writes_nothing_when_expected_version_is_wrong(
        self, store: EventStore, stale: int
    ) -> None:
        store.append("agg", 0, [new_event("a"), new_event("b")])

        with pytest.raises(ConcurrencyError) as caught:
            store.append("agg", stale, [new_event("x"), new_event("y")])

        assert caught.value.aggregate_id == "agg"
        assert caught.value.expected_version == stale
        loaded = store.load("agg")
        assert loaded.version == 2
        assert [e.event_id for e in loaded.events] == ["evt-a", "evt-b"]

    def test_appends_every_event_of_a_batch_or_none_when_appending_several(
        self, store: EventStore
    ) -> None:
        batch = [new_event(f"b{i}") for i in range(5)]
        assert store.append("agg", 0, batch) == 5
        with pytest.raises(ConcurrencyError):
            store.append("agg", 4, [new_event("late1"), new_event("late2")])

        loaded = store_without_snapshots(store, "agg")
        assert [e.event_id for e in loaded] == [e.event_id for e in batch]

    @pytest.mark.parametrize(
        ("aggregate_id", "expected_version", "events"),
        [
            ("agg", 0, []),
            ("agg", -1, [new_event("neg")]),
            ("", 0, [new_event("noid")]),
        ],
        ids=["no-events", "negative-version", "empty-aggregate-id"],
    )
    def test_raises_value_error_and_writes_nothing_when_append_is_malformed(
        self,
        store: EventStore,
        aggregate_id: str,
        expected_version: int,
        events: list[NewEvent],
    ) -> None:
        with pytest.raises(ValueError):  # noqa: PT011 - the message is the backend's business
            store.append(aggregate_id, expected_version, events)

        assert store.load(aggregate_id or "agg").version == 0

    def test_raises_event_store_error_and_writes_nothing_when_event_id_is_duplicate(
        self, store: EventStore
    ) -> None:
        self._require("enforces_unique_event_id")
        store.append("first", 0, [new_event("dup")])

        with pytest.raises(EventStoreError) as caught:
            store.append("second", 0, [new_event("fresh"), new_event("dup")])

        assert not isinstance(caught.value, ConcurrencyError)
        assert store.load("second").version == 0

    # -- concurrency -------------------------------------------------------------------------

    def test_exactly_one_writer_wins_each_round_when_8_threads_race_on_one_aggregate(
        self, store: EventStore
    ) -> None:
        writers, rounds = 8, 6
        barrier = threading.Barrier(writers, timeout=BARRIER_TIMEOUT_S)
        outcomes: list[list[object]] = [[None] * writers for _ in range(rounds)]

        def write(worker: int) -> None:
            for round_ in range(rounds):
                # Everyone reads the same version (the previous round is over), then all append
                # at once, so all but one must lose.
                version = store.load("contested").version
                barrier.wait()
                try:
                    store.append("contested", version, [new_event(f"r{round_}-w{worker}")])
                    outcomes[round_][worker] = "won"
                except ConcurrencyError:
                    outcomes[round_][worker] = "lost"
                except Exception as exc:
                    outcomes[round_][worker] = exc
                barrier.wait()

        run_threads(write, writers)

        for round_outcomes in outcomes:
            assert sorted(map(str, round_outcomes)) == ["lost"] * (writers - 1) + ["won"]
        winners = [f"evt-r{r}-w{row.index('won')}" for r, row in enumerate(outcomes)]
        events = store_without_snapshots(store, "contested")
        assert [e.seq_nr for e in events] == list(range(1, rounds + 1))
        assert [e.event_id for e in events] == winners

    def test_reader_sees_every_event_once_in_order_when_8_writers_append_concurrently(
        self, store: EventStore
    ) -> None:
        self._require("supports_read_all")
        writers, per_writer = 8, self.concurrent_events_per_writer
        barrier = threading.Barrier(writers + 1, timeout=BARRIER_TIMEOUT_S)
        writers_done = threading.Event()
        seen: list[StoredEvent] = []
        problems: list[str] = []

        def write(worker: int) -> None:
            barrier.wait()
            for k in range(per_writer):
                # Many small transactions: the pattern that exposes out-of-order commits.
                store.append(f"agg-{worker}", k, [new_event(f"w{worker}-{k}")])

        def tail() -> None:
            last = 0
            barrier.wait()
            while True:
                finished = writers_done.is_set()  # read before polling: the poll sees all then
                batch = store.read_all(last, limit=7)
                for event in batch:
                    if event.position != last + 1:
                        problems.append(f"after position {last} came {event.position}")
                    last = event.position if event.position is not None else last
                    seen.append(event)
                if finished and not batch:
                    return

        reader = threading.Thread(target=catching(tail, problems))
        reader.start()
        try:
            run_threads(write, writers)
        finally:
            writers_done.set()
            reader.join()

        assert problems == []
        total = writers * per_writer
        assert [e.position for e in seen] == list(range(1, total + 1))
        assert sorted(e.event_id for e in seen) == sorted(
            f"evt-w{w}-{k}" for w in range(writers) for k in range(per_writer)
        )
        for worker in range(writers):
            mine = [e.seq_nr for e in seen if e.aggregate_id == f"agg-{worker}"]
            assert mine == list(range(1, per_writer + 1))

    # -- snapshots ---------------------------------------------------------------------------

    def test_snapshots_every_interval_and_loads_like_a_full_replay_when_appending_one_by_one(
        self, store_factory: StoreFactory
    ) -> None:
        store = store_factory(snapshot_interval=3)
        history: list[str] = []
        for n in range(1, 9):
            name = f"e{n}"
            history.append(name)
            store.append("agg", n - 1, [new_event(name)], snapshot=snapshot_of(history))

            loaded = store.load("agg")
            expected_snapshot = (n // 3) * 3
            assert loaded.version == n
            assert (loaded.snapshot.seq_nr if loaded.snapshot else 0) == expected_snapshot
            assert [e.seq_nr for e in loaded.events] == list(range(expected_snapshot + 1, n + 1))
            assert fold(loaded) == history

    def test_snapshot_holds_the_state_after_the_whole_batch_when_a_batch_crosses_the_interval(
        self, store: EventStore
    ) -> None:
        history = ["a", "b"]
        store.append("agg", 0, [new_event(n) for n in history], snapshot=snapshot_of(history))
        history += ["c", "d"]
        store.append("agg", 2, [new_event("c"), new_event("d")], snapshot=snapshot_of(history))

        loaded = store.load("agg")
        assert loaded.snapshot is not None
        assert loaded.snapshot.seq_nr == 4
        assert list(loaded.events) == []
        assert loaded.version == 4
        assert fold(loaded) == history

    def test_calls_the_snapshot_factory_only_when_a_snapshot_is_due(
        self, store: EventStore
    ) -> None:
        calls: list[int] = []

        def factory() -> bytes:
            calls.append(1)
            return b"[]"

        for n in range(7):
            store.append("agg", n, [new_event(f"e{n}")], snapshot=factory)

        assert len(calls) == 2  # at versions 3 and 6

    def test_snapshots_every_100_events_when_interval_is_default(
        self, store_factory: StoreFactory
    ) -> None:
        store = store_factory()
        history = [f"e{n}" for n in range(99)]
        store.append("agg", 0, [new_event(n) for n in history], snapshot=snapshot_of(history))
        assert store.load("agg").snapshot is None

        history.append("e99")
        store.append("agg", 99, [new_event("e99")], snapshot=snapshot_of(history))
        loaded = store.load("agg")

        assert store.snapshot_interval == 100
        assert loaded.snapshot is not None
        assert (loaded.snapshot.seq_nr, len(loaded.events), loaded.version) == (100, 0, 100)
        assert fold(loaded) == history

    def test_loads_every_event_and_no_snapshot_when_told_not_to_use_the_snapshot(
        self, store: EventStore
    ) -> None:
        history: list[str] = []
        for n in range(1, 8):
            history.append(f"e{n}")
            store.append("agg", n - 1, [new_event(f"e{n}")], snapshot=snapshot_of(history))

        loaded = store.load("agg", use_snapshot=False)

        assert (loaded.snapshot, loaded.version) == (None, 7)
        assert [e.seq_nr for e in loaded.events] == list(range(1, 8))
        assert fold(loaded) == history
        assert store.load("agg").snapshot is not None  # still there for normal loads
        assert store.load("nobody", use_snapshot=False).version == 0

    def test_writes_no_snapshot_when_the_append_fails(self, store: EventStore) -> None:
        store.append("agg", 0, [new_event("a"), new_event("b")])

        with pytest.raises(ConcurrencyError):
            store.append("agg", 1, [new_event("x"), new_event("y")], snapshot=lambda: b"bad")

        loaded = store.load("agg")
        assert (loaded.snapshot, loaded.version) == (None, 2)

    def test_writes_nothing_when_the_snapshot_factory_fails(self, store: EventStore) -> None:
        store.append("agg", 0, [new_event("a"), new_event("b")])

        def broken() -> bytes:
            raise RuntimeError("cannot serialize state")

        with pytest.raises(RuntimeError, match="cannot serialize state"):
            store.append("agg", 2, [new_event("c")], snapshot=broken)

        loaded = store.load("agg")
        assert (loaded.snapshot, loaded.version, len(loaded.events)) == (None, 2, 2)
        assert store.append("agg", 2, [new_event("c")]) == 3

    def test_round_trips_a_300_kb_snapshot_exactly_when_loading_it_with_its_tail(
        self, store: EventStore
    ) -> None:
        # A chat of 10,000 messages snapshots to ~250 KB; every byte value, in no pattern a
        # compressor or an encoding could hide a bug behind.
        payload = random.Random(300).randbytes(300 * 1024)
        store.append("big", 0, [new_event(f"b{n}") for n in range(3)], snapshot=lambda: payload)
        store.append("big", 3, [new_event("b3"), new_event("b4")])

        loaded = store.load("big")

        assert loaded.snapshot is not None
        assert type(loaded.snapshot.payload) is bytes
        assert (loaded.snapshot.seq_nr, loaded.snapshot.payload) == (3, payload)
        assert [(e.seq_nr, json.loads(e.payload)) for e in loaded.events] == [(4, "b3"), (5, "b4")]
        assert all(type(e.payload) is bytes for e in loaded.events)
        assert loaded.version == 5
        assert [e.seq_nr for e in store.load("big", use_snapshot=False).events] == [1, 2, 3, 4, 5]

    def test_load_sees_a_snapshot_and_the_events_after_it_from_one_state_when_appends_race_it(
        self, store: EventStore
    ) -> None:
        # Whatever a load interleaves with, the snapshot it returns and the events after it come
        # from the same moment: together they give the state of a full replay up to the version.
        appends, loaders = 60, 2
        writer_done = threading.Event()
        problems: list[str] = []
        history = [f"r{n}" for n in range(1, appends + 1)]

        def write() -> None:
            try:
                for n in range(1, appends + 1):
                    snapshot = snapshot_of(history[:n])
                    store.append("raced", n - 1, [new_event(history[n - 1])], snapshot=snapshot)
            finally:
                writer_done.set()

        def load() -> None:
            while not writer_done.is_set():
                loaded = store.load("raced")
                after = 0 if loaded.snapshot is None else loaded.snapshot.seq_nr
                seq_nrs = [e.seq_nr for e in loaded.events]
                if seq_nrs != list(range(after + 1, loaded.version + 1)):
                    problems.append(f"snapshot at {after}, then events {seq_nrs}")
                elif fold(loaded) != history[: loaded.version]:
                    problems.append(f"version {loaded.version} folds to {fold(loaded)}")

        threads = [threading.Thread(target=catching(write, problems))]
        threads += [threading.Thread(target=catching(load, problems)) for _ in range(loaders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert problems == []
        assert fold(store.load("raced")) == history

    # -- read_all ----------------------------------------------------------------------------

    def test_pages_through_every_event_in_append_order_when_read_all_has_a_limit(
        self, store: EventStore
    ) -> None:
        self._require("supports_read_all")
        order = []
        for n in range(10):
            aggregate = f"agg-{n % 3}"
            store.append(aggregate, n // 3, [new_event(f"p{n}", metadata={"n": str(n)})])
            order.append(f"evt-p{n}")

        pages: list[Sequence[StoredEvent]] = []
        after = 0
        while page := store.read_all(after, limit=4):
            pages.append(page)
            after = page[-1].position or 0

        assert [len(p) for p in pages] == [4, 4, 2]
        events = [e for p in pages for e in p]
        assert [e.position for e in events] == list(range(1, 11))
        assert [e.event_id for e in events] == order
        assert [dict(e.metadata) for e in events] == [{"n": str(n)} for n in range(10)]
        assert list(store.read_all(10)) == []

    def test_load_reports_the_same_positions_as_read_all_when_both_read_an_event(
        self, store: EventStore
    ) -> None:
        self._require("supports_read_all")
        store.append("x", 0, [new_event("x1")])
        store.append("y", 0, [new_event("y1"), new_event("y2")])

        assert [e.position for e in store.load("y").events] == [2, 3]
        assert [(e.aggregate_id, e.seq_nr) for e in store.read_all(1)] == [("y", 1), ("y", 2)]

    # -- idempotency -------------------------------------------------------------------------

    def test_get_idempotency_returns_the_record_when_it_was_appended_with_the_events(
        self, store: EventStore
    ) -> None:
        record = idempotency("alice/create/k1", bytes(range(256)), fingerprint="f" * 64)

        store.append("agg", 0, [new_event("a")], idempotency=record)

        assert store.get_idempotency("alice/create/k1") == record
        assert store.load("agg").version == 1

    def test_get_idempotency_returns_none_when_the_key_was_never_recorded(
        self, store: EventStore
    ) -> None:
        store.append("agg", 0, [new_event("a")], idempotency=idempotency("known"))

        assert store.get_idempotency("unknown") is None
        assert store.get_idempotency("know") is None

    def test_raises_duplicate_key_and_writes_nothing_when_the_key_is_recorded(
        self, store: EventStore
    ) -> None:
        first = idempotency("k", b"first")
        store.append("one", 0, [new_event("one")], idempotency=first)

        with pytest.raises(DuplicateIdempotencyKeyError) as caught:
            store.append("two", 0, [new_event("two")], idempotency=idempotency("k", b"second"))

        assert caught.value.key == "k"
        assert store.load("two").version == 0
        assert store.get_idempotency("k") == first

    def test_records_no_key_when_the_append_loses_on_the_version(self, store: EventStore) -> None:
        store.append("agg", 0, [new_event("a")])

        with pytest.raises(ConcurrencyError):
            store.append("agg", 0, [new_event("b")], idempotency=idempotency("k"))

        assert store.get_idempotency("k") is None
        assert store.append("agg", 1, [new_event("b")], idempotency=idempotency("k")) == 2

    def test_ignores_then_replaces_the_record_when_it_has_expired(self, store: EventStore) -> None:
        store.append("agg", 0, [new_event("a")], idempotency=idempotency("k", b"old", ttl=-5))
        assert store.get_idempotency("k") is None

        fresh = idempotency("k", b"new", fingerprint="fp-2")
        store.append("agg", 1, [new_event("b")], idempotency=fresh)

        assert store.get_idempotency("k") == fresh

    def test_keys_are_compared_exactly_when_they_differ_in_case_or_length(
        self, store: EventStore
    ) -> None:
        longest = "x" * MAX_IDEMPOTENCY_KEY_LENGTH
        for n, key in enumerate(["Key", "key", "key ", longest, "ü/日本"]):
            store.append(f"agg-{n}", 0, [new_event(f"k{n}")], idempotency=idempotency(key))

        assert [store.get_idempotency(k) is not None for k in ("Key", "key", "KEY")] == [
            True,
            True,
            False,
        ]
        record = store.get_idempotency("ü/日本")
        assert record is not None
        assert record.key == "ü/日本"
        assert store.get_idempotency(longest) is not None

    @pytest.mark.parametrize(
        "key", ["", "x" * (MAX_IDEMPOTENCY_KEY_LENGTH + 1)], ids=["empty", "too-long"]
    )
    def test_raises_value_error_and_writes_nothing_when_the_key_is_malformed(
        self, store: EventStore, key: str
    ) -> None:
        with pytest.raises(ValueError, match="idempotency key"):
            store.append("agg", 0, [new_event("a")], idempotency=idempotency(key))

        assert store.load("agg").version == 0

    def test_purge_deletes_only_expired_records_when_called(self, store: EventStore) -> None:
        self._require("purges_idempotency")
        for n in range(3):
            store.append(
                f"old-{n}", 0, [new_event(f"old{n}")], idempotency=idempotency(f"o{n}", ttl=-1)
            )
        live = idempotency("live")
        store.append("new", 0, [new_event("new")], idempotency=live)

        assert store.purge_expired_idempotency(limit=2) == 2
        assert store.purge_expired_idempotency() == 1
        assert store.purge_expired_idempotency() == 0
        assert store.get_idempotency("live") == live
        assert [store.load(f"old-{n}").version for n in range(3)] == [1, 1, 1]

    def test_exactly_one_append_records_the_key_when_8_threads_race_with_it(
        self, store: EventStore
    ) -> None:
        # Each writer appends to its own aggregate (as concurrent creates of a new group chat
        # with the same key do): only the key can stop all but one.
        writers = 8
        barrier = threading.Barrier(writers, timeout=BARRIER_TIMEOUT_S)
        outcomes: list[object] = [None] * writers

        def write(worker: int) -> None:
            record = idempotency("raced", f"w{worker}".encode())
            barrier.wait()
            try:
                store.append(f"agg-{worker}", 0, [new_event(f"w{worker}")], idempotency=record)
                outcomes[worker] = "won"
            except DuplicateIdempotencyKeyError:
                outcomes[worker] = "duplicate"
            except ConcurrencyError:
                outcomes[worker] = "conflict"  # a transaction conflict on the key's row
            except Exception as exc:
                outcomes[worker] = exc

        run_threads(write, writers)

        assert outcomes.count("won") == 1, outcomes
        assert set(outcomes) <= {"won", "duplicate", "conflict"}, outcomes
        winner = outcomes.index("won")
        assert [store.load(f"agg-{w}").version for w in range(writers)] == [
            1 if w == winner else 0 for w in range(writers)
        ]
        record = store.get_idempotency("raced")
        assert record is not None
        assert record.response == f"w{winner}".encode()

    def test_keeps_idempotency_records_when_the_store_is_reopened(
        self, store_factory: StoreFactory
    ) -> None:
        self._require("reopens_storage")
        record = idempotency("k", b"kept")
        first = store_factory()
        first.append("agg", 0, [new_event("a")], idempotency=record)
        first.close()

        assert store_factory().get_idempotency("k") == record

    # -- storage -----------------------------------------------------------------------------

    def test_keeps_events_and_snapshots_when_the_store_is_reopened(
        self, store_factory: StoreFactory
    ) -> None:
        self._require("reopens_storage")
        first = store_factory(snapshot_interval=3)
        history = [f"e{n}" for n in range(4)]
        first.append("agg", 0, [new_event(n) for n in history], snapshot=snapshot_of(history))
        before = first.load("agg")
        first.close()

        reopened = store_factory(snapshot_interval=3)
        after = reopened.load("agg")

        assert after == before
        assert fold(after) == history
        assert reopened.append("agg", 4, [new_event("e4")]) == 5

    def test_both_stores_work_when_two_are_opened_on_the_same_storage(
        self, store_factory: StoreFactory
    ) -> None:
        self._require("reopens_storage")
        one = store_factory()
        two = store_factory()  # creating the schema again must be a harmless no-op

        one.append("agg", 0, [new_event("a")])
        two.append("agg", 1, [new_event("b")])

        assert [e.event_id for e in one.load("agg").events] == ["evt-a", "evt-b"]
        with pytest.raises(ConcurrencyError):
            one.append("agg", 1, [new_event("c")])

    def test_every_store_works_when_several_are_opened_at_once_on_new_storage(
        self, store_factory: StoreFactory
    ) -> None:
        self._require("reopens_storage")
        count = 4
        barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
        stores: list[EventStore] = [None] * count  # type: ignore[list-item]

        def open_store(i: int) -> None:
            barrier.wait()  # all create the schema at the same moment
            stores[i] = store_factory()

        run_threads(open_store, count)

        for i, store in enumerate(stores):
            store.append(f"agg-{i}", 0, [new_event(f"s{i}")])
        assert [stores[0].load(f"agg-{i}").version for i in range(count)] == [1] * count


def store_without_snapshots(store: EventStore, aggregate_id: str) -> list[StoredEvent]:
    """All events of an aggregate appended without snapshot factories (so none is skipped)."""
    loaded = store.load(aggregate_id)
    assert loaded.snapshot is None
    return list(loaded.events)


def catching(target: Callable[[], None], problems: list[str]) -> Callable[[], None]:
    """Run `target`, recording an exception in `problems` (a thread cannot fail the test)."""

    def run() -> None:
        try:
            target()
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")

    return run


def run_threads(target: Callable[[int], None], count: int) -> None:
    """Run `target(i)` in `count` threads; re-raise the first exception any of them raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
