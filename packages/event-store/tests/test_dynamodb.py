"""The event store contract, run against the DynamoDB backend on moto, plus DynamoDB specifics."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from contract import EventStoreContract, StoreFactory, closing_factory, new_event, snapshot_of
from event_store import (
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStoreError,
    EventStoreUnavailableError,
    IdempotencyRecord,
    NewEvent,
    open_event_store,
)
from event_store.dynamodb import (
    MAX_EVENTS_PER_APPEND,
    MAX_ITEM_BYTES,
    DynamoDBEventStore,
    DynamoDBSettings,
    create_tables,
)
from event_store.dynamodb_records import (
    idempotency_item_key,
    partition_key,
    sort_key,
    stored_event_from_image,
)

AID = "GroupChat-01JGQ6XH3M7N8P9Q0R1S2T3V4W"


@pytest.fixture
def client(moto_endpoint: str) -> Iterator[Any]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    client.close()


@pytest.fixture
def tables(client: Any) -> Iterator[tuple[str, str]]:
    """A journal and a snapshot table of this test's own, deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=journal, snapshot_table=snapshot)
    yield journal, snapshot
    for name in (journal, snapshot):
        client.delete_table(TableName=name)


@pytest.fixture
def url(moto_endpoint: str, tables: tuple[str, str]) -> str:
    journal, snapshot = tables
    return f"dynamodb://{journal}?snapshot_table={snapshot}&endpoint_url={moto_endpoint}"


def store_on(client: Any, tables: tuple[str, str], **options: Any) -> DynamoDBEventStore:
    journal, snapshot = tables
    return DynamoDBEventStore(client, journal_table=journal, snapshot_table=snapshot, **options)


class TestDynamoDBEventStore(EventStoreContract):
    supports_read_all = False  # no global order: DynamoDB Streams feed the updater
    enforces_unique_event_id = False  # uniqueness holds per aggregate journal row only
    purges_idempotency = False  # the snapshot table's TTL deletes expired records

    @pytest.fixture
    def store_factory(self, url: str) -> Iterator[StoreFactory]:
        yield from closing_factory(
            lambda interval: DynamoDBEventStore.from_url(url, snapshot_interval=interval)
        )


# -- layout --------------------------------------------------------------------------------


