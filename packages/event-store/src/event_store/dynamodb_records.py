"""The DynamoDB journal's item layout, and decoding of its items and stream images.

This module is pure Python (no boto3): the read-model updater Lambda imports it to turn
DynamoDB Streams records into `StoredEvent`s without paying for an AWS SDK import.

Layout (both tables have a string partition key `pkey` and a string sort key `skey`):

- `pkey` = `<Type>-<shard>`, where `<Type>` is the aggregate id's prefix before its first
  `-` (`GroupChat` for `GroupChat-01J…`; the whole id when it has no `-`) and `<shard>` is
  `abs(java_string_hash(aggregate_id)) % shard_count`. All events of one aggregate share a
  partition, and aggregates are spread over `shard_count` partitions per type.
- `skey` = `<aggregate_id>-<seq_nr>` with `seq_nr` zero-padded to 20 digits
  (`GroupChat-01J…-00000000000000000007`), so that the lexical order of sort keys is the
  numeric order of sequence numbers and one aggregate's events are a contiguous key range.

`journal` item (one per event; never updated):

    pkey        S  GroupChat-17
    skey        S  GroupChat-01J…-00000000000000000007
    aid         S  GroupChat-01J…            (GSI `journal-aid-index`: aid HASH, seq_nr RANGE)
    seq_nr      N  7
    event_id    S  01J…
    event_type  S  MessagePosted
    payload     B  <opaque bytes>
    occurred_at N  1767225600000             (epoch milliseconds)
    metadata    S  {"traceparent": "00-…"}   (JSON object of string to string)

`snapshot` item (one per aggregate, the row of seq_nr 0: `skey` = `<aggregate_id>-000…0`):

    pkey, skey, aid   as above
    version     N  the aggregate's current version (seq_nr of its last event)
    seq_nr      N  the seq_nr the snapshot payload is as of   (absent until the first snapshot)
    payload     B  the serialized state                        (absent until the first snapshot)

`snapshot` table, idempotency item (one per recorded idempotency key; see `EventStore.append`):

    pkey        S  idempotency#<abs(java_string_hash(key)) % shard_count>   (no `-`: an
                   aggregate's partition key always has one, so the two never collide)
    skey        S  the key itself (at most 1,024 bytes)
    fingerprint S  the request's fingerprint
    response    B  the recorded response
    expires_at  N  Unix seconds: the table's TTL attribute; an item past it is ignored

Stream records: the journal table's stream has view type NEW_IMAGE. A record's
`dynamodb.NewImage` is a map of attribute name to a typed value (`{"S": "…"}`, `{"N": "7"}`,
`{"B": …}`). In the JSON event a Lambda receives, `B` values are base64 strings; from boto3
(e.g. the `dynamodbstreams` client's GetRecords) they are `bytes`. `stored_event_from_image`
accepts both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from event_store._types import EventStoreError, NewEvent, StoredEvent

DEFAULT_SHARD_COUNT = 64
SEQ_NR_DIGITS = 20
MAX_SEQ_NR = 10**SEQ_NR_DIGITS - 1

# Attribute names, shared by the backend, the table definitions and the decoder.
PKEY = "pkey"
SKEY = "skey"
AID = "aid"
SEQ_NR = "seq_nr"
PAYLOAD = "payload"
OCCURRED_AT = "occurred_at"
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
METADATA = "metadata"
VERSION = "version"

FINGERPRINT = "fingerprint"
RESPONSE = "response"
EXPIRES_AT = "expires_at"
"""The snapshot table's TTL attribute (Unix seconds); only idempotency items have it."""
IDEMPOTENCY_PARTITION_PREFIX = "idempotency#"

JOURNAL_AID_INDEX = "journal-aid-index"

AttributeValue = dict[str, Any]
"""A typed DynamoDB attribute value, e.g. `{"S": "x"}`, as the low-level API uses them."""

Item = dict[str, AttributeValue]


class JournalImageError(EventStoreError, ValueError):
    """A journal item or stream image cannot be decoded into an event (it never will be)."""


def java_string_hash(value: str) -> int:
    """Java's `String.hashCode()`: 32-bit signed, over UTF-16 code units.

    Used for sharding so that the partition of an aggregate is the same as in the JVM
    implementations of this layout (e.g. j5ik2o's event-store-adapter).
    """
    h = 0
    data = value.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return h - 0x1_0000_0000 if h & 0x8000_0000 else h


def type_name_of(aggregate_id: str) -> str:
    """The aggregate type: the id's prefix before its first `-` (the whole id without one)."""
    return aggregate_id.split("-", 1)[0]


def shard_of(aggregate_id: str, shard_count: int = DEFAULT_SHARD_COUNT) -> int:
    """`abs(hashCode) % shard_count`.

    Java's `Math.abs(Integer.MIN_VALUE)` stays negative; here it is 2**31. The two agree
    whenever `shard_count` is a power of two (as the default 64 is).
    """
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, got {shard_count}")
    return abs(java_string_hash(aggregate_id)) % shard_count


