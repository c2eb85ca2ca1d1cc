"""The trace across the DynamoDB Streams hop: command request -> journal -> updater Lambda.

A command arrives with API Gateway's `X-Amzn-Trace-Id`; the command service (on moto's DynamoDB)
continues that trace and stores its context in the event's metadata; the journal's stream
records, fed to the updater's Lambda handler as Lambda would, produce projection spans that
continue the command's trace (children of the command span) and link to the updater's batch span.
Spans go to an in-process OTLP receiver.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from command_service.app import create_app as create_command_app
from command_service.settings import Settings as CommandSettings
from event_store.dynamodb import create_tables
from fastapi.testclient import TestClient
from read_model import migrate
from read_model_updater import lambda_handler as updater
from telemetry.testing import OtlpReceiver, reset_telemetry

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    with OtlpReceiver() as started:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", started.endpoint)
        yield started
        reset_telemetry()  # flush while the receiver still listens


@pytest.fixture
def journal(moto_endpoint: str) -> Iterator[tuple[str, str]]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:12]
    tables = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=tables[0], snapshot_table=tables[1])
    yield tables
    for name in tables:
        client.delete_table(TableName=name)
    client.close()


@pytest.fixture
def updater_handler(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path / 'read_model.db'}"
    migrate(url)
    monkeypatch.setenv("READ_MODEL_URL", url)
    monkeypatch.setattr(updater, "_engine", None)
    yield updater.handler
    if updater._engine is not None:
        updater._engine.dispose()


def _stream_records(moto_endpoint: str, journal: str) -> list[dict[str, Any]]:
    """Every record of the journal's stream, shard by shard, oldest first (boto3 shapes)."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = dynamodb.describe_table(TableName=journal)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            if not page["Records"]:
                break
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator")
    dynamodb.close()
    streams.close()
    return records


def test_projection_spans_continue_the_command_trace_when_events_come_through_the_stream(
    receiver: OtlpReceiver,
    journal: tuple[str, str],
    updater_handler: Any,
    moto_endpoint: str,
    lambda_stream_event: Callable[[list[dict[str, Any]]], dict[str, Any]],
) -> None:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    trace_id = root[2:].replace("-", "")
    settings = CommandSettings(
        event_store_url=f"dynamodb://{journal[0]}?snapshot_table={journal[1]}"
    )
    with TestClient(create_command_app(settings)) as command:
        response = command.post(
            "/command/v1/group-chats/create",
            json={"name": "developers", "executorId": ALICE},
            headers={"X-Amzn-Trace-Id": f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"},
        )
    assert response.status_code == 201, response.text

    event = lambda_stream_event(_stream_records(moto_endpoint, journal[0]))
    assert updater_handler(event, None) == {"batchItemFailures": []}

    wanted = {
        "command CreateGroupChat",
        "event_store append",
        "project GroupChatCreated",
        "read-model apply",
        "journal stream batch",
    }
    spans = receiver.wait_until(lambda spans: wanted <= {s.name for s in spans})
    command_span = next(s for s in spans if s.name == "command CreateGroupChat")
    append = next(s for s in spans if s.name == "event_store append")
    project = next(s for s in spans if s.name == "project GroupChatCreated")
    apply_span = next(s for s in spans if s.name == "read-model apply")
    batch = next(s for s in spans if s.name == "journal stream batch")
    assert command_span.trace_id == append.trace_id == trace_id
    assert append.attributes["event_store.backend"] == "DynamoDBEventStore"
    # One trace from the request to the projection: the command span stored in the metadata is
    # the projection's parent; the updater's batch (its own trace) is one link away.
    assert (project.trace_id, project.parent_span_id) == (trace_id, command_span.span_id)
    assert project.kind == "CONSUMER"
    assert [(link.trace_id, link.span_id) for link in project.links] == [
        (apply_span.trace_id, apply_span.span_id)
    ]
    assert project.attributes["projection.outcome"] == "applied"
    assert apply_span.parent_span_id == batch.span_id
    assert batch.trace_id == apply_span.trace_id != trace_id