def test_tables_have_the_documented_keys_index_stream_and_billing_when_created(
    client: Any, tables: tuple[str, str]
) -> None:
    journal = client.describe_table(TableName=tables[0])["Table"]
    snapshot = client.describe_table(TableName=tables[1])["Table"]

    for table in (journal, snapshot):
        assert table["KeySchema"] == [
            {"AttributeName": "pkey", "KeyType": "HASH"},
            {"AttributeName": "skey", "KeyType": "RANGE"},
        ]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert journal["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    [index] = journal["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "journal-aid-index"
    assert index["KeySchema"] == [
        {"AttributeName": "aid", "KeyType": "HASH"},
        {"AttributeName": "seq_nr", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in journal["AttributeDefinitions"]}
    assert types == {"pkey": "S", "skey": "S", "aid": "S", "seq_nr": "N"}


def test_journal_rows_have_the_documented_attributes_when_appended(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, shard_count=64)
    event = NewEvent("e-1", "GroupChatCreated", b"\x00\x01", 1767225600123, {"k": "v"})

    store.append(AID, 0, [event])

    [item] = client.scan(TableName=tables[0])["Items"]
    assert item == {
        "pkey": {"S": partition_key(AID, 64)},
        "skey": {"S": f"{AID}-00000000000000000001"},
        "aid": {"S": AID},
        "seq_nr": {"N": "1"},
        "event_id": {"S": "e-1"},
        "event_type": {"S": "GroupChatCreated"},
        "payload": {"B": b"\x00\x01"},
        "occurred_at": {"N": "1767225600123"},
        "metadata": {"S": '{"k":"v"}'},
    }
    assert item["pkey"]["S"].startswith("GroupChat-")


def test_snapshot_row_at_seq_nr_zero_holds_version_then_snapshot_when_interval_is_crossed(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, snapshot_interval=3)
    key = {"pkey": {"S": partition_key(AID)}, "skey": {"S": sort_key(AID, 0)}}

    store.append(AID, 0, [new_event("a"), new_event("b")], snapshot=snapshot_of(["a", "b"]))
    row = client.get_item(TableName=tables[1], Key=key)["Item"]
    assert row == {**key, "aid": {"S": AID}, "version": {"N": "2"}}

    store.append(AID, 2, [new_event("c"), new_event("d")], snapshot=lambda: b"state@4")
    row = client.get_item(TableName=tables[1], Key=key)["Item"]
    assert row == {
        **key,
        "aid": {"S": AID},
        "version": {"N": "4"},
        "seq_nr": {"N": "4"},
        "payload": {"B": b"state@4"},
    }
    assert sort_key(AID, 0) == f"{AID}-00000000000000000000"


def test_loads_only_its_own_events_when_another_id_extends_it_in_the_same_partition(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, shard_count=1)  # one shard: every id in one partition
    store.append("GroupChat-1", 0, [new_event("short")])
    store.append("GroupChat-1-5", 0, [new_event("long1"), new_event("long2")])

    assert [e.event_id for e in store.load("GroupChat-1").events] == ["evt-short"]
    assert store.load("GroupChat-1").version == 1
    assert [e.seq_nr for e in store.load("GroupChat-1-5").events] == [1, 2]


# -- append --------------------------------------------------------------------------------


def test_concurrency_error_names_the_actual_version_when_the_transaction_is_cancelled(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables)
    store.append(AID, 0, [new_event("a"), new_event("b"), new_event("c")])

    with pytest.raises(ConcurrencyError) as stale:
        store.append(AID, 1, [new_event("x")])
    with pytest.raises(ConcurrencyError) as fresh:
        store.append(AID, 0, [new_event("y")])
    with pytest.raises(ConcurrencyError) as unknown:
        store.append("GroupChat-new", 2, [new_event("z")])

    assert (stale.value.expected_version, stale.value.actual_version) == (1, 3)
    assert (fresh.value.expected_version, fresh.value.actual_version) == (0, 3)
    assert (unknown.value.expected_version, unknown.value.actual_version) == (2, 0)
    assert store.load(AID).version == 3


def test_appends_99_events_in_one_transaction_when_at_the_limit(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables)

    version = store.append(AID, 0, [new_event(f"e{n}") for n in range(MAX_EVENTS_PER_APPEND)])

    assert version == MAX_EVENTS_PER_APPEND == 99
    assert len(store.load(AID).events) == 99


def test_raises_value_error_and_writes_nothing_when_more_than_99_events_are_appended(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables)

    with pytest.raises(ValueError, match="at most 99 events"):
        store.append(AID, 0, [new_event(f"e{n}") for n in range(100)])

    assert store.load(AID).version == 0


def test_writes_a_snapshot_item_just_under_the_item_limit_when_due(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, snapshot_interval=1)
    # 400,000 rather than MAX_ITEM_BYTES less the ~150 bytes of the row's other attributes:
    # moto refuses items above 405,000 bytes, a little short of DynamoDB's 409,600.
    payload = bytes(400_000)

    store.append(AID, 0, [new_event("a")], snapshot=lambda: payload)

    snapshot = store.load(AID).snapshot
    assert snapshot is not None
    assert snapshot.payload == payload


def test_skips_a_snapshot_that_would_exceed_the_item_limit_and_still_appends_the_events(
    client: Any, tables: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = store_on(client, tables, snapshot_interval=2)
    store.append(AID, 0, [new_event("a")])
    store.append(AID, 1, [new_event("b")], snapshot=lambda: b"small")

    # Version 4 is due a snapshot that no item can hold (DynamoDB, and moto, would refuse the
    # whole transaction): the events go in, the snapshot at version 2 stays.
    with caplog.at_level(logging.WARNING, logger="event_store.dynamodb"):
        version = store.append(
            AID, 2, [new_event("c"), new_event("d")], snapshot=lambda: bytes(MAX_ITEM_BYTES)
        )

    assert version == 4
    loaded = store.load(AID)
    assert loaded.version == 4
    assert loaded.snapshot is not None
    assert (loaded.snapshot.seq_nr, loaded.snapshot.payload) == (2, b"small")
    assert [e.seq_nr for e in loaded.events] == [3, 4]
    assert any(
        "GroupChat-01JGQ6XH3M7N8P9Q0R1S2T3V4W" in r.getMessage() and "skipped" in r.getMessage()
        for r in caplog.records
    )
    # The version check still guards the append that skipped its snapshot.
    with pytest.raises(ConcurrencyError):
        store.append(AID, 2, [new_event("e")], snapshot=lambda: bytes(MAX_ITEM_BYTES))


# -- load ----------------------------------------------------------------------------------


class _CountingClient:
    """Delegates to a boto3 client, counting `query` calls (to see pagination happen)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.queries = 0

    def query(self, **kwargs: Any) -> Any:
        self.queries += 1
        return self._client.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_loads_every_event_in_order_when_the_stream_spans_many_query_pages(
    client: Any, tables: tuple[str, str]
) -> None:
    counting = _CountingClient(client)
    store = store_on(counting, tables, page_size=4, snapshot_interval=0)
    names = [f"e{n}" for n in range(23)]
    for start in range(0, len(names), 5):
        store.append(AID, start, [new_event(n) for n in names[start : start + 5]])

    counting.queries = 0
    loaded = store.load(AID)

    assert [e.seq_nr for e in loaded.events] == list(range(1, 24))
    assert [e.event_id for e in loaded.events] == [f"evt-{n}" for n in names]
    assert loaded.version == 23
    assert counting.queries >= 6  # 23 events, 4 per page


def test_loads_only_events_after_the_snapshot_when_paginating(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, page_size=2, snapshot_interval=10)
    history = [f"e{n}" for n in range(15)]
    store.append(AID, 0, [new_event(n) for n in history[:12]], snapshot=snapshot_of(history[:12]))
    store.append(AID, 12, [new_event(n) for n in history[12:]], snapshot=snapshot_of(history))

    loaded = store.load(AID)

    assert loaded.snapshot is not None
    assert loaded.snapshot.seq_nr == 12
    assert [e.seq_nr for e in loaded.events] == [13, 14, 15]


# -- aggregate_ids -------------------------------------------------------------------------


class _ScanCountingClient:
    """Delegates to a boto3 client, recording the `scan` requests."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.scans: list[dict[str, Any]] = []

    def scan(self, **kwargs: Any) -> Any:
        self.scans.append(kwargs)
        return self._client.scan(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _aggregates(count: int) -> list[str]:
    # Several types, and one id extending another (`…-1` and `…-1-5`), as the layout allows.
    ids = [f"GroupChat-{n:02d}" for n in range(count - 2)]
    return [*ids, "UserAccount-1", "UserAccount-1-5"]


def test_aggregate_ids_lists_each_aggregate_once_when_they_have_many_events_and_snapshots(
    client: Any, tables: tuple[str, str]
) -> None:
    counting = _ScanCountingClient(client)
    store = store_on(counting, tables, page_size=3, snapshot_interval=2, shard_count=4)
    ids = _aggregates(9)
    for n, aggregate_id in enumerate(ids):
        names = [f"{aggregate_id}-e{i}" for i in range(n % 4 + 1)]
        store.append(aggregate_id, 0, [new_event(x) for x in names], snapshot=snapshot_of(names))
    record = IdempotencyRecord("UserAccount-X/create/k", "f" * 64, b"{}", 2_000_000_000)
    store.append(ids[0], 1, [new_event("with-key")], idempotency=record)

    listed = list(store.aggregate_ids())

    assert sorted(listed) == sorted(ids)  # once each; the idempotency item is not an aggregate
    assert len(counting.scans) >= 4  # 10 snapshot-table items, 3 per page
    assert {scan["TableName"] for scan in counting.scans} == {tables[1]}
    assert all(scan["ConsistentRead"] for scan in counting.scans)


def test_aggregate_ids_lists_nothing_when_the_journal_is_empty(
    client: Any, tables: tuple[str, str]
) -> None:
    assert list(store_on(client, tables).aggregate_ids()) == []


def test_parallel_segments_list_every_aggregate_exactly_once_when_combined(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, page_size=2)
    ids = _aggregates(12)
    for aggregate_id in ids:
        store.append(aggregate_id, 0, [new_event(aggregate_id)])

    per_segment = [list(store.aggregate_ids(segment=s, total_segments=3)) for s in range(3)]

    assert sorted(x for segment in per_segment for x in segment) == sorted(ids)


@pytest.mark.parametrize(("segment", "total"), [(0, 0), (-1, 2), (2, 2)])
def test_aggregate_ids_raises_value_error_when_the_segment_is_out_of_range(
    client: Any, tables: tuple[str, str], segment: int, total: int
) -> None:
    with pytest.raises(ValueError, match="segment"):
        store_on(client, tables).aggregate_ids(segment=segment, total_segments=total)


# -- streams -------------------------------------------------------------------------------


def test_stream_images_decode_to_the_loaded_events_when_read_with_dynamodbstreams(
    client: Any, tables: tuple[str, str], moto_endpoint: str
) -> None:
    store = store_on(client, tables)
    store.append(AID, 0, [new_event("a", metadata={"traceparent": "00-a-b-01"}), new_event("b")])
    store.append(AID, 2, [NewEvent("e-bin", "Binary", bytes(range(256)), 5)])

    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = client.describe_table(TableName=tables[0])["Table"]["LatestStreamArn"]
    images = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        images += [r["dynamodb"]["NewImage"] for r in records if r["eventName"] == "INSERT"]
    streams.close()

    assert all(isinstance(image["payload"]["B"], bytes) for image in images)
    decoded = [stored_event_from_image(image) for image in images]
    assert decoded == list(store.load(AID).events)


# -- errors --------------------------------------------------------------------------------


def test_read_all_raises_not_implemented_naming_streams_when_called(
    client: Any, tables: tuple[str, str]
) -> None:
    with pytest.raises(NotImplementedError, match="DynamoDB Stream"):
        store_on(client, tables).read_all()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_raises_unavailable_when_the_endpoint_cannot_be_reached() -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2),
    )
    store = DynamoDBEventStore(client)

    with pytest.raises(EventStoreUnavailableError, match="unreachable"):
        store.load(AID)
    with pytest.raises(EventStoreUnavailableError, match="unreachable"):
        store.append(AID, 0, [new_event("a")])
    store.close()


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDBEventStore, Stubber]]:
    """A store whose client answers from a botocore Stubber (for errors moto cannot produce)."""
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield DynamoDBEventStore(client), stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"],
)
def test_raises_unavailable_when_dynamodb_throttles_or_fails_transiently(
    stubbed: tuple[DynamoDBEventStore, Stubber], code: str
) -> None:
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code=code)
    stubber.add_client_error("transact_write_items", service_error_code=code)

    with pytest.raises(EventStoreUnavailableError, match=code):
        store.load(AID)
    with pytest.raises(EventStoreUnavailableError, match=code):
        store.append(AID, 0, [new_event("a")])


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("TransactionConflict", ConcurrencyError),
        ("ThrottlingError", EventStoreUnavailableError),
        ("ValidationError", EventStoreError),
    ],
)
def test_maps_the_cancellation_reason_when_the_transaction_is_cancelled(
    stubbed: tuple[DynamoDBEventStore, Stubber], reason: str, error: type[Exception]
) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": reason}]},
    )

    with pytest.raises(error) as caught:
        store.append(AID, 0, [new_event("a")])

    assert type(caught.value) is error


