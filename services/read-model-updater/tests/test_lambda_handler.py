"""The DynamoDB Streams Lambda handler, invoked with journal stream events as Lambda sends them.

Records are built like AWS's documented DynamoDB Streams event (see `make_dynamodb_stream_record`
in the root conftest): typed attribute values, binary payloads as base64 strings, the journal's
item layout from `event_store.dynamodb_records.journal_item`. The read model is real (SQLite and
PostgreSQL) and the handler reads READ_MODEL_URL from the environment, as on Lambda.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chat_domain import Event
from event_store.dynamodb_records import journal_item
from read_model import ReadModelUnavailableError, create_engine_for, migrate
from read_model.schema import parked_events
from read_model_updater import lambda_handler
from read_model_updater.testing import (
    HistoryBuilder,
    domain_view,
    new_event,
    read_model_view,
    snapshot,
)
from sqlalchemy import Engine, select
from telemetry.testing import OtlpReceiver, reset_telemetry

RecordFactory = Callable[..., dict[str, Any]]


class LambdaContext:
    function_name = "ReadModelUpdaterFunction"
    aws_request_id = "e8c01ce8-9d83-33a8-1c63-15a034567890"
    memory_limit_in_mb = 512

    def __init__(self, remaining_millis: int = 60_000) -> None:
        self._remaining = remaining_millis

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


@pytest.fixture
def handler(
    engine: Engine, read_model_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The handler of a fresh execution environment, on the migrated read model of `engine`."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READ_MODEL_URL", read_model_url)
    monkeypatch.setattr(lambda_handler, "_engine", None)
    yield lambda_handler
    if lambda_handler._engine is not None:
        lambda_handler._engine.dispose()
    reset_telemetry()


class Shard:
    """Turns domain events into journal stream records with increasing sequence numbers."""

    def __init__(self, make_record: RecordFactory) -> None:
        self._make = make_record
        self._numbers = itertools.count(4421584500000000017450439091, 100)

    def insert(self, event: Event, **image_changes: Any) -> dict[str, Any]:
        item = journal_item(str(event.aggregate_id), event.seq_nr, new_event(event))
        image = {**item, **image_changes}
        return self._make(
            sequence_number=str(next(self._numbers)),
            keys={"pkey": item["pkey"], "skey": item["skey"]},
            new_image={k: v for k, v in image.items() if v is not None},
        )

    def other(self, event_name: str, event: Event) -> dict[str, Any]:
        item = journal_item(str(event.aggregate_id), event.seq_nr, new_event(event))
        return self._make(
            sequence_number=str(next(self._numbers)),
            keys={"pkey": item["pkey"], "skey": item["skey"]},
            new_image=item if event_name == "MODIFY" else None,
            old_image=item,
            event_name=event_name,
            view_type="NEW_AND_OLD_IMAGES",
        )


@pytest.fixture
def shard(dynamodb_stream_record: RecordFactory) -> Shard:
    return Shard(dynamodb_stream_record)


def invoke(handler: ModuleType, records: list[dict[str, Any]]) -> dict[str, Any]:
    # Through JSON, as Lambda delivers it: nothing in the event may be a Python-only object.
    event = json.loads(json.dumps({"Records": records}))
    response: dict[str, Any] = handler.handler(event, LambdaContext())
    return response


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def two_chats(seed: int = 3, events: int = 6) -> tuple[HistoryBuilder, list[Event], list[Event]]:
    """Two chats of `events` events each, from one builder (its states cover both)."""
    builder = HistoryBuilder(seed)
    first, second = builder.create(), builder.create()
    assert first is not None
    assert second is not None
    a = [first, *builder.grow(events - 1, chat=first.aggregate_id)]
    b = [second, *builder.grow(events - 1, chat=second.aggregate_id)]
    return builder, a, b


def parked(engine: Engine) -> list[tuple[str, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                parked_events.c.aggregate_id, parked_events.c.seq_nr, parked_events.c.reason
            ).order_by(parked_events.c.aggregate_id, parked_events.c.seq_nr)
        ).all()
    return [(r.aggregate_id, r.seq_nr, r.reason) for r in rows]


def test_every_event_is_projected_when_a_batch_of_inserts_arrives(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    builder, a, b = two_chats()
    interleaved = [e for pair in zip(a, b, strict=True) for e in pair]

    response = invoke(handler, [shard.insert(e) for e in interleaved])

    assert response == {"batchItemFailures": []}
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)
    assert parked(engine) == []


def test_redelivered_batch_changes_nothing_when_it_was_applied(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    _, a, b = two_chats()
    records = [shard.insert(e) for e in a + b]
    invoke(handler, records)
    before = snapshot(engine)

    response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    assert snapshot(engine) == before


def test_duplicate_records_are_skipped_when_an_event_arrives_twice_in_a_batch(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    builder, a, _ = two_chats()
    records = []
    for event in a:
        records += [shard.insert(event), shard.insert(event)]  # e.g. moto's double INSERT

    response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    states = [builder.states[a[0].aggregate_id]]
    assert read_model_view(engine) == domain_view(states, builder.events)


def test_first_gap_is_reported_and_nothing_applied_out_of_order_when_a_predecessor_is_missing(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    builder, a, b = two_chats()
    first = [shard.insert(e) for e in a[:2]]
    gap = shard.insert(a[3])  # a[2] has not arrived
    rest = [shard.insert(e) for e in a[4:] + b]

    response = invoke(handler, [*first, gap, *rest])

    # Lambda delivers again from the gap: the first gap's sequence number is all that counts.
    assert failures(response) == [gap["dynamodb"]["SequenceNumber"]]
    view = read_model_view(engine)
    assert view != domain_view(list(builder.states.values()), builder.events)
    assert parked(engine) == []

    # The retry, now with the missing event (its record came late), applies all of it.
    response = invoke(handler, [shard.insert(a[2]), gap, *rest])

    assert response == {"batchItemFailures": []}
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def test_events_are_applied_in_order_when_a_batch_holds_them_out_of_order(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    builder, a, _ = two_chats()
    # Records of one transaction may come in any order; the core retries the gap in the batch.
    records = [shard.insert(e) for e in [a[0], a[2], a[1], *a[3:]]]

    response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    assert read_model_view(engine) == domain_view(
        [builder.states[a[0].aggregate_id]], builder.events
    )


def test_undecodable_payload_is_parked_without_blocking_other_chats(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    _, a, b = two_chats()
    poisoned = shard.insert(a[1], payload={"B": b"\x00not an event"})
    records = [shard.insert(a[0]), poisoned, *[shard.insert(e) for e in a[2:] + b]]

    response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    chat_a, chat_b = str(a[0].aggregate_id), str(b[0].aggregate_id)
    rows = parked(engine)
    assert [(aid, seq) for aid, seq, _ in rows] == [(chat_a, n) for n in range(2, len(a) + 1)]
    assert rows[0][2].startswith("undecodable")
    assert all("predecessor parked" in reason for _, _, reason in rows[1:])
    with engine.connect() as connection:
        from read_model.projector import position

        assert position(connection, chat_a) == 1
        assert position(connection, chat_b) == len(b)


def test_damaged_image_is_parked_when_it_still_names_its_chat(
    handler: ModuleType, shard: Shard, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _, a, b = two_chats()
    damaged = shard.insert(a[1], payload={"B": "%%% not base64 %%%"}, aid=None, seq_nr=None)
    records = [shard.insert(a[0]), damaged, *[shard.insert(e) for e in a[2:] + b]]

    with caplog.at_level(logging.ERROR, logger="read_model_updater.lambda_handler"):
        response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    chat_a = str(a[0].aggregate_id)
    rows = parked(engine)
    # Identified by its sort key; its successors cannot be applied either.
    assert rows[0][:2] == (chat_a, 2)
    assert damaged["eventID"] in rows[0][2]
    assert damaged["dynamodb"]["SequenceNumber"] in rows[0][2]
    assert len(rows) == len(a) - 1
    assert any(damaged["eventID"] in message for message in caplog.messages)
    with engine.connect() as connection:
        from read_model.projector import position

        assert position(connection, str(b[0].aggregate_id)) == len(b)


def test_foreign_item_is_logged_and_skipped_when_it_names_no_chat(
    handler: ModuleType,
    engine: Engine,
    dynamodb_stream_record: RecordFactory,
    shard: Shard,
    caplog: pytest.LogCaptureFixture,
) -> None:
    builder, a, _ = two_chats()
    foreign = dynamodb_stream_record(
        sequence_number="1000",
        keys={"pkey": {"S": "Something-1"}, "skey": {"S": "not-a-journal-key"}},
        new_image={"pkey": {"S": "Something-1"}, "skey": {"S": "not-a-journal-key"}},
    )

    with caplog.at_level(logging.ERROR, logger="read_model_updater.lambda_handler"):
        response = invoke(handler, [foreign, *[shard.insert(e) for e in a]])

    assert response == {"batchItemFailures": []}
    assert any(foreign["eventID"] in m and "not parked" in m for m in caplog.messages)
    assert parked(engine) == []
    assert read_model_view(engine) == domain_view(
        [builder.states[a[0].aggregate_id]], builder.events
    )


def test_modify_and_remove_records_are_ignored_when_they_appear(
    handler: ModuleType, shard: Shard, engine: Engine
) -> None:
    builder, a, _ = two_chats()
    records = [
        shard.insert(a[0]),
        shard.other("MODIFY", a[0]),
        *[shard.insert(e) for e in a[1:]],
        shard.other("REMOVE", a[1]),
    ]

    response = invoke(handler, records)

    assert response == {"batchItemFailures": []}
    assert read_model_view(engine) == domain_view(
        [builder.states[a[0].aggregate_id]], builder.events
    )


def test_empty_batch_is_acknowledged_when_delivered(handler: ModuleType) -> None:
    assert invoke(handler, []) == {"batchItemFailures": []}


def test_collector_is_off_while_the_first_invocation_builds_and_back_on_after_it(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = handler._start
    seen: list[bool] = []

    def observed_start() -> Engine:
        seen.append(gc.isenabled())
        engine: Engine = start()
        return engine

    monkeypatch.setattr(handler, "_start", observed_start)
    invoke(handler, [])
    invoke(handler, [])

    assert seen == [False]
    assert gc.isenabled()


def test_outage_is_waited_out_within_the_invocation_when_it_ends_in_time(
    handler: ModuleType, shard: Shard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    builder, a, _ = two_chats()
    # A database that was never migrated is "unavailable", like one that is down.
    url = f"sqlite:///{tmp_path / 'late.db'}"
    monkeypatch.setenv("READ_MODEL_URL", url)
    waits: list[float] = []

    def outage_ends(seconds: float) -> None:
        waits.append(seconds)
        migrate(url)

    monkeypatch.setattr(lambda_handler, "_sleep", outage_ends)

    response = invoke(handler, [shard.insert(e) for e in a])

    assert response == {"batchItemFailures": []}
    assert waits == [lambda_handler.FIRST_BACKOFF_SECONDS]
    engine = create_engine_for(url)
    try:
        assert read_model_view(engine) == domain_view(
            [builder.states[a[0].aggregate_id]], builder.events
        )
    finally:
        engine.dispose()


def test_invocation_fails_so_the_batch_is_retried_when_the_outage_outlasts_it(
    handler: ModuleType, shard: Shard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, a, _ = two_chats()
    monkeypatch.setenv("READ_MODEL_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    waits: list[float] = []
    monkeypatch.setattr(lambda_handler, "_sleep", waits.append)
    # Two seconds left beyond the reserve: room for the 0.5 s and 1 s waits, not the 2 s one.
    context = LambdaContext(remaining_millis=lambda_handler.RESERVED_MILLIS + 2_000)

    with pytest.raises(ReadModelUnavailableError):
        handler.handler({"Records": [shard.insert(e) for e in a]}, context)

    assert waits == [0.5, 1.0]


def test_invocation_fails_when_the_stream_carries_no_new_images(
    handler: ModuleType, dynamodb_stream_record: RecordFactory
) -> None:
    keys_only = dynamodb_stream_record(
        sequence_number="1",
        keys={"pkey": {"S": "GroupChat-1"}, "skey": {"S": "x"}},
        view_type="KEYS_ONLY",
    )

    with pytest.raises(ValueError, match="NEW_IMAGE"):
        invoke(handler, [keys_only])


def test_spans_are_exported_before_the_handler_returns_when_tracing_is_on(
    handler: ModuleType, shard: Shard, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a, _ = two_chats(events=3)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")

        invoke(handler, [shard.insert(e) for e in a])

        names = [span.name for span in receiver.spans]
    assert "journal stream batch" in names
    assert names.count("read-model apply") == 1
    assert len([n for n in names if n.startswith("project ")]) == 3


def test_importing_the_handler_loads_neither_the_database_nor_the_core() -> None:
    code = (
        "import sys, read_model_updater.lambda_handler\n"
        "heavy = ['sqlalchemy', 'psycopg', 'boto3', 'botocore', 'opentelemetry.sdk',\n"
        "         'read_model', 'read_model_updater.core', 'chat_domain', 'pydantic',\n"
        "         'aws_lambda_powertools']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
