"""The command handler: retries on conflicts, snapshots, concurrency, and the errors it maps to."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from chat_domain import (
    CreateGroupChat,
    EditMessage,
    GroupChat,
    GroupChatAlreadyExistsError,
    GroupChatId,
    GroupChatMessagePosted,
    NameUnchangedError,
    PostMessage,
    RenameGroupChat,
    UlidGenerator,
    decode,
    replay,
)
from command_service.app import create_app
from command_service.handlers import CommandConflictError, CommandHandler
from command_service.problems import problem_for
from command_service.settings import Settings
from command_test_support import (
    ALICE,
    BOB,
    AlwaysConflictingStore,
    DelegatingStore,
    UnavailableStore,
    add_member,
    create_chat,
    post,
    post_message,
    store_of,
    store_url,
)
from event_store import EventStore, NewEvent, SnapshotFactory, open_event_store
from fastapi.testclient import TestClient


@pytest.fixture
def store(any_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """A fresh store on `any_backend` that snapshots every 3 events."""
    opened = open_event_store(store_url(any_backend, tmp_path, request), snapshot_interval=3)
    yield opened
    opened.close()


def no_sleep(_seconds: float) -> None:
    """Retries without waiting, to keep the tests fast."""


def create(handler: CommandHandler, executor: str = ALICE) -> str:
    """Create a chat through `handler`; return its id (wire form)."""
    result = handler.handle(CreateGroupChat.parse(name="chat", executor_id=executor))
    return str(result.group_chat_id)


def full_replay(store: EventStore, chat_id: str) -> GroupChat | None:
    """The state rebuilt from every event, ignoring snapshots."""
    events = store.load(chat_id, use_snapshot=False).events
    return replay(decode(e.event_type, None, e.payload) for e in events)


def posted_contents(store: EventStore, chat_id: str) -> list[str]:
    """The contents of the chat's posted messages, in order (the state keeps no content)."""
    events = store.load(chat_id, use_snapshot=False).events
    decoded = [decode(e.event_type, None, e.payload) for e in events]
    return [e.message.content.value for e in decoded if isinstance(e, GroupChatMessagePosted)]


def client_on(store: EventStore, **settings: Any) -> TestClient:
    """A client of an app on `store` (which the caller keeps owning)."""
    app = create_app(Settings(event_store_url="memory://", **settings), event_store=store)
    return TestClient(app, raise_server_exceptions=False)


# -- conflicts ------------------------------------------------------------------------------------


def test_returns_409_conflict_after_the_retries_when_every_append_conflicts(
    store: EventStore,
) -> None:
    chat_id = create(CommandHandler(store))
    conflicting = AlwaysConflictingStore(store)
    client = client_on(conflicting, command_max_retries=2)

    response = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": ALICE})

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "conflict"
    assert conflicting.appends == 3  # the first attempt and two retries
    assert store.load(chat_id).version == 1


def test_raises_command_conflict_error_when_retries_are_exhausted(store: EventStore) -> None:
    chat_id = create(CommandHandler(store))
    conflicting = AlwaysConflictingStore(store)
    handler = CommandHandler(conflicting, max_retries=0, sleep=no_sleep)

    with pytest.raises(CommandConflictError) as raised:
        handler.handle(RenameGroupChat.parse(group_chat_id=chat_id, name="x", executor_id=ALICE))

    assert (raised.value.code, raised.value.status, raised.value.attempts) == ("conflict", 409, 1)
    assert conflicting.appends == 1


class RacingStore(DelegatingStore):
    """Lets a competing writer append just before each of the first `races` appends."""

    def __init__(self, inner: EventStore, competitor: Any, races: int = 1) -> None:
        super().__init__(inner)
        self.competitor = competitor
        self.races = races

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
    ) -> int:
        if self.races > 0:
            self.races -= 1
            self.competitor()  # commits first: this append now fails with ConcurrencyError
        return super().append(aggregate_id, expected_version, events, snapshot)


