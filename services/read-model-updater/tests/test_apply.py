"""The apply core: outcomes per event, parking, gaps, poisoned events, checkpoints, tracing."""

from __future__ import annotations

import dataclasses

import pytest
import telemetry
from chat_domain import (
    EditMessage,
    Event,
    GroupChatMessagePosted,
    MessageContent,
)
from event_store import StoredEvent
from read_model import ReadModelUnavailableError, create_engine_for
from read_model.projector import Outcome, load_checkpoint
from read_model.schema import group_chats, messages
from read_model_updater.core import ApplyResult, apply
from read_model_updater.testing import (
    HistoryBuilder,
    domain_view,
    read_model_view,
    snapshot,
    stored_event,
)
from sqlalchemy import Engine, delete, select
from telemetry import TelemetrySettings
from telemetry.testing import OtlpReceiver


def one_chat(events: int, seed: int = 1) -> tuple[HistoryBuilder, list[Event]]:
    """A history of a single chat with `events` events."""
    builder = HistoryBuilder(seed)
    created = builder.create()
    assert created is not None
    builder.grow(events - 1, chat=created.aggregate_id)
    return builder, builder.events


def outcomes(result: ApplyResult) -> list[Outcome]:
    return [r.outcome for r in result.results]


def garbage(aggregate_id: str, seq_nr: int, position: int | None = None) -> StoredEvent:
    return StoredEvent(
        aggregate_id=aggregate_id,
        seq_nr=seq_nr,
        event_id="01J0000000000000000000BAD0",
        event_type="GroupChatMessagePosted",
        payload=b"\x00not json",
        occurred_at_ms=0,
        position=position,
    )


def test_every_event_is_applied_when_a_history_is_applied_in_order(engine: Engine) -> None:
    builder = HistoryBuilder(seed=7)
    events = builder.grow(120)

    result = apply(engine, [stored_event(e) for e in events])

    assert outcomes(result) == [Outcome.APPLIED] * len(events)
    assert result.first_retry_index is None
    assert result.counts[Outcome.APPLIED] == 120
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def test_duplicates_are_skipped_when_a_batch_is_delivered_again(engine: Engine) -> None:
    builder = HistoryBuilder(seed=8)
    stored = [stored_event(e) for e in builder.grow(40)]
    apply(engine, stored[:25])
    before = snapshot(engine)

    result = apply(engine, stored)

    assert outcomes(result) == [Outcome.DUPLICATE] * 25 + [Outcome.APPLIED] * 15
    assert apply(engine, stored).counts[Outcome.DUPLICATE] == 40
    assert snapshot(engine) != before
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def test_gap_is_reported_and_applied_later_when_the_missing_event_arrives(
    engine: Engine,
) -> None:
    _, events = one_chat(5)
    stored = [stored_event(e) for e in events]

    first = apply(engine, [stored[0], stored[2], stored[3]])
    assert outcomes(first) == [Outcome.APPLIED, Outcome.GAP, Outcome.GAP]
    assert first.first_retry_index == 1
    assert [r.event for r in first.retry] == [stored[2], stored[3]]

    second = apply(engine, [stored[1], stored[2], stored[3], stored[4]])
    assert outcomes(second) == [Outcome.APPLIED] * 4