def partition_key(aggregate_id: str, shard_count: int = DEFAULT_SHARD_COUNT) -> str:
    """`<Type>-<shard>`: the partition key of the aggregate's journal and snapshot rows."""
    return f"{type_name_of(aggregate_id)}-{shard_of(aggregate_id, shard_count)}"


def sort_key(aggregate_id: str, seq_nr: int) -> str:
    """`<aggregate_id>-<seq_nr zero-padded to 20 digits>` (seq_nr 0 is the snapshot row)."""
    if not 0 <= seq_nr <= MAX_SEQ_NR:
        raise ValueError(f"seq_nr out of range: {seq_nr}")
    return f"{aggregate_id}-{seq_nr:0{SEQ_NR_DIGITS}d}"


def item_key(aggregate_id: str, seq_nr: int, shard_count: int = DEFAULT_SHARD_COUNT) -> Item:
    """The primary key of a journal row (or, with seq_nr 0, of the snapshot row)."""
    return {
        PKEY: {"S": partition_key(aggregate_id, shard_count)},
        SKEY: {"S": sort_key(aggregate_id, seq_nr)},
    }


def idempotency_item_key(key: str, shard_count: int = DEFAULT_SHARD_COUNT) -> Item:
    """The primary key of the snapshot table's item holding the idempotency record `key`."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, got {shard_count}")
    shard = abs(java_string_hash(key)) % shard_count
    return {PKEY: {"S": f"{IDEMPOTENCY_PARTITION_PREFIX}{shard}"}, SKEY: {"S": key}}


def journal_item(
    aggregate_id: str, seq_nr: int, event: NewEvent, shard_count: int = DEFAULT_SHARD_COUNT
) -> Item:
    """The journal row of `event` appended as `seq_nr` of `aggregate_id`."""
    return {
        **item_key(aggregate_id, seq_nr, shard_count),
        AID: {"S": aggregate_id},
        SEQ_NR: {"N": str(seq_nr)},
        EVENT_ID: {"S": event.event_id},
        EVENT_TYPE: {"S": event.event_type},
        PAYLOAD: {"B": bytes(event.payload)},
        OCCURRED_AT: {"N": str(event.occurred_at_ms)},
        METADATA: {"S": json.dumps(dict(event.metadata), separators=(",", ":"), sort_keys=True)},
    }


def stored_event_from_image(image: Mapping[str, Any]) -> StoredEvent:
    """Decode a journal item into a `StoredEvent`.

    `image` is either an item as boto3's low-level client returns it (binary values as
    `bytes`) or a DynamoDB Streams record's `dynamodb.NewImage` as a Lambda receives it
    (binary values as base64 strings). Raises `JournalImageError` when it is not a journal
    row of this layout. `position` is None: DynamoDB has no global order.
    """
    metadata_json = _string(image, METADATA) if METADATA in image else "{}"
    try:
        metadata = json.loads(metadata_json)
    except json.JSONDecodeError as exc:
        raise JournalImageError(f"attribute {METADATA!r} is not JSON: {exc}") from exc
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise JournalImageError(f"attribute {METADATA!r} is not a JSON object of strings")
    seq_nr = _number(image, SEQ_NR)
    if seq_nr < 1:
        raise JournalImageError(f"attribute {SEQ_NR!r} must be at least 1, got {seq_nr}")
    return StoredEvent(
        aggregate_id=_string(image, AID),
        seq_nr=seq_nr,
        event_id=_string(image, EVENT_ID),
        event_type=_string(image, EVENT_TYPE),
        payload=_binary(image, PAYLOAD),
        occurred_at_ms=_number(image, OCCURRED_AT),
        metadata=metadata,
        position=None,
    )


def _typed(image: Mapping[str, Any], name: str, type_code: str) -> Any:
    value = image.get(name)
    if not isinstance(value, Mapping) or type_code not in value:
        raise JournalImageError(
            f"attribute {name!r} is missing or not of DynamoDB type {type_code}: {value!r:.80}"
        )
    return value[type_code]


def _string(image: Mapping[str, Any], name: str) -> str:
    value = _typed(image, name, "S")
    if not isinstance(value, str):
        raise JournalImageError(f"attribute {name!r} is not a string")
    return value


def _number(image: Mapping[str, Any], name: str) -> int:
    value = _typed(image, name, "N")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise JournalImageError(f"attribute {name!r} is not an integer: {value!r:.40}") from exc


def _binary(image: Mapping[str, Any], name: str) -> bytes:
    value = _typed(image, name, "B")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise JournalImageError(f"attribute {name!r} is not valid base64") from exc
    raise JournalImageError(f"attribute {name!r} is not binary")
