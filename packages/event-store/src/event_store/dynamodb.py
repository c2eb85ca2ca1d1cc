"""`DynamoDBEventStore`: the journal and snapshot tables on Amazon DynamoDB.

The only module of `event_store` that imports boto3 (`import event_store` does not load it).
The item layout is described in `event_store.dynamodb_records`.

Appends are one `TransactWriteItems` each: a conditional put (`attribute_not_exists`) per
event, plus an update of the aggregate's snapshot row conditional on its `version` being the
expected one; that condition is what serializes writers of one aggregate. When a snapshot is
due, the same update writes the snapshot's payload and seq_nr. Loads read the snapshot row
with a consistent GetItem, then the events after it from the base table with a consistent,
paginated Query on the partition key and the sort-key range of the aggregate. (The GSI
`journal-aid-index` exists for tools; a GSI is only eventually consistent, so loads do not
use it.)

An append with an idempotency record adds one more item to the transaction: an update of the
record's own item in the snapshot table (partition `idempotency#<shard>`, see
`dynamodb_records`), conditional on no unexpired record being there. The snapshot table's TTL
(attribute `expires_at`) deletes expired records; reads ignore them before that. The record
lives in the snapshot table, not a third one: that table already holds the mutable,
non-streamed rows the command side owns, the command function may already update it, and no
extra table, URL parameter or grant is needed.

There is no global order of events: `read_all` is not supported. The read-model updater is fed
by the journal table's DynamoDB Stream instead. To replay the whole journal (rebuilding the read
model), list the aggregates with `aggregate_ids` (a Scan of the snapshot table) and read each
one's events in seq_nr order with `load(aggregate_id, use_snapshot=False)`.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoRegionError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from event_store import dynamodb_records as rec
from event_store._types import (
    DEFAULT_SNAPSHOT_INTERVAL,
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStoreError,
    EventStoreUnavailableError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    Snapshot,
    SnapshotFactory,
    StoredEvent,
    snapshot_due,
    validate_idempotency,
)

DEFAULT_JOURNAL_TABLE = "journal"
DEFAULT_SNAPSHOT_TABLE = "snapshot"

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's limit on one item: attribute names and values (the key included) together. A due
snapshot that would make its item larger is skipped (logged): the events are still appended."""

_logger = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = 100
MAX_EVENTS_PER_APPEND = MAX_TRANSACTION_ITEMS - 1
"""One transaction item is the snapshot row; the rest are events (one less with an
idempotency record, which is one more item)."""

# Errors worth retrying later: the backend is overloaded or briefly failing (botocore has
# already retried them with backoff by the time they reach us).
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_UNAVAILABLE_REASONS = frozenset(
    {"ProvisionedThroughputExceeded", "ThrottlingError", "RequestLimitExceeded"}
)