def test_events_are_applied_in_seq_order_when_a_batch_delivers_them_out_of_order(
    engine: Engine,
) -> None:
    builder, events = one_chat(6)
    stored = [stored_event(e) for e in events]

    result = apply(engine, list(reversed(stored)))

    assert outcomes(result) == [Outcome.APPLIED] * 6
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def test_undecodable_event_is_parked_without_blocking_other_aggregates(engine: Engine) -> None:
    builder = HistoryBuilder(seed=3)
    builder.create()
    builder.create()
    chat_a, chat_b = builder.events
    post_a = builder.post(chat_a.aggregate_id)
    batch = [
        stored_event(chat_a),
        garbage(str(chat_b.aggregate_id), 1),  # chat B's creation is unreadable
        stored_event(post_a),
    ]

    result = apply(engine, batch)

    assert outcomes(result) == [Outcome.APPLIED, Outcome.PARKED, Outcome.APPLIED]
    reason = result.results[1].reason
    assert reason is not None
    assert reason.startswith("undecodable")
    rows = snapshot(engine)
    assert [r["id"] for r in rows["group_chats"]] == [str(chat_a.aggregate_id)]
    assert [(r["aggregate_id"], r["seq_nr"]) for r in rows["parked_events"]] == [
        (str(chat_b.aggregate_id), 1)
    ]
    # Redelivery parks nothing new and still reports it.
    assert outcomes(apply(engine, batch)) == [Outcome.DUPLICATE, Outcome.PARKED, Outcome.DUPLICATE]


def test_later_events_are_parked_when_a_predecessor_is_parked(engine: Engine) -> None:
    _, events = one_chat(4)
    stored = [stored_event(e) for e in events]
    broken = garbage(stored[1].aggregate_id, 2)

    result = apply(engine, [stored[0], broken, stored[2]])
    later = apply(engine, [stored[3]])

    assert outcomes(result) == [Outcome.APPLIED, Outcome.PARKED, Outcome.PARKED]
    assert outcomes(later) == [Outcome.PARKED]
    assert later.results[0].reason == "predecessor parked: #2 of the same aggregate"
    assert [r["seq_nr"] for r in snapshot(engine)["parked_events"]] == [2, 3, 4]


def test_event_is_parked_when_its_payload_contradicts_the_stored_envelope(
    engine: Engine,
) -> None:
    _, events = one_chat(2)
    first = stored_event(events[0])
    moved = dataclasses.replace(stored_event(events[1]), seq_nr=1)

    result = apply(engine, [moved, first])

    assert outcomes(result)[0] is Outcome.PARKED
    assert (result.results[0].reason or "").startswith("envelope mismatch")


def test_only_the_poisoned_event_is_parked_when_its_statements_fail(engine: Engine) -> None:
    builder = HistoryBuilder(seed=5)
    builder.create()
    created = builder.events[0]
    posted = builder.post(created.aggregate_id)
    assert isinstance(posted, GroupChatMessagePosted)
    apply(engine, [stored_event(created), stored_event(posted)])
    with engine.begin() as connection:  # the message row vanishes behind the projector's back
        connection.execute(delete(messages))
    edit = builder.run(
        EditMessage(
            group_chat_id=created.aggregate_id,
            message_id=posted.message.id,
            content=MessageContent("edited"),
            executor_id=created.executor_id,
        )
    )
    other = HistoryBuilder(seed=6)
    other.create()
    assert edit is not None

    result = apply(engine, [stored_event(edit), stored_event(other.events[0])])

    assert outcomes(result) == [Outcome.PARKED, Outcome.APPLIED]
    assert (result.results[0].reason or "").startswith("projection failed: ProjectionError")
    with engine.connect() as connection:
        names = connection.execute(select(group_chats.c.id)).scalars().all()
    assert str(other.events[0].aggregate_id) in names


