"""The command handler's aggregate cache: fewer loads, and still correct with other processes.

"Another process" is a second store instance on the same SQLite file or PostgreSQL database
with its own `CommandHandler`: it shares nothing with the first but the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from chat_domain import (
    AddMember,
    CreateGroupChat,
    GroupChat,
    GroupChatId,
    GroupChatMessagePosted,
    NameUnchangedError,
    PostMessage,
    RenameGroupChat,
    UserAccountId,
    decode,
    replay,
)
from command_service.aggregate_cache import AggregateCache
from command_service.app import create_app
from command_service.handlers import CommandHandler
from command_service.idempotency import IdempotencyKey
from command_service.settings import Settings
from command_test_support import ALICE, BOB, DelegatingStore, store_url
from event_store import (
    ConcurrencyError,
    EventStore,
    EventStoreUnavailableError,
    IdempotencyRecord,
    LoadedStream,
    NewEvent,
    SnapshotFactory,
    open_event_store,
)


class CountingStore(DelegatingStore):
    """Counts loads and the appends that lost to another writer."""

    def __init__(self, inner: EventStore) -> None:
        super().__init__(inner)
        self.loads = 0
        self.conflicts = 0

    def load(self, aggregate_id: str, *, use_snapshot: bool = True) -> LoadedStream:
        self.loads += 1
        return super().load(aggregate_id, use_snapshot=use_snapshot)

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        try:
            return super().append(
                aggregate_id, expected_version, events, snapshot, idempotency=idempotency
            )
        except ConcurrencyError:
            self.conflicts += 1
            raise


class FailingAppendStore(CountingStore):
    """The next append fails as if the connection dropped mid-commit (outcome unknown)."""

    fail_next = False

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        snapshot: SnapshotFactory | None = None,
        *,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        if self.fail_next:
            self.fail_next = False
            raise EventStoreUnavailableError("connection lost during commit")
        return super().append(
            aggregate_id, expected_version, events, snapshot, idempotency=idempotency
        )


@pytest.fixture
def store(any_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """A fresh store on `any_backend` that snapshots every 3 events."""
    opened = open_event_store(store_url(any_backend, tmp_path, request), snapshot_interval=3)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_processes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[EventStore, EventStore]]:
    """Two store instances on one database, as two processes of the service would have."""
    url = store_url(request.param, tmp_path, request)
    first = open_event_store(url, snapshot_interval=3)
    second = open_event_store(url, snapshot_interval=3)
    yield first, second
    second.close()
    first.close()


def no_sleep(_seconds: float) -> None:
    """Retries without waiting."""


def create(handler: CommandHandler, executor: str = ALICE) -> str:
    """Create a chat through `handler`; return its id (wire form)."""
    return str(
        handler.handle(CreateGroupChat.parse(name="chat", executor_id=executor)).group_chat_id
    )


def post(handler: CommandHandler, chat_id: str, executor: str = ALICE, content: str = "hi") -> int:
    """Post a message through `handler`; return the chat's new version."""
    command = PostMessage.parse(group_chat_id=chat_id, content=content, executor_id=executor)
    return handler.handle(command).version


def posted_contents(store: EventStore, chat_id: str) -> list[str]:
    """The contents of the chat's posted messages, in order (the state keeps no content)."""
    events = store.load(chat_id, use_snapshot=False).events
    decoded = [decode(e.event_type, None, e.payload) for e in events]
    return [e.message.content.value for e in decoded if isinstance(e, GroupChatMessagePosted)]


def full_replay(store: EventStore, chat_id: str) -> GroupChat | None:
    """The state rebuilt from every event, ignoring snapshots."""
    events = store.load(chat_id, use_snapshot=False).events
    return replay(decode(e.event_type, None, e.payload) for e in events)


def test_does_not_load_the_chat_when_its_state_is_cached(store: EventStore) -> None:
    counting = CountingStore(store)
    handler = CommandHandler(counting)
    chat_id = create(handler)
    loads_after_create = counting.loads

    versions = [post(handler, chat_id, content=f"message {n}") for n in range(5)]

    assert versions == [2, 3, 4, 5, 6]
    assert counting.loads == loads_after_create
    assert handler.cache is not None
    assert handler.cache.peek(GroupChatId.parse(chat_id)) == full_replay(store, chat_id)