def test_raises_event_store_error_naming_the_cli_when_a_table_is_missing(client: Any) -> None:
    store = DynamoDBEventStore(client, journal_table="no-such", snapshot_table="no-such-either")

    with pytest.raises(EventStoreError, match="create-dynamodb-tables"):
        store.load(AID)


# -- tables and settings -------------------------------------------------------------------


def test_create_tables_leaves_existing_tables_and_data_alone_when_run_again(
    client: Any, tables: tuple[str, str]
) -> None:
    journal, snapshot = tables
    store = store_on(client, tables)
    store.append(AID, 0, [new_event("kept")])

    assert create_tables(client, journal_table=journal, snapshot_table=snapshot) == {
        journal: False,
        snapshot: False,
    }
    assert store.create_tables() == {journal: False, snapshot: False}
    assert [e.event_id for e in store.load(AID).events] == ["evt-kept"]


def test_create_tables_reports_created_when_tables_are_new(client: Any) -> None:
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"j-{suffix}", f"s-{suffix}"
    try:
        created = create_tables(client, journal_table=journal, snapshot_table=snapshot)
        assert created == {journal: True, snapshot: True}
    finally:
        for name in (journal, snapshot):
            client.delete_table(TableName=name)


def test_settings_use_defaults_and_the_environments_region_when_url_is_bare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")

    assert DynamoDBSettings.from_url("dynamodb://") == DynamoDBSettings(
        journal_table="journal",
        snapshot_table="snapshot",
        shard_count=64,
        endpoint_url=None,
        region="eu-west-1",
    )


