"""Idempotent commands through HTTP: `Idempotency-Key` (REST) and `idempotencyKey` (GraphQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from command_service.app import create_app
from command_service.handlers import CommandHandler
from command_service.runtime import build_runtime
from command_service.settings import Settings
from command_test_support import (
    ALICE,
    BOB,
    GROUP_CHATS,
    DelegatingStore,
    add_member,
    create_chat,
    post,
    store_of,
    store_url,
)
from event_store import (
    DuplicateIdempotencyKeyError,
    EventStore,
    EventStoreUnavailableError,
    IdempotencyRecord,
    NewEvent,
    SnapshotFactory,
    open_event_store,
)
from fastapi.testclient import TestClient

KEY = "8d3c1f0e-5b7a-4e2d-9c6f-1a2b3c4d5e6f"
BARRIER_TIMEOUT_S = 60  # a safety net against a hang, never a timing assertion


def keyed(client: TestClient, command: str, body: dict[str, Any], key: str = KEY) -> Any:
    """POST `body` to `command` with an `Idempotency-Key`."""
    return client.post(f"{GROUP_CHATS}/{command}", json=body, headers={"Idempotency-Key": key})


def event_count(client_or_store: TestClient | EventStore, chat_id: str) -> int:
    store = (
        store_of(client_or_store) if isinstance(client_or_store, TestClient) else client_or_store
    )
    return store.load(chat_id, use_snapshot=False).version


def created_chats(store: EventStore) -> list[str]:
    """Ids of the chats in `store` (SQL and memory stores: by reading the whole log)."""
    return [e.aggregate_id for e in store.read_all() if e.event_type == "GroupChatCreated"]


def client_on(store: EventStore, **settings: Any) -> TestClient:
    """A started client of an app on `store` (which the caller keeps owning)."""
    app = create_app(Settings(event_store_url="memory://", **settings), event_store=store)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def store(any_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[EventStore]:
    opened = open_event_store(store_url(any_backend, tmp_path, request))
    yield opened
    opened.close()


# -- retries get the original response ------------------------------------------------------------


def test_returns_the_original_201_and_creates_one_chat_when_a_create_is_retried_with_its_key(
    store: EventStore,
) -> None:
    client = client_on(store)
    body = {"name": "developers", "executorId": ALICE}

    first = keyed(client, "create", body)
    retried = keyed(client, "create", body)

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert retried.headers["idempotent-replayed"] == "true"
    assert created_chats(store) == [first.json()["groupChatId"]]


@pytest.mark.parametrize(
    ("command", "status"),
    [("post-message", 201), ("rename", 200), ("add-member", 200)],
)
def test_returns_the_original_response_and_appends_once_when_a_command_is_retried(
    client: TestClient, command: str, status: int
) -> None:
    chat_id = create_chat(client)
    body = {
        "post-message": {"groupChatId": chat_id, "content": "hello", "executorId": ALICE},
        "rename": {"groupChatId": chat_id, "name": "renamed", "executorId": ALICE},
        "add-member": {
            "groupChatId": chat_id,
            "userAccountId": BOB,
            "role": "member",
            "executorId": ALICE,
        },
    }[command]

    responses = [keyed(client, command, body) for _ in range(3)]

    assert [r.status_code for r in responses] == [status] * 3
    assert [r.json() for r in responses] == [responses[0].json()] * 3
    assert event_count(client, chat_id) == 2  # the creation and one command


def test_replays_the_message_id_of_the_first_post_when_a_post_is_retried(
    client: TestClient,
) -> None:
    chat_id = create_chat(client)
    body = {"groupChatId": chat_id, "content": "hello", "executorId": ALICE}

    first = keyed(client, "post-message", body).json()
    retried = keyed(client, "post-message", body).json()

    assert retried == first
    [message] = store_of(client).load(chat_id, use_snapshot=False).events[1:]
    assert first["messageId"] in message.payload.decode()


def test_treats_bodies_as_the_same_when_they_differ_only_in_key_order_and_spacing(
    client: TestClient,
) -> None:
    first = client.post(
        f"{GROUP_CHATS}/create",
        content=f'{{"name": "x", "executorId": "{ALICE}"}}',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )
    retried = client.post(
        f"{GROUP_CHATS}/create",
        content=f'{{"executorId":"{ALICE}","name":"x","ignored":1}}',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )

    assert retried.json() == first.json()
    assert retried.headers["idempotent-replayed"] == "true"


# -- the key's scope, its validity and its lifetime -----------------------------------------------


def test_returns_422_idempotency_key_reused_and_appends_nothing_when_the_body_differs(
    client: TestClient,
) -> None:
    chat_id = create_chat(client)
    keyed(client, "post-message", {"groupChatId": chat_id, "content": "a", "executorId": ALICE})

    response = keyed(
        client, "post-message", {"groupChatId": chat_id, "content": "b", "executorId": ALICE}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert event_count(client, chat_id) == 2


def test_runs_both_commands_when_two_executors_use_the_same_key(client: TestClient) -> None:
    alice = keyed(client, "create", {"name": "a", "executorId": ALICE})
    bob = keyed(client, "create", {"name": "a", "executorId": BOB})

    assert (alice.status_code, bob.status_code) == (201, 201)
    assert alice.json() != bob.json()
    assert "idempotent-replayed" not in bob.headers


def test_runs_both_commands_when_one_executor_uses_the_same_key_for_two_commands(
    client: TestClient,
) -> None:
    created = keyed(client, "create", {"name": "a", "executorId": ALICE})
    chat_id = created.json()["groupChatId"]

    posted = keyed(
        client, "post-message", {"groupChatId": chat_id, "content": "x", "executorId": ALICE}
    )

    assert posted.status_code == 201
    assert event_count(client, chat_id) == 2


def test_scopes_the_key_by_the_executor_whatever_form_its_id_takes(client: TestClient) -> None:
    prefixed = keyed(client, "create", {"name": "a", "executorId": ALICE})
    bare = keyed(
        client, "create", {"name": "a", "executorId": ALICE.removeprefix("UserAccount-").lower()}
    )

    # The same executor, so the same scope; but another body, hence another request.
    assert bare.status_code == 422
    assert bare.json()["code"] == "idempotency_key_reused"
    assert prefixed.status_code == 201


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "tab\tinside", "caf\u00e9".encode(), "\x7f"],
    ids=["too-long", "tab", "non-ascii", "delete-char"],
)
def test_returns_400_naming_the_header_and_appends_nothing_when_the_key_is_malformed(
    client: TestClient, key: str | bytes
) -> None:
    response = client.post(
        f"{GROUP_CHATS}/create",
        json={"name": "a", "executorId": ALICE},
        headers={"Idempotency-Key": key},  # type: ignore[dict-item]
    )

    assert response.status_code == 400
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("validation_error", "Idempotency-Key")
    assert created_chats(store_of(client)) == []


def test_accepts_a_key_of_255_printable_characters_when_it_is_at_the_limit(
    client: TestClient,
) -> None:
    key = "".join(chr(0x21 + n % 94) for n in range(255))

    first = keyed(client, "create", {"name": "a", "executorId": ALICE}, key=key)
    retried = keyed(client, "create", {"name": "a", "executorId": ALICE}, key=key)

    assert (first.status_code, retried.json()) == (201, first.json())


def test_runs_the_command_when_it_is_retried_after_being_refused(client: TestClient) -> None:
    chat_id = create_chat(client)
    body = {"groupChatId": chat_id, "content": "hi", "executorId": BOB}

    refused = keyed(client, "post-message", body)
    add_member(client, chat_id, BOB)
    accepted = keyed(client, "post-message", body)

    assert (refused.status_code, refused.json()["code"]) == (422, "not_a_member")
    assert accepted.status_code == 201
    assert "idempotent-replayed" not in accepted.headers


def test_runs_the_command_again_when_the_key_has_expired(client: TestClient) -> None:
    app: Any = client.app
    store = store_of(client)
    # A service whose handler's clock is two days behind: its records expired a day ago.
    runtime = replace(
        build_runtime(app.state.settings, event_store=store),
        command_handler=CommandHandler(store, clock=lambda: datetime.now(UTC) - timedelta(days=2)),
    )
    body = {"name": "a", "executorId": ALICE}

    with TestClient(create_app(runtime=runtime)) as late:
        first = keyed(late, "create", body)
        again = keyed(late, "create", body)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() != first.json()
    assert len(created_chats(store_of(client))) == 2


def test_keeps_responses_for_the_configured_ttl_when_it_is_set(make_client: Any) -> None:
    client = make_client("memory", idempotency_ttl_seconds=90)
    before = int(datetime.now(UTC).timestamp())

    response = keyed(client, "create", {"name": "a", "executorId": ALICE})

    record = store_of(client).get_idempotency(f"{ALICE}/CreateGroupChat/{KEY}")
    assert record is not None
    assert before + 90 <= record.expires_at <= before + 92
    assert response.json()["groupChatId"] in record.response.decode()


# -- races and lost answers ------------------------------------------------------------------------


class HoldingStore(DelegatingStore):
    """Holds the first `parties` appends at a barrier, so that they all start together.

    Each request has then looked the key up (not found) and loaded the chat before any of them
    appends: the race the store and the handler must resolve.
    """

    def __init__(self, inner: EventStore, parties: int) -> None:
        super().__init__(inner)
        self.barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
        self._held = 0
        self._lock = threading.Lock()

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        with self._lock:
            hold = self._held < self.barrier.parties
            self._held += 1
        if hold:
            self.barrier.wait()
        return super().append(
            aggregate_id, expected_version, events, snapshot, idempotency=idempotency
        )


def race(clients: list[TestClient], command: str, body: dict[str, Any]) -> list[Any]:
    """Send the same keyed request through each client at once; return the responses.

    One client per request, each on an app of its own: as two processes (or two Lambda
    environments) would, since one process lets commands on a chat take turns.
    """
    responses: list[Any] = [None] * len(clients)

    def send(n: int) -> None:
        responses[n] = keyed(clients[n], command, body)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_appends_one_message_and_answers_both_alike_when_two_posts_race_with_one_key(
    store: EventStore,
) -> None:
    chat_id = create_chat(client_on(store))
    holding = HoldingStore(store, parties=2)
    body = {"groupChatId": chat_id, "content": "once", "executorId": ALICE}

    with client_on(holding) as first, client_on(holding) as second:
        responses = race([first, second], "post-message", body)

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert sorted(r.headers.get("idempotent-replayed", "no") for r in responses) == ["no", "true"]
    assert event_count(store, chat_id) == 2


def test_creates_one_chat_and_answers_both_alike_when_two_creates_race_with_one_key(
    store: EventStore,
) -> None:
    # Two creates append to two different new chats: only the key can stop the second.
    holding = HoldingStore(store, parties=2)

    with client_on(holding) as first, client_on(holding) as second:
        responses = race([first, second], "create", {"name": "once", "executorId": ALICE})

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert created_chats(store) == [responses[0].json()["groupChatId"]]


class CommitsThenFailsStore(DelegatingStore):
    """The first append commits, then reports `EventStoreUnavailableError`.

    What PostgreSQL does when the connection drops after COMMIT was sent: the append happened,
    the caller cannot know it.
    """

    def __init__(self, inner: EventStore) -> None:
        super().__init__(inner)
        self.failed = False

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        version = super().append(
            aggregate_id, expected_version, events, snapshot, idempotency=idempotency
        )
        if not self.failed:
            self.failed = True
            raise EventStoreUnavailableError("connection lost while committing")
        return version


def test_returns_the_committed_response_when_a_create_whose_commit_was_not_confirmed_is_retried(
    store: EventStore,
) -> None:
    client = client_on(CommitsThenFailsStore(store))
    body = {"name": "developers", "executorId": ALICE}

    lost = keyed(client, "create", body)
    retried = keyed(client, "create", body)

    assert lost.status_code == 503
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert created_chats(store) == [retried.json()["groupChatId"]]


def test_appends_one_message_when_a_post_whose_commit_was_not_confirmed_is_retried(
    store: EventStore,
) -> None:
    chat_id = create_chat(client_on(store))
    client = client_on(CommitsThenFailsStore(store))
    body = {"groupChatId": chat_id, "content": "once", "executorId": ALICE}

    lost = keyed(client, "post-message", body)
    retried = keyed(client, "post-message", body)

    assert (lost.status_code, retried.status_code) == (503, 201)
    assert event_count(store, chat_id) == 2


class KeyAlwaysTakenStore(DelegatingStore):
    """Every keyed append loses on the key, and the record can never be read."""

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
        if idempotency is not None:
            raise DuplicateIdempotencyKeyError(idempotency.key)
        return super().append(aggregate_id, expected_version, events, snapshot)


def test_returns_409_idempotency_in_progress_when_the_winner_cannot_be_read(
    store: EventStore,
) -> None:
    taken = KeyAlwaysTakenStore(store)
    client = client_on(taken, command_max_retries=2)

    response = keyed(client, "create", {"name": "a", "executorId": ALICE})

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert KEY in response.json()["detail"]
    assert taken.appends == 3
    assert created_chats(store) == []


# -- GraphQL ---------------------------------------------------------------------------------------

CREATE = """
mutation ($input: CreateGroupChatInput!) { createGroupChat(input: $input) { groupChatId } }
"""
POST = """
mutation ($input: PostMessageInput!) { postMessage(input: $input) { groupChatId messageId } }
"""


def graphql(client: TestClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/command/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_returns_the_original_output_and_appends_once_when_a_mutation_is_retried_with_its_key(
    client: TestClient,
) -> None:
    chat_id = create_chat(client)
    variables = {
        "input": {
            "groupChatId": chat_id,
            "content": "x",
            "executorId": ALICE,
            "idempotencyKey": KEY,
        }
    }

    first = graphql(client, POST, variables)
    retried = graphql(client, POST, variables)

    assert "errors" not in first
    assert retried == first
    assert event_count(client, chat_id) == 2


def test_shares_keys_with_rest_when_a_rest_request_is_retried_over_graphql(
    client: TestClient,
) -> None:
    rest = keyed(client, "create", {"name": "shared", "executorId": ALICE})
    variables = {"input": {"name": "shared", "executorId": ALICE, "idempotencyKey": KEY}}

    retried = graphql(client, CREATE, variables)

    assert retried["data"]["createGroupChat"] == rest.json()
    assert len(created_chats(store_of(client))) == 1


def test_works_as_before_when_a_mutation_has_no_key(client: TestClient) -> None:
    variables = {"input": {"name": "a", "executorId": ALICE}}

    first = graphql(client, CREATE, variables)
    second = graphql(client, CREATE, variables)

    assert first["data"] != second["data"]
    assert len(created_chats(store_of(client))) == 2


def test_returns_code_422_idempotency_key_reused_when_a_mutation_reuses_a_key(
    client: TestClient,
) -> None:
    graphql(client, CREATE, {"input": {"name": "a", "executorId": ALICE, "idempotencyKey": KEY}})

    body = graphql(
        client, CREATE, {"input": {"name": "b", "executorId": ALICE, "idempotencyKey": KEY}}
    )

    [error] = body["errors"]
    assert error["extensions"] == {"code": "422", "reason": "idempotency_key_reused"}
    assert body["data"] is None


def test_returns_code_400_naming_the_field_when_the_mutation_key_is_malformed(
    client: TestClient,
) -> None:
    body = graphql(
        client, CREATE, {"input": {"name": "a", "executorId": ALICE, "idempotencyKey": ""}}
    )

    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "400",
        "reason": "validation_error",
        "field": "idempotencyKey",
    }
    assert created_chats(store_of(client)) == []


def test_ignores_the_key_of_an_unkeyed_request_when_rest_sends_none(client: TestClient) -> None:
    plain = post(client, "create", {"name": "a", "executorId": ALICE})

    assert plain.status_code == 201
    assert "idempotent-replayed" not in plain.headers
