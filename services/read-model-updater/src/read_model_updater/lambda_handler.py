"""AWS Lambda entry point of the read-model updater: the journal table's DynamoDB Stream.

The image's CMD is `read_model_updater.lambda_handler.handler`; the event source mapping (see
infra/sam/template.yaml) must have `FunctionResponseTypes: [ReportBatchItemFailures]` and the
journal's stream view type NEW_IMAGE (or NEW_AND_OLD_IMAGES).

One invocation gets a batch of records of ONE stream shard, in shard order. Each record is
handled like this:

- `INSERT` (an event appended to the journal): its `NewImage` is decoded into a `StoredEvent`
  with `event_store.dynamodb_records.stored_event_from_image` (binary attributes arrive as base64
  strings), and the batch goes through `read_model_updater.core.apply`, the same core the SQL
  poller uses: one transaction for the batch, duplicates skipped, an undecodable payload parked.
- `MODIFY` / `REMOVE`: ignored. Journal rows are written once and never changed; such a record
  is logged as a warning, since it means someone edited the journal.
- An `INSERT` whose image is not a journal row of this layout (missing or mistyped attributes):
  parked in the read model's `parked_events` when the record still tells the aggregate and
  sequence number (from the image or from the sort key), and logged as an error either way. It is
  *not* reported as a failure: it can never succeed, and reporting it would hold back every
  other chat of the shard. Once it is parked, the chat's later events are parked as "predecessor
  parked" instead of being retried as gaps.

Which failures are reported, and why only the first: the core answers `GAP` for an event whose
predecessor has not been applied (it is not in the read model yet, e.g. it was at the end of an
earlier batch that failed, or a transaction's records arrived in another order). The handler
then reports the sequence number of the *first* such record as `batchItemFailures`. For stream
sources Lambda checkpoints the shard just before the lowest reported sequence number and
delivers again from there, so every record after it comes back too, whatever else is reported:
listing more would change nothing. Records after it that were applied now are skipped as
duplicates on redelivery, and the gap is retried instead of being applied out of order.
Failures are not independent per chat here because the checkpoint is per shard, and all events
of a chat share a partition key, hence a shard. A redelivered batch is idempotent for the same
reason: every event that was applied is a duplicate the second time.

The read model being unreachable (`ReadModelUnavailableError`: down, failing over, not
migrated) is first waited out inside the invocation, retrying the batch with backoff while the
invocation has time left (a database failover should not use up the event source mapping's
retry budget). If it outlasts the invocation, the invocation fails: the whole batch is delivered
again (duplicates are skipped), and the failure shows in the function's error metrics.

Importing this module is cheap: SQLAlchemy, the domain codec and OpenTelemetry load on the
first invocation, when the engine is created (once per execution environment; a failed start is
not cached). Spans are flushed before each invocation returns.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import telemetry
from event_store import StoredEvent
from event_store.dynamodb_records import (
    AID,
    EVENT_ID,
    EVENT_TYPE,
    PAYLOAD,
    SEQ_NR,
    SEQ_NR_DIGITS,
    SKEY,
    JournalImageError,
    stored_event_from_image,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from sqlalchemy import Engine

    from read_model_updater.core import ApplyResult

__all__ = ["FLUSH_TIMEOUT_MILLIS", "SERVICE_NAME", "BatchReport", "handler", "process_records"]

SERVICE_NAME: Final = "read-model-updater"
FLUSH_TIMEOUT_MILLIS: Final = 2000
"""Longest wait for the span export at the end of an invocation (well under the timeout)."""
RESERVED_MILLIS: Final = 10_000
"""Time kept back from in-invocation retries: one more attempt's connect timeout and the flush."""
FIRST_BACKOFF_SECONDS: Final = 0.5
MAX_BACKOFF_SECONDS: Final = 8.0

log = logging.getLogger(__name__)