def _item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An upper bound on the size DynamoDB counts for `item` (S, N and B attributes).

    Names and string values count their UTF-8 bytes, binary values their length; a number
    counts its digits, more than DynamoDB's ~1 byte per 2 digits, so the bound is safe.
    """
    size = 0
    for name, typed in item.items():
        ((_, value),) = typed.items()
        size += len(name.encode()) + len(value if isinstance(value, bytes) else value.encode())
    return size


_URL_PARAMS = frozenset({"snapshot_table", "endpoint_url", "region", "shard_count"})


@dataclass(frozen=True, slots=True)
class DynamoDBSettings:
    """What a `dynamodb://` URL says: table names, shard count and where to connect."""

    journal_table: str = DEFAULT_JOURNAL_TABLE
    snapshot_table: str = DEFAULT_SNAPSHOT_TABLE
    shard_count: int = rec.DEFAULT_SHARD_COUNT
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def from_url(cls, url: str) -> DynamoDBSettings:
        """Parse `dynamodb://<journal>?snapshot_table=…&endpoint_url=…&region=…&shard_count=…`.

        Every part is optional: tables default to `journal` and `snapshot`, the region to
        `AWS_REGION` / `AWS_DEFAULT_REGION` (then boto3's own configuration), the endpoint to
        AWS's. Raises ValueError for anything else.
        """
        parts = urlsplit(url)
        if parts.scheme != "dynamodb":
            raise ValueError(f"not a dynamodb:// URL: {url!r}")
        if parts.path not in ("", "/"):
            raise ValueError(f"unexpected path in {url!r}: name the journal table as the host")
        params = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
        unknown = sorted(set(params) - _URL_PARAMS)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(unknown)} in {url!r}; "
                f"known: {', '.join(sorted(_URL_PARAMS))}"
            )
        shard_count = params.get("shard_count", str(rec.DEFAULT_SHARD_COUNT))
        if not shard_count.isdigit() or int(shard_count) < 1:
            raise ValueError(f"shard_count must be a positive integer, got {shard_count!r}")
        region = (
            params.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or None
        )
        return cls(
            journal_table=parts.netloc or DEFAULT_JOURNAL_TABLE,
            snapshot_table=params.get("snapshot_table") or DEFAULT_SNAPSHOT_TABLE,
            shard_count=int(shard_count),
            endpoint_url=params.get("endpoint_url") or None,
            region=region,
        )

    def client(self) -> Any:
        """A boto3 DynamoDB client for these settings (thread-safe; share it)."""
        config = Config(
            # Standard mode retries throttling and transient errors with jittered backoff.
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=10,
        )
        try:
            return boto3.session.Session().client(
                "dynamodb",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=config,
            )
        except NoRegionError as exc:
            raise ValueError(
                "no AWS region: add region=… to the dynamodb:// URL or set AWS_REGION"
            ) from exc


class DynamoDBEventStore:
    """Event store on the DynamoDB `journal` and `snapshot` tables (see module docs).

    `client` is a boto3 DynamoDB client (`DynamoDBSettings.client()` makes one); it is
    thread-safe, and so is this store. `page_size` caps the items read per Query or Scan page
    (None: DynamoDB's 1 MB pages).
    """

    def __init__(
        self,
        client: Any,
        *,
        journal_table: str = DEFAULT_JOURNAL_TABLE,
        snapshot_table: str = DEFAULT_SNAPSHOT_TABLE,
        shard_count: int = rec.DEFAULT_SHARD_COUNT,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        page_size: int | None = None,
    ) -> None:
        if shard_count < 1:
            raise ValueError(f"shard_count must be at least 1, got {shard_count}")
        if snapshot_interval < 0:
            raise ValueError(f"snapshot_interval must not be negative, got {snapshot_interval}")
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self._client = client
        self.journal_table = journal_table
        self.snapshot_table = snapshot_table
        self.shard_count = shard_count
        self.snapshot_interval = snapshot_interval
        self._page_size = page_size

    @classmethod
    def from_url(
        cls, url: str, *, snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL
    ) -> DynamoDBEventStore:
        """A store for a `dynamodb://` URL (see `DynamoDBSettings.from_url`)."""
        settings = DynamoDBSettings.from_url(url)
        return cls(
            settings.client(),
            journal_table=settings.journal_table,
            snapshot_table=settings.snapshot_table,
            shard_count=settings.shard_count,
            snapshot_interval=snapshot_interval,
        )

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        """Append `events` in one transaction if the aggregate is at `expected_version`.

        At most 99 events per call (a DynamoDB transaction holds 100 items, one of which is
        the snapshot row), 98 with an `idempotency` record; more raise ValueError. A stale
        `expected_version` raises `ConcurrencyError`, an unexpired record under the same
        idempotency key `DuplicateIdempotencyKeyError`.
        """
        _check_aggregate_id(aggregate_id)
        validate_idempotency(idempotency)
        if expected_version < 0:
            raise ValueError(f"expected_version must not be negative, got {expected_version}")
        if not events:
            raise ValueError("nothing to append: events is empty")
        most = MAX_EVENTS_PER_APPEND - (idempotency is not None)
        if len(events) > most:
            raise ValueError(
                f"cannot append {len(events)} events at once: a DynamoDB transaction holds "
                f"at most {MAX_TRANSACTION_ITEMS} items, so at most {most} events per append"
                + (" with an idempotency record" if idempotency is not None else "")
            )
        new_version = expected_version + len(events)
        # The idempotency item goes first and the snapshot row last: `_append_error` finds
        # their cancellation reasons at those indexes.
        items: list[dict[str, Any]] = (
            [{"Update": self._idempotency_update(idempotency)}] if idempotency is not None else []
        )
        items += [
            {
                "Put": {
                    "TableName": self.journal_table,
                    "Item": rec.journal_item(aggregate_id, seq_nr, event, self.shard_count),
                    "ConditionExpression": "attribute_not_exists(#pkey)",
                    "ExpressionAttributeNames": {"#pkey": rec.PKEY},
                }
            }
            for seq_nr, event in enumerate(events, start=expected_version + 1)
        ]
        items.append(
            {"Update": self._snapshot_update(aggregate_id, expected_version, new_version, snapshot)}
        )
        try:
            self._client.transact_write_items(
                TransactItems=items,
                # Makes botocore's retries of this call idempotent: if a first attempt
                # committed but its response was lost, the retry reports success instead
                # of a bogus conflict with our own write.
                ClientRequestToken=uuid.uuid4().hex,
            )
        except ClientError as exc:
            raise self._append_error(
                exc, aggregate_id, expected_version, len(items), idempotency
            ) from exc
        except BotoCoreError as exc:
            raise _translate(exc, f"append to {aggregate_id!r}") from exc
        return new_version

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """The unexpired record under `key` (consistent read), or None."""
        try:
            response = self._client.get_item(
                TableName=self.snapshot_table,
                Key=rec.idempotency_item_key(key, self.shard_count),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "read an idempotency record") from exc
        item = response.get("Item")
        if not item:
            return None
        record = IdempotencyRecord(
            key=key,
            fingerprint=item[rec.FINGERPRINT]["S"],
            response=bytes(item[rec.RESPONSE]["B"]),
            expires_at=int(item[rec.EXPIRES_AT]["N"]),
        )
        # TTL deletes an expired item some time after it expires (typically within days).
        return None if record.expired() else record

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        """Nothing to do: the snapshot table's TTL deletes expired records. Returns 0."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        return 0

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        """The latest snapshot (unless `use_snapshot` is false) and only the events after it."""
        _check_aggregate_id(aggregate_id)
        try:
            response = self._client.get_item(
                TableName=self.snapshot_table,
                Key=rec.item_key(aggregate_id, 0, self.shard_count),
                ConsistentRead=True,
            )
            row = response.get("Item")
            # The row is read either way: its version guards against a journal with missing events.
            snap = _snapshot_from_row(aggregate_id, row) if row and use_snapshot else None
            after = snap.seq_nr if snap else 0
            events = self._events_after(aggregate_id, after)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"load {aggregate_id!r}") from exc
        for offset, event in enumerate(events, start=1):
            if event.seq_nr != after + offset:
                raise EventStoreError(
                    f"journal of {aggregate_id!r} has a gap: expected seq_nr "
                    f"{after + offset}, found {event.seq_nr}"
                )
        version = events[-1].seq_nr if events else after
        recorded = int(row[rec.VERSION]["N"]) if row and rec.VERSION in row else 0
        if version < recorded:
            # The snapshot row was committed with events that are not there: never expected.
            raise EventStoreError(
                f"journal of {aggregate_id!r} ends at seq_nr {version} but its snapshot row "
                f"records version {recorded}"
            )
        return LoadedStream(
            aggregate_id=aggregate_id, snapshot=snap, events=events, version=version
        )

    def aggregate_ids(self, *, segment: int = 0, total_segments: int = 1) -> Iterator[str]:
        """Every aggregate id that has events, each once, in no particular order.

        A paginated, strongly consistent Scan of the snapshot table that returns only `aid`:
        every append updates its aggregate's snapshot row in the same transaction as the
        events, so that table holds exactly one row per aggregate with events (plus
        idempotency items, which have no `aid` and are filtered out). Scanning the journal
        instead would read, and pay for, every event, and see each id once per event.

        `segment` / `total_segments` split the table for a parallel scan (DynamoDB's
        `Segment` / `TotalSegments`): workers given segments 0..n-1 of n together see every
        id exactly once. An aggregate created while the scan runs may or may not be listed.
        Bad segment arguments raise ValueError at once; DynamoDB errors raise
        `EventStoreUnavailableError` / `EventStoreError` while iterating.
        """
        if total_segments < 1:
            raise ValueError(f"total_segments must be at least 1, got {total_segments}")
        if not 0 <= segment < total_segments:
            raise ValueError(f"segment must be in [0, {total_segments}), got {segment}")
        request: dict[str, Any] = {
            "TableName": self.snapshot_table,
            "ProjectionExpression": "#aid",
            "FilterExpression": "attribute_exists(#aid)",
            "ExpressionAttributeNames": {"#aid": rec.AID},
            # An aggregate whose first append committed just before the scan is listed too.
            "ConsistentRead": True,
        }
        if total_segments > 1:
            request |= {"Segment": segment, "TotalSegments": total_segments}
        if self._page_size is not None:
            request["Limit"] = self._page_size
        # A generator of its own, so that bad arguments raise here, not at the first next().
        return self._scan_ids(request)

    def _scan_ids(self, request: dict[str, Any]) -> Iterator[str]:
        while True:
            try:
                page = self._client.scan(**request)
            except (ClientError, BotoCoreError) as exc:
                raise _translate(exc, "list aggregate ids") from exc
            for item in page.get("Items", ()):
                yield item[rec.AID]["S"]
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                return
            request["ExclusiveStartKey"] = last_key

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        """Not supported: DynamoDB has no global order of events."""
        raise NotImplementedError(
            "DynamoDBEventStore has no global position to read by: the read-model updater "
            "is fed by the journal table's DynamoDB Stream (decode records with "
            "event_store.dynamodb_records.stored_event_from_image)"
        )

    def create_tables(self) -> dict[str, bool]:
        """Create this store's tables if missing (see `create_tables`)."""
        return create_tables(
            self._client, journal_table=self.journal_table, snapshot_table=self.snapshot_table
        )

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def _idempotency_update(self, record: IdempotencyRecord) -> dict[str, Any]:
        # An update rather than a put: the command function's role may update items of the
        # snapshot table already, and the condition makes it an insert-or-replace-if-expired.
        return {
            "TableName": self.snapshot_table,
            "Key": rec.idempotency_item_key(record.key, self.shard_count),
            "UpdateExpression": "SET #fingerprint = :fingerprint, #response = :response,"
            " #expires_at = :expires_at",
            "ConditionExpression": "attribute_not_exists(#pkey) OR #expires_at <= :now",
            "ExpressionAttributeNames": {
                "#pkey": rec.PKEY,
                "#fingerprint": rec.FINGERPRINT,
                "#response": rec.RESPONSE,
                "#expires_at": rec.EXPIRES_AT,
            },
            "ExpressionAttributeValues": {
                ":fingerprint": {"S": record.fingerprint},
                ":response": {"B": bytes(record.response)},
                ":expires_at": {"N": str(record.expires_at)},
                ":now": {"N": str(int(time.time()))},
            },
        }

    def _snapshot_update(
        self,
        aggregate_id: str,
        expected_version: int,
        new_version: int,
        snapshot: SnapshotFactory | None,
    ) -> dict[str, Any]:
        names = {"#version": rec.VERSION, "#aid": rec.AID}
        values: dict[str, Any] = {
            ":new": {"N": str(new_version)},
            ":aid": {"S": aggregate_id},
        }
        assignments = ["#version = :new", "#aid = :aid"]
        if snapshot is not None and snapshot_due(
            expected_version, new_version, self.snapshot_interval
        ):
            names |= {"#payload": rec.PAYLOAD, "#seq_nr": rec.SEQ_NR}
            values |= {":payload": {"B": bytes(snapshot())}, ":seq_nr": {"N": str(new_version)}}
            # The row after the update: its key and the attributes set here (it has no others).
            row = rec.item_key(aggregate_id, 0, self.shard_count) | {
                rec.VERSION: values[":new"],
                rec.AID: values[":aid"],
                rec.PAYLOAD: values[":payload"],
                rec.SEQ_NR: values[":seq_nr"],
            }
            if (size := _item_bytes(row)) <= MAX_ITEM_BYTES:
                assignments += ["#payload = :payload", "#seq_nr = :seq_nr"]
            else:
                # A snapshot only speeds loads up: one that cannot be stored must not refuse the
                # events. The previous snapshot stays (loads replay the events after it), and
                # the next due snapshot is tried again.
                del names["#payload"], names["#seq_nr"], values[":payload"], values[":seq_nr"]
                _logger.warning(
                    "snapshot of %s at version %d skipped: its item would be %d bytes, more "
                    "than the %d a DynamoDB item may hold",
                    aggregate_id,
                    new_version,
                    size,
                    MAX_ITEM_BYTES,
                )
        # DynamoDB rejects unused placeholders, so each branch adds only what it uses.
        if expected_version == 0:
            condition = "attribute_not_exists(#pkey)"
            names["#pkey"] = rec.PKEY
        else:
            condition = "#version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        return {
            "TableName": self.snapshot_table,
            "Key": rec.item_key(aggregate_id, 0, self.shard_count),
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            # On a conflict, the current row comes back so the error can name the version.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _append_error(
        self,
        exc: ClientError,
        aggregate_id: str,
        expected_version: int,
        items: int,
        idempotency: IdempotencyRecord | None,
    ) -> EventStoreError:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            return _translate(exc, f"append to {aggregate_id!r}")
        reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons") or []
        codes = {reason.get("Code") for reason in reasons}
        if (
            idempotency is not None
            and len(reasons) == items
            and reasons[0].get("Code") == "ConditionalCheckFailed"
        ):
            # Reported before a version conflict: the caller answers from the record.
            return DuplicateIdempotencyKeyError(idempotency.key)
        # TransactionConflict: another transaction on the same items was in flight; like a
        # failed condition, it means a concurrent writer, and the caller reloads and retries.
        if codes & {"ConditionalCheckFailed", "TransactionConflict"}:
            # The snapshot row's update is the last item; its old image tells the version.
            row_reason = reasons[-1] if len(reasons) == items else {}
            actual = None
            if row_reason.get("Code") == "ConditionalCheckFailed":
                old = row_reason.get("Item") or {}
                actual = int(old[rec.VERSION]["N"]) if rec.VERSION in old else 0
            return ConcurrencyError(aggregate_id, expected_version, actual)
        if codes & _UNAVAILABLE_REASONS:
            return EventStoreUnavailableError(
                f"DynamoDB throttled the append to {aggregate_id!r}: {sorted(map(str, codes))}"
            )
        return EventStoreError(
            f"DynamoDB cancelled the append to {aggregate_id!r}: {_message(exc)}"
        )

    def _events_after(self, aggregate_id: str, after: int) -> list[StoredEvent]:
        request: dict[str, Any] = {
            "TableName": self.journal_table,
            "KeyConditionExpression": "#pkey = :pkey AND #skey BETWEEN :from AND :to",
            # Another aggregate's keys can fall inside this range when its id extends this
            # one's (`X-1` and `X-1-5…` in one shard); the filter keeps only ours.
            "FilterExpression": "#aid = :aid",
            "ExpressionAttributeNames": {"#pkey": rec.PKEY, "#skey": rec.SKEY, "#aid": rec.AID},
            "ExpressionAttributeValues": {
                ":pkey": {"S": rec.partition_key(aggregate_id, self.shard_count)},
                ":from": {"S": rec.sort_key(aggregate_id, after + 1)},
                ":to": {"S": rec.sort_key(aggregate_id, rec.MAX_SEQ_NR)},
                ":aid": {"S": aggregate_id},
            },
            "ConsistentRead": True,
        }
        if self._page_size is not None:
            request["Limit"] = self._page_size
        events: list[StoredEvent] = []
        while True:
            page = self._client.query(**request)
            events.extend(rec.stored_event_from_image(item) for item in page.get("Items", ()))
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                return events
            request["ExclusiveStartKey"] = last_key


