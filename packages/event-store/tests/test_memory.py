"""The event store contract, run against the in-memory backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract import EventStoreContract, StoreFactory, closing_factory
from event_store.memory import InMemoryEventStore


class TestInMemoryEventStore(EventStoreContract):
    reopens_storage = False  # every instance has its own memory

    @pytest.fixture
    def store_factory(self) -> Iterator[StoreFactory]:
        yield from closing_factory(lambda interval: InMemoryEventStore(interval))


def test_raises_value_error_when_snapshot_interval_is_negative() -> None:
    with pytest.raises(ValueError, match="snapshot_interval"):
        InMemoryEventStore(snapshot_interval=-1)
