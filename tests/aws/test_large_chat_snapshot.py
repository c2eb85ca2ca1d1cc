"""The snapshot of a chat at the default size limits is written to DynamoDB (moto) and read back.

Issue #2: the DynamoDB store writes a chat's snapshot as one item (at most 400 KB) in the
transaction of every 100th event. The JSON snapshots of formats 1 and 2 took ~114 bytes a
message, so from ~3,500 messages on every snapshot-due append failed; a chat may hold 10,000.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chat_domain import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_MESSAGES,
    decode_state,
    encode,
    encode_state,
)
from chat_domain.testing import largest_chat
from event_store import NewEvent
from event_store.dynamodb import DynamoDBEventStore, create_tables


@pytest.fixture
def store(moto_endpoint: str) -> Iterator[DynamoDBEventStore]:
    client: Any = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=journal, snapshot_table=snapshot)
    yield DynamoDBEventStore(
        client, journal_table=journal, snapshot_table=snapshot, snapshot_interval=1
    )
    for name in (journal, snapshot):
        client.delete_table(TableName=name)
    client.close()


def test_snapshot_of_a_full_chat_is_written_and_read_back_when_the_store_is_dynamodb(
    store: DynamoDBEventStore,
) -> None:
    events, state = largest_chat()
    created = events[0]
    assert (state.message_count, len(state.members)) == (DEFAULT_MAX_MESSAGES, DEFAULT_MAX_MEMBERS)
    encoded = encode(created)
    aggregate_id = encoded.aggregate_id
    new = NewEvent(encoded.event_id, encoded.type_name, encoded.payload, encoded.occurred_at_ms)

    # The store does not interpret snapshots: the full chat's state rides on its first event
    # (every append is due one at interval 1), which is what this test is about.
    store.append(aggregate_id, 0, [new], snapshot=lambda: encode_state(state))

    snapshot = store.load(aggregate_id).snapshot
    assert snapshot is not None
    assert decode_state(snapshot.payload) == state
