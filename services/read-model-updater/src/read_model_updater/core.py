"""The apply core: stored events in, read-model changes out, exactly once per event.

`apply(engine_or_connection, events)` is shared by the local SQL poller
(`read_model_updater.poller`) and the DynamoDB Streams Lambda handler. It decodes each
`StoredEvent` with the domain codec, projects it with `read_model.projector.project`, and reports
one `EventResult` per input event, in input order.

Transactions
------------
A batch is applied in ONE transaction (the fast path): every event's statements, every
aggregate's position and, for the SQL poller, the journal checkpoint commit together, so a crash
leaves either the whole batch or none of it. If that transaction fails with an error that is not
"the database is unavailable" (a constraint violation, a `ProjectionError`: something one
poisoned event causes), it is rolled back, nothing is lost, and the batch is applied again with
one transaction per event (the slow path). There the failing event is isolated: it is parked with
the error as reason, in a transaction of its own, and the other events are applied.

Outcomes (`read_model.projector.Outcome`)
-----------------------------------------
- `APPLIED`: projected now.
- `DUPLICATE`: applied before (at-least-once input); skipped.
- `PARKED`: can never be applied, so it was recorded in `parked_events` and does not block
  anything else: the payload is undecodable, or its envelope contradicts the stored record, or
  projecting it failed on a database constraint, or an earlier event of the same aggregate is
  parked (its position can never reach this event; reason "predecessor parked").
- `GAP`: a predecessor has not been applied yet; nothing was written. Without a checkpoint (the
  Lambda), the caller must deliver the event again later (report it as a batch item failure).
  With a checkpoint (the SQL journal, a gap-free total order) a gap can never fill, since every
  predecessor has a smaller position and was already seen: the event is parked instead.

Within one call, events are tried in input order; an event that was a gap is tried again after
later events of the batch were applied (input that is out of order within a batch is fixed up,
never applied out of order).

Errors
------
`read_model.ReadModelUnavailableError` when the read model cannot be reached or used (down,
locked, not migrated): part of the batch may have committed on the slow path, so deliver the
whole batch again (duplicates are skipped). Any other exception is a bug and propagates with
nothing of the current transaction committed.

Tracing: one span per call (`read-model apply`) and one per event (`project <type>`). The event
span continues the trace of the command that produced the event: its parent is the command's
span, stored in the event's metadata (`telemetry.extract_context(event.metadata)`), so a command
is ONE trace from the HTTP request to its projection; it links to the batch span, which is a
trace of its own holding the batch's outcome counts. It follows that trace's sampling decision
(a command not sampled gives projection spans that are not recorded either). An event without a
stored trace context (written with tracing off) gets a span nested under the batch span instead.
Nothing is imported from OpenTelemetry while tracing is off.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import telemetry
from chat_domain import Event, decode
from event_store import StoredEvent
from read_model.db import unavailable_on_database_errors
from read_model.projector import (
    Outcome,
    ProjectionError,
    park,
    parked_predecessor,
    project,
    save_checkpoint,
)
from sqlalchemy import Connection, Engine, exc

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["ApplyResult", "EventResult", "Outcome", "apply"]

log = logging.getLogger(__name__)

_TRACER_NAME: Final = "read_model_updater"


@dataclass(frozen=True, slots=True)
class EventResult:
    """What `apply` did with one input event. `reason` says why it was parked or is a gap."""

    event: StoredEvent
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The per-event results of one `apply` call: `results[i]` is about `events[i]`."""

    results: tuple[EventResult, ...]

    @property
    def counts(self) -> Mapping[Outcome, int]:
        """How many events ended with each outcome (every outcome present, possibly 0)."""
        counted = Counter(r.outcome for r in self.results)
        return {outcome: counted[outcome] for outcome in Outcome}

    @property
    def retry(self) -> tuple[EventResult, ...]:
        """The events that must be delivered again (gaps), in input order."""
        return tuple(r for r in self.results if r.outcome.needs_retry)

    @property
    def first_retry_index(self) -> int | None:
        """The input index of the first event to deliver again, or None when all are done."""
        return next((i for i, r in enumerate(self.results) if r.outcome.needs_retry), None)

    @property
    def parked(self) -> tuple[EventResult, ...]:
        """The events parked by this call (or re-parked on redelivery), in input order."""
        return tuple(r for r in self.results if r.outcome is Outcome.PARKED)


@dataclass(frozen=True, slots=True)
class _Item:
    """One input event, decoded (`event`) or not (`undecodable` says why)."""

    stored: StoredEvent
    event: Event | None
    undecodable: str | None


