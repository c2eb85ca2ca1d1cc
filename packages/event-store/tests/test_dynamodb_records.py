"""The DynamoDB item layout and record decoding, without boto3 or a server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from event_store import NewEvent, StoredEvent
from event_store.dynamodb_records import (
    JournalImageError,
    java_string_hash,
    journal_item,
    partition_key,
    shard_of,
    sort_key,
    stored_event_from_image,
    type_name_of,
)

AID = "GroupChat-01JGQ6XH3M7N8P9Q0R1S2T3V4W"


@pytest.mark.parametrize(
    ("text", "java_hash_code"),
    [
        # Values printed by Java's String.hashCode().
        ("", 0),
        ("hello", 99162322),
        ("Hello World", -862545276),
        ("Aa", 2112),
        ("BB", 2112),
        ("polygenelubricants", -2147483648),  # Integer.MIN_VALUE
        ("\U0001f600", 1772899),  # one code point, two UTF-16 code units
    ],
)
def test_hash_equals_javas_string_hash_code_when_given_known_strings(
    text: str, java_hash_code: int
) -> None:
    assert java_string_hash(text) == java_hash_code


def test_shard_is_abs_hash_mod_count_when_hash_is_negative() -> None:
    assert shard_of("Hello World", 64) == 862545276 % 64
    assert shard_of("Hello World", 7) == 862545276 % 7


def test_shard_is_zero_when_hash_is_int_min_and_count_is_a_power_of_two() -> None:
    assert shard_of("polygenelubricants", 64) == 0


def test_partition_key_is_type_and_shard_when_id_is_prefixed() -> None:
    assert type_name_of(AID) == "GroupChat"
    assert partition_key(AID, 64) == f"GroupChat-{shard_of(AID, 64)}"
    assert partition_key("plain", 8) == f"plain-{shard_of('plain', 8)}"


def test_sort_keys_sort_numerically_when_zero_padded() -> None:
    seq_nrs = [1, 2, 9, 10, 11, 99, 100, 1000, 10**12]
    keys = [sort_key(AID, n) for n in seq_nrs]
    assert sorted(keys) == keys
    assert keys[0] == f"{AID}-00000000000000000001"
    assert sort_key(AID, 0) == f"{AID}-00000000000000000000"


def test_sort_key_raises_when_seq_nr_is_negative() -> None:
    with pytest.raises(ValueError, match="seq_nr"):
        sort_key(AID, -1)


def _new_event() -> NewEvent:
    return NewEvent(
        event_id="01JGQ6XH3M7N8P9Q0R1S2T3V5X",
        event_type="MessagePosted",
        payload=b"\x00\xffbinary\x01",
        occurred_at_ms=1767225600123,
        metadata={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )


def _expected(seq_nr: int = 7) -> StoredEvent:
    event = _new_event()
    return StoredEvent(
        aggregate_id=AID,
        seq_nr=seq_nr,
        event_id=event.event_id,
        event_type=event.event_type,
        payload=event.payload,
        occurred_at_ms=event.occurred_at_ms,
        metadata=dict(event.metadata),
        position=None,
    )


def test_image_decodes_when_item_comes_from_boto3_with_bytes() -> None:
    item = journal_item(AID, 7, _new_event(), 64)
    assert stored_event_from_image(item) == _expected()


def test_image_decodes_when_record_comes_from_a_lambda_event_with_base64() -> None:
    # A DynamoDB Streams record as a Lambda handler receives it (parsed JSON: binary is base64).
    lambda_event = {
        "Records": [
            {
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1767225600,
                    "Keys": {
                        "pkey": {"S": "GroupChat-42"},
                        "skey": {"S": f"{AID}-00000000000000000007"},
                    },
                    "NewImage": {
                        "pkey": {"S": "GroupChat-42"},
                        "skey": {"S": f"{AID}-00000000000000000007"},
                        "aid": {"S": AID},
                        "seq_nr": {"N": "7"},
                        "event_id": {"S": "01JGQ6XH3M7N8P9Q0R1S2T3V5X"},
                        "event_type": {"S": "MessagePosted"},
                        "payload": {"B": "AP9iaW5hcnkB"},
                        "occurred_at": {"N": "1767225600123"},
                        "metadata": {"S": json.dumps(dict(_new_event().metadata))},
                    },
                    "SequenceNumber": "111",
                    "SizeBytes": 26,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": (
                    "arn:aws:dynamodb:us-east-1:123456789012:table/journal/stream/"
                    "2026-01-01T00:00:00.000"
                ),
            }
        ]
    }
    assert base64.b64decode("AP9iaW5hcnkB") == _new_event().payload
    image = lambda_event["Records"][0]["dynamodb"]["NewImage"]
    assert stored_event_from_image(image) == _expected()


def test_image_decodes_with_empty_metadata_when_metadata_is_absent() -> None:
    item = journal_item(AID, 1, _new_event(), 64)
    del item["metadata"]
    assert stored_event_from_image(item).metadata == {}


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("aid", None),
        ("seq_nr", {"S": "7"}),
        ("seq_nr", {"N": "seven"}),
        ("seq_nr", {"N": "0"}),
        ("payload", {"B": "not base64!"}),
        ("payload", {"S": "text"}),
        ("metadata", {"S": "{not json"}),
        ("metadata", {"S": '{"n": 1}'}),
        ("occurred_at", None),
    ],
)
def test_image_raises_journal_image_error_when_attribute_is_bad(
    attribute: str, value: dict[str, str] | None
) -> None:
    item = journal_item(AID, 7, _new_event(), 64)
    if value is None:
        del item[attribute]
    else:
        item[attribute] = value
    with pytest.raises(JournalImageError, match=attribute):
        stored_event_from_image(item)


def test_records_module_does_not_import_boto3_when_imported() -> None:
    code = (
        "import sys, event_store, event_store.dynamodb_records; "
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