def test_settings_read_every_parameter_when_url_names_them() -> None:
    url = (
        "dynamodb://events?snapshot_table=snaps&endpoint_url=http://127.0.0.1:4566"
        "&region=ap-northeast-1&shard_count=8"
    )

    assert DynamoDBSettings.from_url(url) == DynamoDBSettings(
        journal_table="events",
        snapshot_table="snaps",
        shard_count=8,
        endpoint_url="http://127.0.0.1:4566",
        region="ap-northeast-1",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db", "not a dynamodb"),
        ("dynamodb://journal?snapshot=s", "unknown parameter"),
        ("dynamodb://journal?shard_count=0", "shard_count"),
        ("dynamodb://journal?shard_count=many", "shard_count"),
        ("dynamodb://journal/extra", "path"),
    ],
)
def test_settings_raise_value_error_when_url_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DynamoDBSettings.from_url(url)


def test_from_url_opens_a_working_store_when_given_the_endpoint(url: str) -> None:
    store = DynamoDBEventStore.from_url(url, snapshot_interval=7)
    try:
        assert store.snapshot_interval == 7
        assert store.append(AID, 0, [new_event("a")]) == 1
        assert store.load(AID).version == 1
    finally:
        store.close()


def test_open_event_store_returns_a_working_dynamodb_store_when_url_is_dynamodb(url: str) -> None:
    store = open_event_store(url, snapshot_interval=2)
    try:
        assert isinstance(store, DynamoDBEventStore)
        assert store.snapshot_interval == 2
        history = ["a", "b"]
        store.append(AID, 0, [new_event(n) for n in history], snapshot=snapshot_of(history))
        loaded = store.load(AID)
        assert (loaded.version, loaded.snapshot is not None) == (2, True)
    finally:
        store.close()