def _decode(stored: StoredEvent) -> _Item:
    try:
        event = decode(stored.event_type, None, bytes(stored.payload))
    except Exception as error:  # decoding is pure: whatever it raises, it raises every time
        return _Item(stored, None, f"undecodable: {type(error).__name__}: {error}")
    if str(event.aggregate_id) != stored.aggregate_id or event.seq_nr != stored.seq_nr:
        return _Item(
            stored,
            None,
            f"envelope mismatch: the payload is {event.aggregate_id} #{event.seq_nr}, "
            f"stored as {stored.aggregate_id} #{stored.seq_nr}",
        )
    return _Item(stored, event, None)


def _park(connection: Connection, stored: StoredEvent, reason: str) -> None:
    if park(
        connection,
        aggregate_id=stored.aggregate_id,
        seq_nr=stored.seq_nr,
        event_id=stored.event_id,
        event_type=stored.event_type,
        payload=stored.payload,
        reason=reason,
    ):
        log.error(
            "parked event %s #%s (%s, position %s): %s",
            stored.aggregate_id,
            stored.seq_nr,
            stored.event_type,
            stored.position,
            reason,
            extra={"aggregate_id": stored.aggregate_id, "seq_nr": stored.seq_nr},
        )


def _apply_one(connection: Connection, item: _Item, *, park_gaps: bool) -> EventResult:
    """Project or park one event in `connection`'s transaction."""
    stored = item.stored
    if item.event is None:
        reason = item.undecodable or "undecodable"
        _park(connection, stored, reason)
        return EventResult(stored, Outcome.PARKED, reason)
    outcome = project(connection, item.event)
    if outcome is not Outcome.GAP:
        return EventResult(stored, outcome)
    blocker = parked_predecessor(connection, stored.aggregate_id, stored.seq_nr)
    if blocker is not None:
        reason = f"predecessor parked: #{blocker} of the same aggregate"
    elif park_gaps:
        reason = "gap: a predecessor is missing from the journal and can never be applied"
    else:
        return EventResult(stored, Outcome.GAP, "a predecessor has not been applied yet")
    _park(connection, stored, reason)
    return EventResult(stored, Outcome.PARKED, reason)


# -- tracing -----------------------------------------------------------------------------------


def _span(name: str, **kwargs: Any) -> AbstractContextManager[Span | None]:
    """A span when tracing is on; otherwise a no-op that imports nothing."""
    if not telemetry.tracing_enabled():
        return nullcontext()
    return telemetry.get_tracer(_TRACER_NAME).start_as_current_span(name, **kwargs)


def _continuation(metadata: Mapping[str, str]) -> dict[str, Any]:
    """`start_as_current_span` arguments that continue the trace stored in `metadata`.

    With a stored trace context: the command's span is the parent and the current (batch) span
    is linked, so the projection is part of the command's trace and the batch stays one click
    away. Without one (events written with tracing off): no arguments, the span nests under the
    batch span as usual.
    """
    from opentelemetry import trace

    # Only strings are trace headers; metadata read back from JSON may hold other values.
    command = telemetry.extract_context({k: v for k, v in metadata.items() if isinstance(v, str)})
    if not trace.get_current_span(command).get_span_context().is_valid:
        return {}
    batch = trace.get_current_span().get_span_context()
    return {"context": command, "links": [trace.Link(batch)] if batch.is_valid else []}


@contextmanager
def _event_span(stored: StoredEvent) -> Iterator[Callable[[EventResult], None]]:
    """A span for one event, continuing its command's trace; yields a function to record the
    outcome on it."""
    if not telemetry.tracing_enabled():
        yield lambda _result: None
        return
    from opentelemetry.trace import SpanKind, StatusCode

    attributes = {
        "event.type": stored.event_type,
        "event.id": stored.event_id,
        "event.aggregate_id": stored.aggregate_id,
        "event.seq_nr": stored.seq_nr,
    }
    if stored.position is not None:
        attributes["event.position"] = stored.position
    with _span(
        f"project {stored.event_type}",
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        **_continuation(stored.metadata),
    ) as span:

        def record(result: EventResult) -> None:
            if span is not None:
                span.set_attribute("projection.outcome", result.outcome.value)
                if result.reason:
                    span.set_attribute("projection.reason", result.reason)
                if result.outcome is Outcome.PARKED:
                    # A parked event will never be projected: an error to look at, not a retry.
                    span.set_status(StatusCode.ERROR, result.reason)

        yield record


# -- the core ----------------------------------------------------------------------------------