def test_decides_again_on_the_new_state_and_succeeds_when_one_append_conflicts(
    store: EventStore,
) -> None:
    plain = CommandHandler(store)
    chat_id = create(plain)
    competitor_message = PostMessage.parse(
        group_chat_id=chat_id, content="first", executor_id=ALICE
    )
    racing = RacingStore(store, lambda: plain.handle(competitor_message))
    handler = CommandHandler(racing, max_retries=1, sleep=no_sleep)

    result = handler.handle(
        PostMessage.parse(group_chat_id=chat_id, content="second", executor_id=ALICE)
    )

    assert racing.appends == 2
    assert result.version == 3  # after the competitor's event, not in its place
    assert len(result.state.messages) == 2
    assert posted_contents(store, chat_id) == ["first", "second"]
    assert [e.seq_nr for e in store.load(chat_id, use_snapshot=False).events] == [1, 2, 3]


def test_refuses_the_retried_command_when_the_concurrent_change_makes_it_invalid(
    store: EventStore,
) -> None:
    plain = CommandHandler(store)
    chat_id = create(plain)
    racing = RacingStore(
        store,
        lambda: plain.handle(
            RenameGroupChat.parse(group_chat_id=chat_id, name="new", executor_id=ALICE)
        ),
    )
    handler = CommandHandler(racing, sleep=no_sleep)

    # Renaming to the name the competitor just set is no longer a change.
    with pytest.raises(NameUnchangedError):
        handler.handle(RenameGroupChat.parse(group_chat_id=chat_id, name="new", executor_id=ALICE))

    assert racing.appends == 1  # decided again, refused, never appended a second time
    assert store.load(chat_id).version == 2


def test_returns_200_after_a_retry_when_one_append_conflicts_through_http(
    store: EventStore,
) -> None:
    plain = CommandHandler(store)
    chat_id = create(plain)
    racing = RacingStore(
        store,
        lambda: plain.handle(
            PostMessage.parse(group_chat_id=chat_id, content="x", executor_id=ALICE)
        ),
    )
    client = client_on(racing)

    response = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": ALICE})

    assert response.status_code == 200
    types = [e.event_type for e in store.load(chat_id, use_snapshot=False).events]
    assert types == ["GroupChatCreated", "GroupChatMessagePosted", "GroupChatRenamed"]


def test_every_writer_succeeds_with_contiguous_seq_nrs_when_8_threads_post_to_one_chat(
    store: EventStore,
) -> None:
    handler = CommandHandler(store, max_retries=200)
    chat_id = create(handler)
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads, timeout=30)
    failures: list[BaseException] = []
    posted: list[str] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                command = PostMessage.parse(
                    group_chat_id=chat_id, content=f"{n}-{i}", executor_id=ALICE
                )
                handler.handle(command)
                posted.append(str(command.message_id))
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    total = 1 + threads * per_thread
    events = store.load(chat_id, use_snapshot=False).events
    assert [e.seq_nr for e in events] == list(range(1, total + 1))
    state = handler.repository.load(GroupChatId.parse(chat_id)).state
    assert state is not None
    assert state.version == total
    assert sorted(str(m.id) for m in state.messages) == sorted(posted)


# -- snapshots ------------------------------------------------------------------------------------


def test_writes_a_snapshot_every_interval_and_loads_the_same_state_from_it(
    store: EventStore,
) -> None:
    handler = CommandHandler(store)
    chat_id = create(handler)
    for n in range(6):
        handler.handle(PostMessage.parse(group_chat_id=chat_id, content=f"m{n}", executor_id=ALICE))

    loaded = store.load(chat_id)
    from_snapshot = handler.repository.load(GroupChatId.parse(chat_id))

    assert loaded.snapshot is not None
    assert loaded.snapshot.seq_nr == 6
    assert [e.seq_nr for e in loaded.events] == [7]
    assert from_snapshot.version == 7
    assert from_snapshot.state == full_replay(store, chat_id)