def create_tables(
    client: Any,
    *,
    journal_table: str = DEFAULT_JOURNAL_TABLE,
    snapshot_table: str = DEFAULT_SNAPSHOT_TABLE,
) -> dict[str, bool]:
    """Create the journal and snapshot tables if they do not exist, and wait until active.

    Both are PAY_PER_REQUEST with string keys `pkey` (HASH) and `skey` (RANGE). The journal
    also gets the GSI `journal-aid-index` (aid HASH, seq_nr RANGE, all attributes) and a
    stream of NEW_IMAGE records. The snapshot table gets TTL on `expires_at` (it deletes
    expired idempotency records), also when the table existed already. Existing tables are
    otherwise left as they are. Returns, per table name, whether it was created by this call.
    """
    string_keys = [
        {"AttributeName": rec.PKEY, "AttributeType": "S"},
        {"AttributeName": rec.SKEY, "AttributeType": "S"},
    ]
    key_schema = [
        {"AttributeName": rec.PKEY, "KeyType": "HASH"},
        {"AttributeName": rec.SKEY, "KeyType": "RANGE"},
    ]
    definitions: dict[str, dict[str, Any]] = {
        journal_table: {
            "AttributeDefinitions": [
                *string_keys,
                {"AttributeName": rec.AID, "AttributeType": "S"},
                {"AttributeName": rec.SEQ_NR, "AttributeType": "N"},
            ],
            "KeySchema": key_schema,
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": rec.JOURNAL_AID_INDEX,
                    "KeySchema": [
                        {"AttributeName": rec.AID, "KeyType": "HASH"},
                        {"AttributeName": rec.SEQ_NR, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        },
        snapshot_table: {"AttributeDefinitions": string_keys, "KeySchema": key_schema},
    }
    created: dict[str, bool] = {}
    try:
        for name, definition in definitions.items():
            try:
                client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **definition)
                created[name] = True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
                created[name] = False
        waiter = client.get_waiter("table_exists")
        for name in definitions:
            waiter.wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 90})
        _enable_ttl(client, snapshot_table)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, "create tables") from exc
    return created


