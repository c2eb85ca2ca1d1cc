"""In-memory event store: for unit tests and throwaway runs. Nothing survives the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType

from event_store._types import (
    DEFAULT_SNAPSHOT_INTERVAL,
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStoreError,
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


class InMemoryEventStore:
    """An `EventStore` held in process memory, safe to share between threads.

    It follows the same rules as the SQL backends (conditional append, snapshots every
    `snapshot_interval` events, a gap-free global position starting at 1, unique event ids), so
    code tested against it behaves the same on a real backend.
    """

    def __init__(self, snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL) -> None:
        if snapshot_interval < 0:
            raise ValueError("snapshot_interval must be >= 0 (0 disables snapshots)")
        self.snapshot_interval = snapshot_interval
        # One lock for everything: appends are short and this backend is not about throughput.
        self._lock = threading.Lock()
        self._log: list[StoredEvent] = []  # index i holds position i + 1
        self._streams: dict[str, list[StoredEvent]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._event_ids: set[str] = set()
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._purge = PurgeSchedule()

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
        validate_idempotency(idempotency)
        new_version = expected_version + len(events)
        # The factory runs before the lock: it is caller code and may be slow. Its result is
        # simply discarded when the append below fails.
        snapshot_payload = (
            snapshot()
            if snapshot is not None
            and snapshot_due(expected_version, new_version, self.snapshot_interval)
            else None
        )
        with self._lock:
            if idempotency is not None:
                existing = self._idempotency.get(idempotency.key)
                if existing is not None and not existing.expired():
                    raise DuplicateIdempotencyKeyError(idempotency.key)
            stream = self._streams.get(aggregate_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyError(aggregate_id, expected_version, len(stream))
            ids = [event.event_id for event in events]
            if len(set(ids)) != len(ids) or not self._event_ids.isdisjoint(ids):
                raise EventStoreError(f"aggregate {aggregate_id!r}: duplicate event id in {ids}")
            stored = [
                StoredEvent(
                    aggregate_id=aggregate_id,
                    seq_nr=expected_version + offset,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    payload=bytes(event.payload),
                    occurred_at_ms=event.occurred_at_ms,
                    metadata=dict(event.metadata),
                    position=len(self._log) + offset,
                )
                for offset, event in enumerate(events, start=1)
            ]
            self._streams[aggregate_id] = [*stream, *stored]
            self._log.extend(stored)
            self._event_ids.update(ids)
            if snapshot_payload is not None:
                self._snapshots[aggregate_id] = Snapshot(
                    aggregate_id, new_version, snapshot_payload
                )
            if idempotency is not None:
                self._idempotency[idempotency.key] = idempotency
        if idempotency is not None and self._purge.due():
            self.purge_expired_idempotency()
        return new_version

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record under `key`, or None; see `EventStore.get_idempotency`."""
        with self._lock:
            record = self._idempotency.get(key)
        return None if record is None or record.expired() else record

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        """Delete up to `limit` expired idempotency records; return how many."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        now = time.time()
        with self._lock:
            expired = [k for k, r in self._idempotency.items() if r.expired(now)][:limit]
            for key in expired:
                del self._idempotency[key]
        return len(expired)

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        """The latest snapshot (unless `use_snapshot` is false) and the events after it."""
        with self._lock:
            stream = self._streams.get(aggregate_id, [])
            latest = self._snapshots.get(aggregate_id) if use_snapshot else None
        after = latest.seq_nr if latest is not None else 0
        return LoadedStream(aggregate_id, latest, stream[after:], len(stream))

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Events with position > `after_position`, in position order, at most `limit`."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        start = max(after_position, 0)
        with self._lock:
            return self._log[start : start + limit]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> InMemoryEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
