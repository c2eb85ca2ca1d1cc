"""Replay the journal aggregate by aggregate: rebuild a read model without a global order.

The SQL poller (`read_model_updater.poller`) replays a journal by its global position. A
DynamoDB journal has none, and its stream keeps only 24 hours, so this module replays it one
aggregate at a time instead: list the aggregates (`DynamoDBEventStore.aggregate_ids`, a Scan of
the snapshot table), read each one's events in seq_nr order (`load(id, use_snapshot=False)`)
and feed them through the same `read_model_updater.core.apply` as the stream Lambda, without a
checkpoint. That is enough for a correct read model: every view row belongs to one chat, and
the projector only needs each chat's events in order (`projection_positions`), never an order
across chats.

- `rebuild(settings)`: drop the read model, recreate it and replay every aggregate
  (`cqrs-es rebuild-read-model` with a `dynamodb://` event store).
- `reproject(settings, aggregate_ids)`: for each chat, remove its rows, position and parked
  events (`read_model.projector.forget`, one transaction), then replay its events; the rest of
  the read model is not touched (`cqrs-es rebuild-read-model --aggregate`, any event store).

Both read and apply one aggregate at a time, in transactions of at most `batch_size` events, so
memory and transaction size are bounded by the largest chat. Neither retries errors: run the
command again (a rebuild starts over; a re-projection forgets the chat again).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from event_store import EventStore, StoredEvent
from read_model.db import unavailable_on_database_errors
from read_model.projector import Outcome, forget
from sqlalchemy import Engine

from read_model_updater.core import apply
from read_model_updater.poller import UpdaterConfigError
from read_model_updater.settings import Settings

__all__ = [
    "AggregateLister",
    "ReplayProgress",
    "rebuild",
    "replay_aggregate",
    "reproject",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

OnAggregate = Callable[[str, Counter[Outcome]], None]
"""Called after each aggregate with its id and its events' outcomes (for progress output)."""


@runtime_checkable
class AggregateLister(Protocol):
    """An event store that can list its aggregates (`DynamoDBEventStore`)."""

    def aggregate_ids(self) -> Iterator[str]:
        """Every aggregate id that has events, each once."""
        ...


@dataclass
class ReplayProgress:
    """What a replay did: aggregates replayed and their events per outcome."""

    aggregates: int = 0
    counts: Counter[Outcome] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        """How many events were handled (every outcome)."""
        return sum(self.counts.values())

    @property
    def complete(self) -> bool:
        """Whether every event was applied, skipped as a duplicate or parked (no gap left)."""
        return self.counts[Outcome.GAP] == 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        line = (
            f"{self.aggregates} aggregates, {self.events} events: "
            f"{self.counts[Outcome.APPLIED]} applied, {self.counts[Outcome.DUPLICATE]} duplicates, "
            f"{self.counts[Outcome.PARKED]} parked"
        )
        return line if self.complete else f"{line}, {self.counts[Outcome.GAP]} NOT applied (gap)"


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def replay_aggregate(
    engine: Engine, events: Sequence[StoredEvent], *, batch_size: int
) -> Counter[Outcome]:
    """Apply one aggregate's events (seq_nr order, from 1) in transactions of `batch_size`.

    Events already applied are duplicates, so replaying over a partly projected chat is safe.
    Raises `read_model.ReadModelUnavailableError` when the read model cannot be used.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    counts: Counter[Outcome] = Counter()
    for chunk in _chunks(events, batch_size):
        counts.update(r.outcome for r in apply(engine, chunk).results)
    return counts


def _open(settings: Settings) -> tuple[EventStore, Engine]:
    import read_model
    from event_store.url import open_event_store

    store = open_event_store(settings.event_store_url)
    return store, read_model.create_engine_for(settings.read_model_url, pool_size=2)


def rebuild(
    settings: Settings,
    *,
    batch_size: int | None = None,
    on_aggregate: OnAggregate | None = None,
) -> ReplayProgress:
    """Drop the read model, recreate it empty and replay every aggregate of the journal into it.

    For event stores without a global order (DynamoDB). Raises `UpdaterConfigError` when the
    store cannot list its aggregates. Stop the projection first (on AWS: disable the stream's
    event source mapping; the stream keeps what arrives meanwhile for 24 hours, and those events
    are duplicates or the next ones when it is enabled again).
    """
    import read_model

    size = batch_size or settings.batch_size
    store, engine = _open(settings)
    try:
        if not isinstance(store, AggregateLister):
            raise UpdaterConfigError(
                f"{type(store).__name__} cannot list its aggregates: replay it by position"
            )
        listed = store.aggregate_ids()
        # The first page is read before the read model is dropped: missing tables or
        # credentials fail here, with the old read model still in place.
        first = next(listed, None)
        read_model.reset(settings.read_model_url)
        read_model.migrate(settings.read_model_url)
        progress = ReplayProgress()
        for aggregate_id in itertools.chain([] if first is None else [first], listed):
            loaded = store.load(aggregate_id, use_snapshot=False)
            counts = replay_aggregate(engine, loaded.events, batch_size=size)
            progress.aggregates += 1
            progress.counts.update(counts)
            if on_aggregate is not None:
                on_aggregate(aggregate_id, counts)
        return progress
    finally:
        store.close()
        engine.dispose()


def reproject(
    settings: Settings,
    aggregate_ids: Iterable[str],
    *,
    batch_size: int | None = None,
    on_aggregate: OnAggregate | None = None,
) -> ReplayProgress:
    """Re-project only the given chats: forget each one's rows, then replay its events.

    Works with every persistent event store (it reads per aggregate, not by position); the
    rest of the read model and the poller's checkpoint are not touched, so the updater may keep
    running. Each chat's rows are removed in one transaction, then replayed in transactions of
    `batch_size` events: in between, queries do not see the chat (briefly), and a concurrent
    updater delivering the chat's next event finds a gap and retries it later (a duplicate or
    the next event by then).

    Every id is checked against the journal before anything changes: an id without events
    raises `UpdaterConfigError`, as does a read model that has not been migrated.
    """
    import read_model

    ids = list(dict.fromkeys(aggregate_ids))  # once each, in the order given
    if settings.event_store_url.partition("://")[0].lower() == "memory":
        raise UpdaterConfigError("a memory:// event store lives in one process: nothing to replay")
    if read_model.current_revision(settings.read_model_url) is None:
        raise UpdaterConfigError("the read model has no tables yet: run `cqrs-es migrate` first")
    size = batch_size or settings.batch_size
    store, engine = _open(settings)
    try:
        # Load first: a typo in one id must not leave another chat forgotten.
        histories = {
            aggregate_id: store.load(aggregate_id, use_snapshot=False) for aggregate_id in ids
        }
        unknown = [aggregate_id for aggregate_id, loaded in histories.items() if not loaded.events]
        if unknown:
            raise UpdaterConfigError(
                f"no events in the journal for {', '.join(unknown)}; nothing was changed"
            )
        progress = ReplayProgress()
        for aggregate_id, loaded in histories.items():
            with unavailable_on_database_errors(), engine.begin() as connection:
                deleted = forget(connection, aggregate_id)
            log.info("forgot %s: %s", aggregate_id, deleted)
            counts = replay_aggregate(engine, loaded.events, batch_size=size)
            progress.aggregates += 1
            progress.counts.update(counts)
            if on_aggregate is not None:
                on_aggregate(aggregate_id, counts)
        return progress
    finally:
        store.close()
        engine.dispose()