def _run(
    items: Sequence[_Item],
    attempt: Callable[[_Item], EventResult],
    *,
    retry_gaps: bool,
) -> list[EventResult]:
    """Run `attempt` on every item in order; retry gaps while a pass makes progress."""
    results: list[EventResult | None] = [None] * len(items)
    pending = list(range(len(items)))
    # Asked once per batch: with tracing off, no per-event context manager at all.
    traced = telemetry.tracing_enabled()
    while pending:
        still_gaps: list[int] = []
        progress = False
        for index in pending:
            if traced:
                with _event_span(items[index].stored) as record:
                    result = attempt(items[index])
                    record(result)
            else:
                result = attempt(items[index])
            results[index] = result
            if result.outcome is Outcome.GAP:
                still_gaps.append(index)
            elif result.outcome is Outcome.APPLIED:
                progress = True
        if not (retry_gaps and progress):
            break
        pending = still_gaps
    return [r for r in results if r is not None]


def _check_positions(events: Sequence[StoredEvent]) -> None:
    previous = None
    for stored in events:
        if stored.position is None:
            raise ValueError("a checkpoint needs events with a global position")
        if previous is not None and stored.position <= previous:
            raise ValueError("a checkpoint needs events in increasing position order")
        previous = stored.position


def apply(
    target: Engine | Connection, events: Sequence[StoredEvent], *, checkpoint: str | None = None
) -> ApplyResult:
    """Apply `events` to the read model; one `EventResult` per event, in input order.

    `target`: an engine (one of its connections is used for the call), or a connection that is
    not in a transaction (the poller's, on which it just read the checkpoint); the call's
    transactions are begun and ended on it.

    `checkpoint`: the name of a global-position checkpoint (`projection_checkpoints`) to advance
    to each event's `position` in the same transaction as its effect. Pass it only for a source
    with a gap-free total order (the SQL journal, read in position order): the events must then
    have increasing positions, and a gap is parked instead of reported (see the module docstring).

    Raises `read_model.ReadModelUnavailableError` when the read model cannot be reached or used;
    deliver the whole batch again then.
    """
    if checkpoint is not None:
        _check_positions(events)
    if not events:
        return ApplyResult(())
    if isinstance(target, Engine):
        with unavailable_on_database_errors(), target.connect() as connection:
            return _apply(connection, events, checkpoint)
    return _apply(target, events, checkpoint)


def _apply(
    connection: Connection, events: Sequence[StoredEvent], checkpoint: str | None
) -> ApplyResult:
    items = [_decode(stored) for stored in events]
    park_gaps = checkpoint is not None
    # A gap can be filled by a later event of the same batch only when the input may be out of
    # order; in position order (checkpoint) it cannot, and the checkpoint must only move forward.
    retry_gaps = checkpoint is None

    with _span("read-model apply", attributes={"events.count": len(events)}) as batch_span:
        try:
            with unavailable_on_database_errors(), connection.begin():
                results = _run(
                    items,
                    lambda item: _apply_one(connection, item, park_gaps=park_gaps),
                    retry_gaps=retry_gaps,
                )
                if checkpoint is not None:
                    last = events[-1].position
                    assert last is not None  # checked by _check_positions
                    save_checkpoint(connection, checkpoint, last)
        except (exc.DBAPIError, ProjectionError) as error:
            # Not "unavailable" (that was raised as ReadModelUnavailableError): one of the events
            # cannot be applied. The transaction was rolled back; isolate it.
            log.warning(
                "batch of %d events failed (%s); applying them one transaction each",
                len(events),
                _describe(error),
            )
            if batch_span is not None:
                batch_span.add_event("fallback to one transaction per event")
            results = _run(
                items,
                lambda item: _apply_isolated(connection, item, park_gaps, checkpoint),
                retry_gaps=retry_gaps,
            )
        result = ApplyResult(tuple(results))
        if batch_span is not None:
            for outcome, count in result.counts.items():
                batch_span.set_attribute(f"events.{outcome.value}", count)
    return result


_MAX_REASON: Final = 500


def _describe(error: Exception) -> str:
    """A short description of a projection failure: the driver's message, not the SQL and its
    parameters (which would repeat message contents into logs and `parked_events`)."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
    text = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {text}"[:_MAX_REASON]


def _apply_isolated(
    connection: Connection, item: _Item, park_gaps: bool, checkpoint: str | None
) -> EventResult:
    """The slow path: one event in a transaction of its own; a failure parks just this event."""

    def advance() -> None:
        if checkpoint is not None and item.stored.position is not None:
            save_checkpoint(connection, checkpoint, item.stored.position)

    try:
        with unavailable_on_database_errors(), connection.begin():
            result = _apply_one(connection, item, park_gaps=park_gaps)
            advance()
            return result
    except (exc.DBAPIError, ProjectionError) as error:
        reason = f"projection failed: {_describe(error)}"
    with unavailable_on_database_errors(), connection.begin():
        _park(connection, item.stored, reason)
        advance()
    return EventResult(item.stored, Outcome.PARKED, reason)
