"""Helpers shared by the command service tests: request helpers and event store wrappers.

Imported as `command_test_support` (conftest puts this directory on `sys.path`; tests run with
`--import-mode=importlib`). The name is unique across the workspace's test directories.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from event_store import (
    ConcurrencyError,
    EventStore,
    EventStoreUnavailableError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    SnapshotFactory,
    StoredEvent,
)
from fastapi import FastAPI
from fastapi.testclient import TestClient

GROUP_CHATS = "/command/v1/group-chats"
ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
BOB = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B"
CAROL = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE3C"


def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The EVENT_STORE_URL of a fresh store on `backend` (memory, sqlite or postgres)."""
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def store_of(client: TestClient) -> EventStore:
    """The event store of the app behind `client`."""
    app: FastAPI = client.app  # type: ignore[assignment]
    store: EventStore = app.state.event_store
    return store


def post(client: TestClient, command: str, body: dict[str, Any]) -> Any:
    """POST `body` to the command endpoint `command`; return the response."""
    return client.post(f"{GROUP_CHATS}/{command}", json=body)


def create_chat(client: TestClient, executor: str = ALICE, name: str = "developers") -> str:
    """Create a group chat administered by `executor`; return its id."""
    response = post(client, "create", {"name": name, "executorId": executor})
    assert response.status_code == 201, response.text
    chat_id: str = response.json()["groupChatId"]
    return chat_id


def add_member(client: TestClient, chat_id: str, user: str, role: str = "member") -> None:
    """Add `user` to `chat_id` (as ALICE, its administrator)."""
    response = post(
        client,
        "add-member",
        {"groupChatId": chat_id, "userAccountId": user, "role": role, "executorId": ALICE},
    )
    assert response.status_code == 200, response.text


def post_message(client: TestClient, chat_id: str, executor: str, content: str = "hi") -> str:
    """Post `content` as `executor`; return the message id."""
    response = post(
        client, "post-message", {"groupChatId": chat_id, "content": content, "executorId": executor}
    )
    assert response.status_code == 201, response.text
    message_id: str = response.json()["messageId"]
    return message_id


class DelegatingStore:
    """An `EventStore` that forwards everything to `inner`; subclasses override what they fake."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.snapshot_interval = inner.snapshot_interval
        self.appends = 0

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        self.appends += 1
        return self.inner.append(
            aggregate_id, expected_version, events, snapshot, idempotency=idempotency
        )

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        return self.inner.load(aggregate_id, use_snapshot=use_snapshot)

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        return self.inner.get_idempotency(key)

    def purge_expired_idempotency(self, limit: int = 1000) -> int:
        return self.inner.purge_expired_idempotency(limit)

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        return self.inner.read_all(after_position, limit)

    def close(self) -> None:
        self.inner.close()


class AlwaysConflictingStore(DelegatingStore):
    """Every append loses the race (as if another writer always got there first)."""

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        self.appends += 1
        raise ConcurrencyError(aggregate_id, expected_version, expected_version + 1)


class UnavailableStore(DelegatingStore):
    """The backend cannot be reached: every call fails with `EventStoreUnavailableError`."""

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        raise EventStoreUnavailableError("connection refused")

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        raise EventStoreUnavailableError("connection refused")

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        raise EventStoreUnavailableError("connection refused")