def test_batches_commit_on_the_callers_connection_when_apply_is_given_one(engine: Engine) -> None:
    builder = HistoryBuilder(seed=5)
    created = builder.create()
    assert created is not None
    posted = builder.post(created.aggregate_id)
    assert isinstance(posted, GroupChatMessagePosted)
    edit = builder.run(
        EditMessage(
            group_chat_id=created.aggregate_id,
            message_id=posted.message.id,
            content=MessageContent("edited"),
            executor_id=created.executor_id,
        )
    )
    assert edit is not None
    other = HistoryBuilder(seed=6)
    other.create()
    stored = [
        stored_event(e, position=i + 1)
        for i, e in enumerate([created, posted, edit, other.events[0]])
    ]

    with engine.connect() as connection:
        assert load_checkpoint(connection, "journal") == 0
        first = apply(connection, stored[:2], checkpoint="journal")
        with engine.begin() as elsewhere:  # the message row vanishes behind the projector's back
            elsewhere.execute(delete(messages))
        # This batch falls back to one transaction per event, on the same connection.
        second = apply(connection, stored[2:], checkpoint="journal")
        assert not connection.in_transaction()

    assert outcomes(first) == [Outcome.APPLIED] * 2
    assert outcomes(second) == [Outcome.PARKED, Outcome.APPLIED]
    assert (second.results[0].reason or "").startswith("projection failed: ProjectionError")
    with engine.connect() as connection:
        assert load_checkpoint(connection, "journal") == 4
        names = connection.execute(select(group_chats.c.id)).scalars().all()
    assert str(other.events[0].aggregate_id) in names


def test_checkpoint_advances_with_the_batch_and_gaps_are_parked_when_a_checkpoint_is_given(
    engine: Engine,
) -> None:
    _, events = one_chat(3)
    stored = [stored_event(e, position=i + 10) for i, e in enumerate(events)]

    result = apply(engine, [stored[0], stored[2]], checkpoint="journal")

    assert outcomes(result) == [Outcome.APPLIED, Outcome.PARKED]
    assert (result.results[1].reason or "").startswith("gap")
    with engine.connect() as connection:
        assert load_checkpoint(connection, "journal") == 12


def test_checkpoint_is_refused_when_events_have_no_increasing_positions(engine: Engine) -> None:
    _, events = one_chat(2)
    with pytest.raises(ValueError, match="position"):
        apply(engine, [stored_event(events[0])], checkpoint="journal")
    with pytest.raises(ValueError, match="increasing"):
        apply(
            engine,
            [stored_event(events[1], position=5), stored_event(events[0], position=4)],
            checkpoint="journal",
        )


def test_unavailable_error_is_raised_when_the_read_model_is_not_migrated(
    read_model_url: str,
) -> None:
    _, events = one_chat(1)
    engine = create_engine_for(read_model_url)
    try:
        with pytest.raises(ReadModelUnavailableError):
            apply(engine, [stored_event(events[0])])
    finally:
        engine.dispose()


def test_projection_span_continues_the_command_trace_when_the_event_carries_one(
    engine: Engine,
) -> None:
    _, events = one_chat(2)
    with OtlpReceiver() as receiver:
        telemetry.configure("updater-test", TelemetrySettings(otlp_endpoint=receiver.endpoint))
        with telemetry.get_tracer("test").start_as_current_span("command") as command:
            metadata = telemetry.inject_context()
            command_ids = command.get_span_context()

        # The second event was written with tracing off: no trace context in its metadata.
        apply(engine, [stored_event(events[0], metadata=metadata), stored_event(events[1])])
        telemetry.flush()
        spans = receiver.wait_until(lambda spans: len(spans) >= 4)

    by_name = {s.name: s for s in spans}
    batch = by_name["read-model apply"]
    by_seq_nr = {s.attributes["event.seq_nr"]: s for s in spans if s.name.startswith("project ")}
    continued, untraced = by_seq_nr[1], by_seq_nr[2]
    assert (continued.trace_id, continued.parent_span_id) == (
        format(command_ids.trace_id, "032x"),
        format(command_ids.span_id, "016x"),
    )
    assert [(link.trace_id, link.span_id) for link in continued.links] == [
        (batch.trace_id, batch.span_id)
    ]
    assert continued.kind == "CONSUMER"
    assert continued.attributes["projection.outcome"] == "applied"
    assert (untraced.trace_id, untraced.parent_span_id) == (batch.trace_id, batch.span_id)
    assert not untraced.links
    assert untraced.attributes["projection.outcome"] == "applied"
    assert batch.trace_id != continued.trace_id
    assert batch.attributes["events.applied"] == 2
