"""The event store port: what every backend implements. Payloads are opaque bytes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_SNAPSHOT_INTERVAL = 100

MAX_IDEMPOTENCY_KEY_LENGTH = 1024
"""Longest idempotency record key a store accepts, in UTF-8 bytes (DynamoDB's sort key limit)."""


class EventStoreError(Exception):
    """Base class of the event store's own errors."""


class ConcurrencyError(EventStoreError):
    """The aggregate's version is not the one the writer expected (a concurrent append won)."""

    def __init__(self, aggregate_id: str, expected_version: int, actual_version: int | None = None):
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        detail = "" if actual_version is None else f", found {actual_version}"
        super().__init__(f"aggregate {aggregate_id!r}: expected version {expected_version}{detail}")


class EventStoreUnavailableError(EventStoreError):
    """The backend cannot be reached right now (retryable; a 503 at the edge)."""


class DuplicateIdempotencyKeyError(EventStoreError):
    """An append carried an idempotency key that an unexpired record already holds.

    Nothing was written. The caller reads the record (`get_idempotency`) and answers with the
    response it holds: the first request with this key won.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} is already recorded")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. `metadata` carries cross-cutting context (trace context, …)."""

    event_id: str
    event_type: str
    payload: bytes
    occurred_at_ms: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its aggregate, per-aggregate sequence number and global position.

    `position` is the gap-free global position of the SQL backends (None where the backend has
    no global order, e.g. DynamoDB, whose stream is ordered per aggregate only).
    """

    aggregate_id: str
    seq_nr: int
    event_id: str
    event_type: str
    payload: bytes
    occurred_at_ms: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    position: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The aggregate's serialized state as of `seq_nr` (the store does not interpret it)."""

    aggregate_id: str
    seq_nr: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class LoadedStream:
    """What `load` returns: the latest snapshot (if any), the events after it, and the version.

    `version` is the seq_nr of the aggregate's last event (0 when it has none); it is what a
    writer passes as `expected_version` to append after this state.
    """

    aggregate_id: str
    snapshot: Snapshot | None
    events: Sequence[StoredEvent]
    version: int


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The outcome of a request, stored with the events it appended (see `EventStore.append`).

    The store does not interpret it: `key` is the caller's already scoped key (1 to
    `MAX_IDEMPOTENCY_KEY_LENGTH` bytes, e.g. executor, command and the client's key),
    `fingerprint` identifies the request (a hash of its body), `response` is what the caller
    answered, to be answered again to a retry. `expires_at` (Unix time, seconds) is when the
    record stops counting: from then on the store ignores it, replaces it on an append with the
    same key, and deletes it sooner or later.
    """

    key: str
    fingerprint: str
    response: bytes
    expires_at: int

    def expired(self, now: float | None = None) -> bool:
        """Whether the record no longer counts at `now` (Unix seconds; default: the clock)."""
        return self.expires_at <= (time.time() if now is None else now)


SnapshotFactory = Callable[[], bytes]
"""Called by `append` only when a snapshot is due; returns the state after the new events."""


@runtime_checkable
class EventStore(Protocol):
    """Append-only journal of events per aggregate, with snapshots and a global read order."""

    snapshot_interval: int
    """A snapshot is written whenever the version crosses a multiple of this (0: never)."""

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        """Append `events` atomically if the aggregate is at `expected_version`.

        The events get seq_nr expected_version+1, +2, … When the new version crosses a multiple
        of `snapshot_interval` and `snapshot` is given, the snapshot it returns is written in
        the same transaction. Returns the new version. Raises `ConcurrencyError` when the
        aggregate is not at `expected_version` (and writes nothing, snapshot included), and
        `ValueError` for an empty `events`, a negative `expected_version` or an empty id.
        The factory may be called before the version check, so it must not have side effects.

        `idempotency` is recorded in the same transaction as the events: both are written or
        neither is. If an unexpired record with the same key exists, nothing is written and
        `DuplicateIdempotencyKeyError` is raised (an expired one is replaced). A malformed
        record (empty or too long key) is a `ValueError`.
        """
        ...

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record stored under `key`, or None (never stored, or expired).

        Reads the latest committed state (consistent read): a record committed by an append
        that returned is always found.
        """
        ...

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        """Delete up to `limit` expired idempotency records; return how many were deleted.

        Expired records are already ignored; this only reclaims their space. Backends also
        purge by themselves from time to time (DynamoDB: its TTL deletes them, and this
        returns 0).
        """
        ...

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        """The latest snapshot and only the events after it (an unknown id gives version 0).

        With `use_snapshot=False`, no snapshot and every event from seq_nr 1: what a caller
        needs to rebuild the state when it cannot use the snapshot (one written in an older
        state format, say).
        """
        ...

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Events of every aggregate with position > `after_position`, in position order.

        Positions are gap-free and a reader tailing with this never skips an event, even while
        concurrent writers commit. Backends without a global order (DynamoDB, whose change
        stream replaces this) raise `NotImplementedError`.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def snapshot_due(old_version: int, new_version: int, interval: int) -> bool:
    """Whether a multiple of `interval` lies in (old_version, new_version]."""
    return interval > 0 and new_version // interval > old_version // interval


def validate_append(aggregate_id: str, expected_version: int, events: Sequence[NewEvent]) -> None:
    """Reject an append that no backend should accept (shared by the backends)."""
    if not aggregate_id:
        raise ValueError("aggregate_id must not be empty")
    if expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
    if not events:
        raise ValueError("append needs at least one event")


def validate_idempotency(record: IdempotencyRecord | None) -> None:
    """Reject an idempotency record no backend should store (shared by the backends)."""
    if record is None:
        return
    size = len(record.key.encode())
    if not 1 <= size <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(
            f"an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} bytes of UTF-8, got {size}"
        )


class PurgeSchedule:
    """Says when a backend should purge expired idempotency records: every `every` appends
    that carried one. Not thread-safe on purpose: a lost increment only shifts a purge."""

    def __init__(self, every: int = 256) -> None:
        self.every = every
        self._count = 0

    def due(self) -> bool:
        """Count one idempotent append; True on every `every`-th."""
        self._count += 1
        return self.every > 0 and self._count % self.every == 0