_engine: Engine | None = None
_sleep = time.sleep


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Project one batch of journal stream records; return the partial batch response."""
    global _engine
    cold = _engine is None
    if cold:
        # The first invocation imports and builds what the environment keeps for its whole
        # life: collections then find nothing to free and cost ~45 ms of the cold start
        # (bench/cold_start.py). Collecting resumes afterwards, with all of it frozen.
        gc.disable()
    try:
        if _engine is None:
            _engine = _start()
            # Everything loaded so far lives as long as the environment: out of the collector's
            # sight, a later invocation does not pay for a full collection that scans it all.
            gc.freeze()
        return _process_until_deadline(_engine, event.get("Records") or [], context).response()
    finally:
        telemetry.flush(timeout_millis=FLUSH_TIMEOUT_MILLIS)
        if cold:
            gc.freeze()
            gc.enable()


def _process_until_deadline(
    engine: Engine, records: Sequence[Mapping[str, Any]], context: Any
) -> BatchReport:
    """`process_records`, tried again with backoff while the read model is unavailable and the
    invocation has time left (safe: a batch applied twice is a batch of duplicates)."""
    from read_model import ReadModelUnavailableError

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = time.monotonic() + (remaining() - RESERVED_MILLIS) / 1000 if remaining else 0.0
    delay = FIRST_BACKOFF_SECONDS
    while True:
        try:
            return process_records(engine, records)
        except ReadModelUnavailableError as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("read model unavailable (%s); retrying in %.1f s", error, delay)
            _sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _start() -> Engine:
    from read_model import create_engine_for

    url = _read_model_url()
    telemetry.configure(SERVICE_NAME)
    # One invocation at a time per execution environment: one connection is all it can use.
    return create_engine_for(url, pool_size=1, max_overflow=0)


def _read_model_url() -> str:
    """`READ_MODEL_URL`, the one setting the Lambda uses (names matched case-insensitively, as
    `Settings` does). Read directly: building `Settings` imports pydantic and pydantic-settings,
    some 80 ms of every cold start, for the poller's other settings. Without the variable,
    `Settings` supplies its default."""
    for name, value in os.environ.items():
        if name.upper() == "READ_MODEL_URL":
            return value
    from read_model_updater.settings import Settings

    return Settings().read_model_url


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one batch of stream records came to."""

    #: The core's per-event results for the decoded INSERT records, in record order.
    applied: ApplyResult | None
    #: Sequence number of the first record to deliver again (None when the batch is done).
    retry_from: str | None
    #: MODIFY / REMOVE records skipped.
    ignored: int
    #: INSERT records whose image could not be decoded (parked when identifiable, logged).
    undecodable: int

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response Lambda expects (`ReportBatchItemFailures`)."""
        if self.retry_from is None:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": self.retry_from}]}


def process_records(engine: Engine, records: Sequence[Mapping[str, Any]]) -> BatchReport:
    """Apply a batch of DynamoDB Streams records of the journal to the read model at `engine`.

    See the module docstring for what happens to each kind of record. Raises
    `read_model.ReadModelUnavailableError` when the read model cannot be reached (deliver the
    whole batch again), and `ValueError` when the records carry no new image (the stream's view
    type is misconfigured: nothing could ever be projected).
    """
    from read_model_updater.core import apply

    decoded: list[tuple[Mapping[str, Any], StoredEvent]] = []
    ignored = undecodable = 0
    for record in records:
        name = record.get("eventName")
        if name != "INSERT":
            ignored += 1
            log.warning(
                "ignored a %s record of the journal (journal rows are never changed)",
                name,
                extra=_identity(record),
            )
            continue
        stream = record.get("dynamodb") or {}
        image = stream.get("NewImage")
        if image is None:
            raise ValueError(
                f"stream record {record.get('eventID')} has no NewImage: the journal's stream "
                "view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
        try:
            decoded.append((record, stored_event_from_image(image)))
        except JournalImageError as error:
            undecodable += 1
            _park_undecodable(engine, record, error)

    with _batch_span(records) as span:
        result = apply(engine, [stored for _, stored in decoded]) if decoded else None
        index = None if result is None else result.first_retry_index
        retry_from = None if index is None else str(decoded[index][0]["dynamodb"]["SequenceNumber"])
        if span is not None:
            span.set_attribute("records.ignored", ignored)
            span.set_attribute("records.undecodable", undecodable)
            if retry_from is not None:
                span.set_attribute("records.retry_from", retry_from)

    report = BatchReport(result, retry_from, ignored, undecodable)
    _log_report(report, len(records))
    return report


def _identity(record: Mapping[str, Any]) -> dict[str, Any]:
    stream = record.get("dynamodb") or {}
    return {
        "stream_event_id": record.get("eventID"),
        "sequence_number": stream.get("SequenceNumber"),
        "keys": stream.get("Keys"),
    }


def _park_undecodable(engine: Engine, record: Mapping[str, Any], error: Exception) -> None:
    """Park an INSERT whose image is not a journal row; log it as an error either way."""
    from read_model import unavailable_on_database_errors
    from read_model.projector import park

    stream = record.get("dynamodb") or {}
    image = stream.get("NewImage") or {}
    identity = _aggregate_and_seq_nr(image, stream.get("Keys") or {})
    reason = (
        f"undecodable stream record {record.get('eventID')} "
        f"(sequence number {stream.get('SequenceNumber')}): {error}"
    )
    if identity is None:
        log.error("%s; not parked: it names no aggregate", reason, extra=_identity(record))
        return
    aggregate_id, seq_nr = identity
    with unavailable_on_database_errors(), engine.begin() as connection:
        park(
            connection,
            aggregate_id=aggregate_id,
            seq_nr=seq_nr,
            event_id=_plain(image, EVENT_ID, "S"),
            event_type=_plain(image, EVENT_TYPE, "S"),
            payload=_plain(image, PAYLOAD, "B"),
            reason=reason,
        )
    log.error(
        "parked %s #%s: %s",
        aggregate_id,
        seq_nr,
        reason,
        extra={**_identity(record), "aggregate_id": aggregate_id, "seq_nr": seq_nr},
    )


def _plain(image: Mapping[str, Any], name: str, type_code: str) -> Any:
    value = image.get(name)
    return value.get(type_code) if isinstance(value, Mapping) else None


def _aggregate_and_seq_nr(
    image: Mapping[str, Any], keys: Mapping[str, Any]
) -> tuple[str, int] | None:
    """The aggregate id and sequence number of a damaged journal row, if anything tells them."""
    aggregate_id, seq_nr = _plain(image, AID, "S"), _plain(image, SEQ_NR, "N")
    if isinstance(aggregate_id, str) and aggregate_id and isinstance(seq_nr, str):
        try:
            if int(seq_nr) >= 1:
                return aggregate_id, int(seq_nr)
        except ValueError:
            pass
    # The sort key is `<aggregate_id>-<seq_nr, 20 digits>`.
    sort_key = _plain(keys, SKEY, "S") or _plain(image, SKEY, "S")
    if isinstance(sort_key, str):
        head, _, digits = sort_key.rpartition("-")
        if head and len(digits) == SEQ_NR_DIGITS and digits.isdigit() and int(digits) >= 1:
            return head, int(digits)
    return None


def _batch_span(records: Sequence[Mapping[str, Any]]) -> AbstractContextManager[Span | None]:
    """A span for the invocation when tracing is on, a child of Lambda's own X-Ray segment.

    `OTEL_PROPAGATORS` with `xray-lambda` (as the SAM template sets it) reads the segment from
    `_X_AMZN_TRACE_ID`; the core's batch span nests under this one, and its per-event spans
    continue the traces of the commands that produced the events, linked back to the batch.
    """
    if not telemetry.tracing_enabled():
        return nullcontext()
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    return telemetry.get_tracer(__name__).start_as_current_span(
        "journal stream batch",
        context=propagate.extract({}),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "aws_dynamodb_streams", "records.count": len(records)},
    )


def _log_report(report: BatchReport, total: int) -> None:
    counts = {} if report.applied is None else report.applied.counts
    log.info(
        "stream batch of %d records: %s; %d ignored, %d undecodable%s",
        total,
        ", ".join(f"{count} {outcome.value}" for outcome, count in counts.items()) or "no events",
        report.ignored,
        report.undecodable,
        f"; retry from {report.retry_from}" if report.retry_from else "",
        extra={
            "records": total,
            "retry_from": report.retry_from,
            **{f"events_{outcome.value}": count for outcome, count in counts.items()},
        },
    )