# -- idempotency ---------------------------------------------------------------------------


def test_idempotency_item_lives_in_the_snapshot_table_under_its_own_partition_when_recorded(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables, shard_count=64)
    record = IdempotencyRecord(
        "UserAccount-X/create/k-1", "f" * 64, b'{"status":201}', 2_000_000_000
    )

    store.append(AID, 0, [new_event("a")], idempotency=record)

    items = client.scan(TableName=tables[1])["Items"]
    [item] = [i for i in items if i["pkey"]["S"].startswith("idempotency#")]
    assert item == {
        **idempotency_item_key(record.key, 64),
        "fingerprint": {"S": "f" * 64},
        "response": {"B": b'{"status":201}'},
        "expires_at": {"N": "2000000000"},
    }
    assert "-" not in item["pkey"]["S"]  # an aggregate's partition key always has one
    assert len(client.scan(TableName=tables[0])["Items"]) == 1  # the journal: the event only


def test_snapshot_table_expires_items_by_ttl_on_expires_at_when_created(
    client: Any, tables: tuple[str, str]
) -> None:
    journal, snapshot = tables
    ttl = client.describe_time_to_live(TableName=snapshot)["TimeToLiveDescription"]

    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert create_tables(client, journal_table=journal, snapshot_table=snapshot) == {
        journal: False,
        snapshot: False,
    }


def test_appends_at_most_98_events_when_an_idempotency_record_is_given(
    client: Any, tables: tuple[str, str]
) -> None:
    store = store_on(client, tables)
    record = IdempotencyRecord("k", "f", b"r", 2_000_000_000)

    with pytest.raises(ValueError, match="at most 98 events"):
        store.append(AID, 0, [new_event(f"e{n}") for n in range(99)], idempotency=record)
    version = store.append(AID, 0, [new_event(f"e{n}") for n in range(98)], idempotency=record)

    assert version == 98
    assert store.get_idempotency("k") == record


def test_reports_the_duplicate_key_before_a_version_conflict_when_both_conditions_fail(
    stubbed: tuple[DynamoDBEventStore, Stubber],
) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={
            "CancellationReasons": [
                {"Code": "ConditionalCheckFailed"},
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed"},
            ]
        },
    )

    with pytest.raises(DuplicateIdempotencyKeyError):
        store.append(AID, 0, [new_event("a")], idempotency=IdempotencyRecord("k", "f", b"", 9))
