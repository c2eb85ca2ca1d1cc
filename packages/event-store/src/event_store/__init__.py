"""Event store port and backends. Knows nothing of the chat domain: payloads are bytes.

Backends live in their own modules and import their drivers only when used:
`event_store.memory.InMemoryEventStore`, `event_store.sqlite.SqliteEventStore`,
`event_store.postgres.PostgresEventStore`, `event_store.dynamodb.DynamoDBEventStore`.
`open_event_store(url)` picks one from a URL.
"""

from event_store._types import (
    DEFAULT_SNAPSHOT_INTERVAL,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStore,
    EventStoreError,
    EventStoreUnavailableError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    Snapshot,
    SnapshotFactory,
    StoredEvent,
    snapshot_due,
)
from event_store.url import open_event_store

__all__ = [
    "DEFAULT_SNAPSHOT_INTERVAL",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "ConcurrencyError",
    "DuplicateIdempotencyKeyError",
    "EventStore",
    "EventStoreError",
    "EventStoreUnavailableError",
    "IdempotencyRecord",
    "LoadedStream",
    "NewEvent",
    "Snapshot",
    "SnapshotFactory",
    "StoredEvent",
    "open_event_store",
    "snapshot_due",
]