def test_loads_the_chat_for_every_command_when_the_cache_size_is_0(store: EventStore) -> None:
    counting = CountingStore(store)
    handler = CommandHandler(counting, aggregate_cache_size=0)
    chat_id = create(handler)

    for n in range(3):
        post(handler, chat_id, content=f"message {n}")

    assert handler.cache is None
    assert counting.loads == 4  # the creation (of a chat not there yet) and each post


def test_create_app_sizes_the_cache_from_the_settings() -> None:
    default = create_app(Settings(event_store_url="memory://")).state.command_handler
    disabled = create_app(
        Settings(event_store_url="memory://", aggregate_cache_size=0)
    ).state.command_handler

    assert default.cache is not None
    assert default.cache.max_entries == 1024
    assert disabled.cache is None


def test_reloads_once_and_appends_the_next_seq_nr_when_another_process_wrote_to_a_cached_chat(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = two_processes
    counting = CountingStore(mine)
    handler = CommandHandler(counting, sleep=no_sleep)
    other_process = CommandHandler(theirs)
    chat_id = create(handler)
    post(handler, chat_id)  # cached at version 2
    post(other_process, chat_id, content="from the other process")  # version 3
    loads_before = counting.loads

    result = handler.handle(
        PostMessage.parse(group_chat_id=chat_id, content="after", executor_id=ALICE)
    )

    assert result.version == 4
    assert result.events[0].seq_nr == 4
    assert counting.conflicts == 1
    assert counting.loads == loads_before + 1
    assert result.state == full_replay(mine, chat_id)
    assert len(result.state.messages) == 3
    assert posted_contents(mine, chat_id) == ["hi", "from the other process", "after"]
    assert handler.cache is not None
    assert handler.cache.peek(result.group_chat_id) == result.state


def test_does_not_use_up_a_retry_when_the_cached_state_turns_out_stale(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = two_processes
    handler = CommandHandler(CountingStore(mine), max_retries=0, sleep=no_sleep)
    chat_id = create(handler)
    post(CommandHandler(theirs), chat_id)

    assert post(handler, chat_id) == 3


def test_decides_again_on_a_fresh_load_when_a_cached_state_refuses_the_command(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = two_processes
    handler = CommandHandler(CountingStore(mine), sleep=no_sleep)
    chat_id = create(handler)  # cached: Bob is not a member
    CommandHandler(theirs).handle(
        AddMember.parse(
            group_chat_id=chat_id, user_account_id=BOB, role="member", executor_id=ALICE
        )
    )

    assert post(handler, chat_id, executor=BOB) == 3


def test_leaves_the_cached_state_as_it_was_when_a_command_is_refused(store: EventStore) -> None:
    handler = CommandHandler(CountingStore(store))
    chat_id = create(handler)
    handler.handle(RenameGroupChat.parse(group_chat_id=chat_id, name="x", executor_id=ALICE))
    assert handler.cache is not None
    before = handler.cache.peek(GroupChatId.parse(chat_id))

    with pytest.raises(NameUnchangedError):
        handler.handle(RenameGroupChat.parse(group_chat_id=chat_id, name="x", executor_id=ALICE))

    assert before is not None
    assert handler.cache.peek(before.id) == before
    assert post(handler, chat_id) == 3
    assert full_replay(store, chat_id) == handler.cache.peek(before.id)


def test_forgets_the_cached_state_when_an_append_fails_with_an_unknown_outcome(
    store: EventStore,
) -> None:
    failing = FailingAppendStore(store)
    handler = CommandHandler(failing)
    chat_id = create(handler)
    failing.fail_next = True

    with pytest.raises(EventStoreUnavailableError):
        post(handler, chat_id)

    assert handler.cache is not None
    assert GroupChatId.parse(chat_id) not in handler.cache
    loads_before = failing.loads
    assert post(handler, chat_id) == 2
    assert failing.loads == loads_before + 1


def test_keeps_at_most_the_configured_number_of_chats_dropping_the_least_recently_used(
    store: EventStore,
) -> None:
    counting = CountingStore(store)
    handler = CommandHandler(counting, aggregate_cache_size=2)
    first, second, third = create(handler), create(handler), create(handler)
    assert handler.cache is not None

    assert len(handler.cache) == 2
    assert GroupChatId.parse(first) not in handler.cache
    loads = counting.loads
    post(handler, second)
    assert counting.loads == loads  # cached; now the most recently used
    post(handler, first)  # loaded, and it pushes out the third, the least recently used
    assert counting.loads == loads + 1
    assert GroupChatId.parse(third) not in handler.cache
    assert {GroupChatId.parse(first), GroupChatId.parse(second)} == {
        chat for chat in map(GroupChatId.parse, (first, second, third)) if chat in handler.cache
    }


def test_replays_the_recorded_response_when_a_keyed_command_on_a_cached_chat_comes_again(
    store: EventStore,
) -> None:
    counting = CountingStore(store)
    handler = CommandHandler(counting)
    chat_id = create(handler)
    fields = {"groupChatId": chat_id, "content": "once", "executorId": ALICE}
    first_command = PostMessage.parse(group_chat_id=chat_id, content="once", executor_id=ALICE)
    retry_command = PostMessage.parse(group_chat_id=chat_id, content="once", executor_id=ALICE)
    key = IdempotencyKey.of("key-1", first_command, fields)

    first = handler.execute(first_command, idempotency=key)
    again = handler.execute(retry_command, idempotency=key)

    assert (first.replayed, again.replayed) == (False, True)
    assert again == first
    assert again.body["messageId"] != str(retry_command.message_id)
    assert store.load(chat_id).version == 2


def test_replays_the_other_process_response_when_it_ran_the_keyed_command_first(
    two_processes: tuple[EventStore, EventStore],
) -> None:
    mine, theirs = two_processes
    handler = CommandHandler(CountingStore(mine), sleep=no_sleep)
    chat_id = create(handler)  # cached at version 1
    fields = {"groupChatId": chat_id, "content": "once", "executorId": ALICE}
    sent_there = PostMessage.parse(group_chat_id=chat_id, content="once", executor_id=ALICE)
    sent_here = PostMessage.parse(group_chat_id=chat_id, content="once", executor_id=ALICE)
    key = IdempotencyKey.of("key-1", sent_there, fields)

    original = CommandHandler(theirs).execute(sent_there, idempotency=key)
    replayed = handler.execute(sent_here, idempotency=key)

    assert replayed.replayed
    assert replayed == original
    assert mine.load(chat_id).version == 2
    assert post(handler, chat_id) == 3


def test_lru_drops_the_least_recently_put_state_beyond_its_bound() -> None:
    handler = CommandHandler(open_event_store("memory://"), aggregate_cache_size=0)
    states = [
        handler.handle(CreateGroupChat.parse(name=f"chat {n}", executor_id=ALICE)).state
        for n in range(3)
    ]
    cache = AggregateCache(2)

    cache.put(states[0])
    cache.put(states[1])
    cache.put(states[0])  # used again: the second is now the least recently used
    cache.put(states[2])

    assert len(cache) == 2
    assert cache.peek(states[1].id) is None
    assert cache.take(states[0].id) == states[0]
    assert states[0].id not in cache
    with pytest.raises(ValueError, match="max_entries"):
        AggregateCache(0)


def test_cache_finds_a_state_by_an_equal_id_parsed_again_and_only_by_a_group_chat_id() -> None:
    handler = CommandHandler(open_event_store("memory://"), aggregate_cache_size=0)
    state = handler.handle(CreateGroupChat.parse(name="chat", executor_id=ALICE)).state
    cache = AggregateCache(4)
    cache.put(state)
    wire = str(state.id)
    same_chat = GroupChatId.parse(wire.lower().removeprefix("groupchat-"))

    assert same_chat is not state.id
    assert same_chat in cache
    assert cache.peek(same_chat) == state
    assert wire not in cache  # the wire text is not a GroupChatId
    assert UserAccountId(state.id.ulid) not in cache  # nor is another kind of id
    cache.discard(same_chat)
    assert len(cache) == 0
