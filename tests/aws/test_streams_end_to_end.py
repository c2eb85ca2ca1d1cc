"""Command service -> DynamoDB (moto) -> DynamoDB Streams -> updater Lambda -> PostgreSQL -> query.

The command service writes to the DynamoDB event store on moto's server. The journal's stream is
read with GetRecords, the records are turned into the JSON event a Lambda receives (binary
values as base64) and fed to the updater's Lambda handler the way the event source mapping
would: in batches, in shard order, delivering again from a reported failure. The query service
then reads the result from PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from command_service.app import create_app as create_command_app
from command_service.settings import Settings as CommandSettings
from event_store.dynamodb import create_tables
from fastapi.testclient import TestClient
from query_service.app import create_app as create_query_app
from query_service.settings import Settings as QuerySettings
from read_model import migrate
from read_model_updater import lambda_handler as updater
from telemetry.testing import reset_telemetry

pytestmark = pytest.mark.postgres

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
BOB = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B"
BATCH_SIZE = 4


@pytest.fixture
def tables(moto_endpoint: str) -> Iterator[tuple[str, str]]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=journal, snapshot_table=snapshot)
    yield journal, snapshot
    for name in (journal, snapshot):
        client.delete_table(TableName=name)
    client.close()


@pytest.fixture
def command(tables: tuple[str, str]) -> Iterator[TestClient]:
    journal, snapshot = tables
    settings = CommandSettings(event_store_url=f"dynamodb://{journal}?snapshot_table={snapshot}")
    with TestClient(create_command_app(settings)) as client:
        yield client
    reset_telemetry()


@pytest.fixture
def read_model(postgres_url: str) -> str:
    migrate(postgres_url)
    return postgres_url


@pytest.fixture
def query(read_model: str) -> Iterator[TestClient]:
    with TestClient(create_query_app(QuerySettings(read_model_url=read_model))) as client:
        yield client
    reset_telemetry()


@pytest.fixture
def updater_handler(read_model: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("READ_MODEL_URL", read_model)
    monkeypatch.setattr(updater, "_engine", None)
    yield updater.handler
    if updater._engine is not None:
        updater._engine.dispose()
    reset_telemetry()


def journal_stream_records(moto_endpoint: str, journal: str) -> list[dict[str, Any]]:
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


def deliver(handler: Callable[..., Any], event: dict[str, Any], batch_size: int) -> int:
    """Invoke `handler` as the event source mapping would; return the number of invocations.

    Batches of `batch_size` in shard order; after a partial failure, delivery resumes at the
    lowest reported sequence number.
    """
    records = event["Records"]
    index = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
    position = invocations = 0
    while position < len(records):
        invocations += 1
        assert invocations <= 10 * len(records), "delivery does not make progress"
        batch = records[position : position + batch_size]
        response = handler({"Records": batch}, None)
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        position = min(index[s] for s in failed) if failed else position + len(batch)
    return invocations


def post(client: TestClient, command: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/command/v1/group-chats/{command}", json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def test_commands_show_up_in_the_query_service_when_the_stream_is_fed_to_the_updater(
    command: TestClient,
    query: TestClient,
    updater_handler: Any,
    tables: tuple[str, str],
    moto_endpoint: str,
    lambda_stream_event: Callable[[list[dict[str, Any]]], dict[str, Any]],
) -> None:
    chat = post(command, "create", {"name": "developers", "executorId": ALICE})["groupChatId"]
    post(
        command,
        "add-member",
        {"groupChatId": chat, "userAccountId": BOB, "role": "member", "executorId": ALICE},
    )
    first = post(command, "post-message", {"groupChatId": chat, "content": "hi", "executorId": BOB})
    post(command, "post-message", {"groupChatId": chat, "content": "hello", "executorId": ALICE})
    post(
        command,
        "edit-message",
        {
            "groupChatId": chat,
            "messageId": first["messageId"],
            "content": "hi all",
            "executorId": BOB,
        },
    )
    post(command, "rename", {"groupChatId": chat, "name": "dev team", "executorId": ALICE})
    other = post(command, "create", {"name": "other", "executorId": BOB})["groupChatId"]

    records = journal_stream_records(moto_endpoint, tables[0])
    inserts = [r for r in records if r["eventName"] == "INSERT"]
    assert len({r["dynamodb"]["NewImage"]["skey"]["S"] for r in inserts}) == 7
    event = lambda_stream_event(records)
    assert isinstance(event["Records"][0]["dynamodb"]["NewImage"]["payload"]["B"], str)

    deliver(updater_handler, event, BATCH_SIZE)

    params = {"userAccountId": BOB}
    assert query.get(f"/query/v1/group-chats/{chat}", params=params).json()["name"] == "dev team"
    members = query.get(f"/query/v1/group-chats/{chat}/members", params=params).json()
    assert {(m["userAccountId"], m["role"]) for m in members} == {
        (ALICE, "administrator"),
        (BOB, "member"),
    }
    page = query.get(f"/query/v1/group-chats/{chat}/messages", params=params).json()
    assert sorted((m["userAccountId"], m["text"]) for m in page["items"]) == [
        (ALICE, "hello"),
        (BOB, "hi all"),
    ]
    chats = query.get("/query/v1/group-chats", params=params).json()
    assert {c["id"] for c in chats} == {chat, other}

    # The whole stream delivered again (a replayed shard) changes nothing.
    deliver(updater_handler, event, len(event["Records"]))
    assert query.get("/query/v1/group-chats", params=params).json() == chats
