"""The event store port: what every backend implements. Payloads are opaque bytes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

DEFAULT_SNAPSHOT_INTERVAL = 100


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
    ) -> int:
        """Append `events` atomically if the aggregate is at `expected_version`.

        The events get seq_nr expected_version+1, +2, … When the new version crosses a multiple
        of `snapshot_interval` and `snapshot` is given, the snapshot it returns is written in
        the same transaction. Returns the new version. Raises `ConcurrencyError` when the
        aggregate is not at `expected_version` (and writes nothing, snapshot included), and
        `ValueError` for an empty `events`, a negative `expected_version` or an empty id.
        The factory may be called before the version check, so it must not have side effects.
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