def test_answers_the_same_through_http_when_the_chat_is_loaded_from_a_snapshot(
    make_client: Any, any_backend: str
) -> None:
    client = make_client(any_backend, snapshot_interval=3)
    chat_id = create_chat(client)
    add_member(client, chat_id, BOB)
    bobs = post_message(client, chat_id, BOB, "before the snapshot")  # seq_nr 3: snapshot
    post_message(client, chat_id, ALICE)

    assert store_of(client).load(chat_id).snapshot is not None
    assert (
        post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": BOB}).json()[
            "code"
        ]
        == "not_an_administrator"
    )
    edit = {"groupChatId": chat_id, "messageId": bobs, "content": "x", "executorId": ALICE}
    assert post(client, "edit-message", edit).json()["code"] == "not_the_sender"
    assert post(client, "edit-message", {**edit, "executorId": BOB}).status_code == 200
    add = {"groupChatId": chat_id, "userAccountId": BOB, "role": "member", "executorId": ALICE}
    assert post(client, "add-member", add).json()["code"] == "already_a_member"


class OldSnapshotFormatStore(DelegatingStore):
    """Writes snapshots in a state format this code no longer reads (as after an upgrade)."""

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
    ) -> int:
        return super().append(
            aggregate_id, expected_version, events, lambda: b'{"schemaVersion": 0}'
        )


def test_rebuilds_from_all_events_when_the_snapshot_does_not_decode(store: EventStore) -> None:
    old = CommandHandler(OldSnapshotFormatStore(store))
    chat_id = create(old)
    message = PostMessage.parse(group_chat_id=chat_id, content="x", executor_id=ALICE)
    old.handle(message)
    old.handle(PostMessage.parse(group_chat_id=chat_id, content="y", executor_id=ALICE))
    assert store.load(chat_id).snapshot is not None

    handler = CommandHandler(store)
    loaded = handler.repository.load(GroupChatId.parse(chat_id))

    assert loaded.state == full_replay(store, chat_id)
    assert loaded.version == 3
    edit = EditMessage.parse(
        group_chat_id=chat_id, message_id=str(message.message_id), content="z", executor_id=ALICE
    )
    assert handler.handle(edit).version == 4


# -- errors ---------------------------------------------------------------------------------------


def test_returns_503_with_retry_after_when_the_store_is_unavailable(store: EventStore) -> None:
    client = client_on(UnavailableStore(store))

    created = post(client, "create", {"name": "n", "executorId": ALICE})
    renamed = post(
        client,
        "rename",
        {"groupChatId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z", "name": "n", "executorId": ALICE},
    )

    for response in (created, renamed):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "service_unavailable"
        assert int(response.headers["retry-after"]) >= 1


class BrokenStore(DelegatingStore):
    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> Any:
        raise RuntimeError("secret internals: password=hunter2")


def test_returns_500_with_a_generic_detail_and_logs_the_error_when_something_unexpected_fails(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_on(BrokenStore(store))

    response = post(
        client,
        "rename",
        {"groupChatId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z", "name": "n", "executorId": ALICE},
    )

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert any(
        record.exc_info and "hunter2" in str(record.exc_info[1]) for record in caplog.records
    )


def test_maps_a_create_on_an_existing_id_to_409_group_chat_already_exists(
    store: EventStore,
) -> None:
    fixed = UlidGenerator(clock=lambda: 1_700_000_000_000, random_bytes=lambda n: bytes(n))
    handler = CommandHandler(store)
    handler.handle(CreateGroupChat.parse(name="a", executor_id=ALICE, generator=fixed))
    again = UlidGenerator(clock=lambda: 1_700_000_000_000, random_bytes=lambda n: bytes(n))

    with pytest.raises(GroupChatAlreadyExistsError) as raised:
        handler.handle(CreateGroupChat.parse(name="b", executor_id=ALICE, generator=again))

    problem = problem_for(raised.value)
    assert problem is not None
    assert (problem.status, problem.code) == (409, "group_chat_already_exists")