def _enable_ttl(client: Any, table: str) -> None:
    """Turn on TTL on `expires_at` unless it is on (or being turned on) already."""
    described = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if described.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": rec.EXPIRES_AT},
    )


def _check_aggregate_id(aggregate_id: str) -> None:
    if not aggregate_id:
        raise ValueError("aggregate_id must not be empty")


def _snapshot_from_row(aggregate_id: str, row: Mapping[str, Any]) -> Snapshot | None:
    if rec.PAYLOAD not in row:
        return None  # the row only tracks the version until the first snapshot is due
    payload = row[rec.PAYLOAD]["B"]
    return Snapshot(
        aggregate_id=aggregate_id, seq_nr=int(row[rec.SEQ_NR]["N"]), payload=bytes(payload)
    )


def _message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', exc)}"


def _translate(exc: ClientError | BotoCoreError, action: str) -> EventStoreError:
    """Map a botocore error to the store's errors: retryable ones become Unavailable."""
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return EventStoreUnavailableError(f"DynamoDB is unreachable ({action}): {exc}")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        if code in _UNAVAILABLE_CODES:
            return EventStoreUnavailableError(
                f"DynamoDB is unavailable ({action}): {_message(exc)}"
            )
        if code == "ResourceNotFoundException":
            return EventStoreError(
                f"DynamoDB table missing ({action}): {_message(exc)}; "
                "create the tables with `cqrs-es create-dynamodb-tables`"
            )
        return EventStoreError(f"DynamoDB error ({action}): {_message(exc)}")
    return EventStoreError(f"DynamoDB client error ({action}): {exc}")
