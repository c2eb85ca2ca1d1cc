"""The local updater: tail a SQL event store by global position and apply it to the read model.

The poller keeps its place in the journal as a checkpoint in the read model
(`projection_checkpoints`, default name `sql-journal`). Each batch is read after the checkpoint
and handed to `read_model_updater.core.apply` with that checkpoint, so the batch's effects and the
checkpoint's advance commit in the same transaction: a poller stopped at any moment (even killed)
resumes exactly where the read model says it stopped, and re-reading a batch only meets
duplicates, which are skipped.

`serve(settings)` is the process (`cqrs-es updater`): it opens the stores, polls until SIGTERM or
SIGINT, finishes the batch in progress and returns 0. While a database is unavailable it retries
with exponential backoff. It does not create the read-model tables unless asked (`migrate=True`,
`cqrs-es updater --migrate`): schema changes are a deliberate step (`cqrs-es migrate`), run once,
not by every replica at start-up.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import telemetry
from event_store import EventStore, EventStoreUnavailableError
from read_model import ReadModelUnavailableError
from read_model.db import unavailable_on_database_errors
from read_model.projector import Outcome, load_checkpoint
from sqlalchemy import Engine

from read_model_updater.core import ApplyResult, apply
from read_model_updater.settings import DEFAULT_CHECKPOINT, Settings

if TYPE_CHECKING:
    from types import FrameType

__all__ = [
    "Poller",
    "Progress",
    "UpdaterConfigError",
    "check_event_store_url",
    "configure_telemetry",
    "rebuild",
    "serve",
]

log = logging.getLogger(__name__)

INITIAL_BACKOFF_SECONDS: Final = 0.2
SERVICE_NAME: Final = "read-model-updater"

RETRYABLE: Final = (ReadModelUnavailableError, EventStoreUnavailableError)
"""Errors that mean "a database is unavailable right now": retried, never fatal."""

_T = TypeVar("_T")


class UpdaterConfigError(Exception):
    """The updater cannot run with this configuration (exit status 2); the message says why."""


@dataclass
class Progress:
    """What a poller did so far: events per outcome, batches, and the checkpoint reached."""

    counts: Counter[Outcome] = field(default_factory=Counter)
    batches: int = 0
    position: int = 0

    @property
    def events(self) -> int:
        """How many events were handled (every outcome)."""
        return sum(self.counts.values())

    def add(self, result: ApplyResult) -> None:
        """Account for one applied batch."""
        if not result.results:
            return
        self.batches += 1
        self.counts.update(r.outcome for r in result.results)
        last = result.results[-1].event.position
        if last is not None:
            self.position = max(self.position, last)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"{self.events} events in {self.batches} batches: "
            f"{self.counts[Outcome.APPLIED]} applied, {self.counts[Outcome.DUPLICATE]} duplicates, "
            f"{self.counts[Outcome.PARKED]} parked; journal position {self.position}"
        )


class Poller:
    """Applies a SQL event store's journal to the read model, batch by batch, from a checkpoint.

    `store` must have a global order (`read_all`): SQLite or PostgreSQL. Safe to stop at any
    point; a new `Poller` on the same read model continues where the last commit left off.
    """

    def __init__(
        self,
        store: EventStore,
        engine: Engine,
        *,
        checkpoint: str = DEFAULT_CHECKPOINT,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        max_backoff: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.store = store
        self.engine = engine
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.progress = Progress()

    def position(self) -> int:
        """The journal position the read model has applied up to (the durable checkpoint)."""
        with unavailable_on_database_errors(), self.engine.connect() as connection:
            return load_checkpoint(connection, self.checkpoint)

    def poll_once(self) -> ApplyResult:
        """Read the next batch after the checkpoint and apply it (an empty result: caught up).

        Raises `ReadModelUnavailableError` / `EventStoreUnavailableError`; nothing is lost then,
        the next call starts again from the durable checkpoint.
        """
        # One connection per poll, for the checkpoint read and the batch's transaction (a pool
        # checkout, with its ping, and a return cost about as much CPU as applying an event).
        with unavailable_on_database_errors(), self.engine.connect() as connection:
            after = load_checkpoint(connection, self.checkpoint)
            events = self.store.read_all(after_position=after, limit=self.batch_size)
            result = apply(connection, events, checkpoint=self.checkpoint)
        self.progress.add(result)
        if not result.results:
            self.progress.position = max(self.progress.position, after)
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("applied batch after position %d: %s", after, dict(result.counts))
        return result

    def catch_up(self, stop: threading.Event | None = None) -> Progress:
        """Apply batches until the journal has nothing more (or `stop` is set); errors raise."""
        while stop is None or not stop.is_set():
            if len(self.poll_once().results) < self.batch_size:
                break
        return self.progress

    def run(self, stop: threading.Event) -> Progress:
        """Poll until `stop` is set, finishing the batch in progress; retry unavailability."""
        backoff = INITIAL_BACKOFF_SECONDS
        while not stop.is_set():
            try:
                result = self.poll_once()
            except RETRYABLE as error:
                log.warning(
                    "database unavailable (%s); retrying in %.1f s", _describe(error), backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = INITIAL_BACKOFF_SECONDS
            if len(result.results) < self.batch_size:
                # Caught up: wait for new events (or for stop, which ends the wait at once).
                stop.wait(self.poll_interval)
        return self.progress


def _describe(error: BaseException) -> str:
    cause = error.__cause__ or error
    return f"{type(error).__name__}: {cause}".splitlines()[0][:300]


def _until_available(what: str, action: Callable[[], _T], stop: threading.Event) -> _T | None:
    """Run `action` until it does not raise a retryable error; None if stopped meanwhile."""
    backoff = INITIAL_BACKOFF_SECONDS
    while not stop.is_set():
        try:
            return action()
        except RETRYABLE as error:
            log.warning("%s: unavailable (%s); retrying in %.1f s", what, _describe(error), backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)
    return None


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (the batch in progress finishes); restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    previous: dict[signal.Signals, Any] = {
        signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def check_event_store_url(url: str) -> None:
    """Raise `UpdaterConfigError` unless `url` names a store the poller can tail."""
    scheme = url.partition("://")[0].lower()
    if scheme == "dynamodb":
        raise UpdaterConfigError(
            "a DynamoDB event store is projected by the DynamoDB Streams Lambda "
            "(read_model_updater.lambda_handler), not by the SQL poller"
        )
    if scheme == "memory":
        raise UpdaterConfigError("a memory:// event store lives in one process: nothing to tail")


def serve(
    settings: Settings, *, migrate: bool = False, stop: threading.Event | None = None
) -> Progress:
    """Run the updater process until `stop` is set (by default: until SIGTERM or SIGINT).

    Raises `UpdaterConfigError` for an unusable configuration (a DynamoDB event store, a read
    model that has not been migrated and `migrate` is false).
    """
    import read_model
    from event_store.url import open_event_store

    check_event_store_url(settings.event_store_url)
    own_stop = stop is None
    stop = threading.Event() if stop is None else stop
    with _stop_on_signals(stop) if own_stop else nullcontext():
        if (
            migrate
            and _until_available("migrating the read model", _migrate(settings), stop) is None
        ):
            return Progress()
        revision = _until_available(
            "the read model", lambda: read_model.current_revision(settings.read_model_url), stop
        )
        if stop.is_set():
            return Progress()
        if revision is None:
            raise UpdaterConfigError(
                "the read model has no tables yet: run `cqrs-es migrate` first "
                "(or start the updater with --migrate)"
            )
        if revision != read_model.head_revision():
            log.warning(
                "the read model is at revision %s, this updater expects %s",
                revision,
                read_model.head_revision(),
            )
        store = _until_available(
            "the event store", lambda: open_event_store(settings.event_store_url), stop
        )
        if store is None:
            return Progress()
        engine = read_model.create_engine_for(settings.read_model_url, pool_size=2)
        poller = Poller(
            store,
            engine,
            checkpoint=settings.checkpoint,
            batch_size=settings.batch_size,
            poll_interval=settings.poll_interval_seconds,
            max_backoff=settings.max_backoff_seconds,
        )
        started = time.monotonic()
        try:
            log.info("updater started at journal position %s", _safe_position(poller))
            progress = poller.run(stop)
        finally:
            store.close()
            engine.dispose()
        log.info("updater stopped after %.1f s: %s", time.monotonic() - started, progress.summary())
        return progress


def _migrate(settings: Settings) -> Callable[[], bool]:
    def action() -> bool:
        import read_model

        read_model.migrate(settings.read_model_url)
        return True

    return action


def _safe_position(poller: Poller) -> int | str:
    try:
        return poller.position()
    except RETRYABLE:
        return "unknown (read model unavailable)"


def configure_telemetry() -> telemetry.Telemetry:
    """JSON logs and, if `OTEL_*` ask for it, tracing for the updater process."""
    return telemetry.configure(SERVICE_NAME)


def rebuild(settings: Settings, *, batch_size: int | None = None) -> Progress:
    """Drop the read model, recreate it empty and replay the whole journal into it.

    The replay goes through the same `apply` core as the poller and ends with the poller's
    checkpoint at the journal's end, so a poller started afterwards carries on from there. Stop
    the updater first: a poller writing meanwhile would fail on the dropped tables. Errors are
    not retried (run it again: it starts over).
    """
    import read_model
    from event_store.url import open_event_store

    check_event_store_url(settings.event_store_url)
    read_model.reset(settings.read_model_url)
    read_model.migrate(settings.read_model_url)
    store = open_event_store(settings.event_store_url)
    engine = read_model.create_engine_for(settings.read_model_url, pool_size=2)
    try:
        poller = Poller(
            store,
            engine,
            checkpoint=settings.checkpoint,
            batch_size=batch_size or settings.batch_size,
        )
        return poller.catch_up()
    finally:
        store.close()
        engine.dispose()
