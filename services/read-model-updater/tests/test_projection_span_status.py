"""Projection spans say when something went wrong: a parked event or an unusable read model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import telemetry
from event_store import StoredEvent
from read_model import ReadModelUnavailableError, create_engine_for
from read_model_updater.core import apply
from read_model_updater.testing import HistoryBuilder, stored_event
from sqlalchemy import Engine
from telemetry.testing import OtlpReceiver, tracing_to_receiver


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with tracing_to_receiver("updater-test") as started:
        yield started


def test_marks_the_event_span_as_an_error_when_the_event_is_parked(
    engine: Engine, receiver: OtlpReceiver
) -> None:
    undecodable = StoredEvent(
        aggregate_id="GroupChat-01J0000000000000000000BAD0",
        seq_nr=1,
        event_id="01J0000000000000000000BAD1",
        event_type="GroupChatCreated",
        payload=b"\x00not json",
        occurred_at_ms=0,
    )
    created = HistoryBuilder(seed=5).create()
    assert created is not None

    apply(engine, [undecodable, stored_event(created)])
    telemetry.flush()

    spans = receiver.wait_until(
        lambda spans: sum(s.name.startswith("project ") for s in spans) == 2
    )
    parked, applied = (s for s in spans if s.name.startswith("project "))
    assert parked.attributes["projection.outcome"] == "parked"
    assert parked.status_code == "ERROR"
    assert parked.status_message.startswith("undecodable")
    assert applied.attributes["projection.outcome"] == "applied"
    assert applied.status_code == "UNSET"


def test_marks_the_batch_span_as_an_error_when_the_read_model_is_unusable(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    created = HistoryBuilder(seed=6).create()
    assert created is not None
    engine = create_engine_for(f"sqlite:///{tmp_path / 'not_migrated.db'}")
    try:
        with pytest.raises(ReadModelUnavailableError):
            apply(engine, [stored_event(created)])
    finally:
        engine.dispose()
    telemetry.flush()

    batch = receiver.wait_for(lambda s: s.name == "read-model apply")
    assert batch.status_code == "ERROR"
    assert "exception" in batch.events
