"""Test support: realistic event histories, stored-event conversion and read-model snapshots.

For tests of the updater (poller, Lambda handler) and end-to-end checks. Not for production code.

- `random_history(seed)`: a random but valid history of several group chats, produced by the
  domain's own `decide` (so every event is one a real command could produce), interleaved across
  chats in the order they happened.
- `new_event(event)` / `stored_event(event, position)`: a domain event as the event store takes
  and returns it (codec type name and payload).
- `append(store, events)`: append events to an event store in order, one append per event.
- `snapshot(bind)`: every row of every read-model table, in a canonical order, for comparing two
  read models (`parked_at`, the only column not derived from the journal, is left out).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_domain import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    DomainError,
    EditMessage,
    Event,
    EventId,
    GroupChat,
    GroupChatId,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatName,
    MemberId,
    MessageContent,
    MessageId,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    Role,
    UserAccountId,
    decide,
    encode,
    evolve,
)
from event_store import EventStore, NewEvent, StoredEvent
from read_model.schema import metadata
from sqlalchemy import Connection, Engine, select

__all__ = [
    "HistoryBuilder",
    "append",
    "domain_view",
    "new_event",
    "random_history",
    "read_model_view",
    "snapshot",
    "stored_event",
]

_START = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)
_NAMES = ("general", "random", "team", "ops", "release", "Ünïcødé 🎉")
_TEXTS = ("hello", "hi all", "  indented\ncode", "ok 👍", "x" * 4000, "see you")


def new_event(event: Event, metadata: Mapping[str, str] | None = None) -> NewEvent:
    """`event` as an append takes it: the codec's type name and payload."""
    encoded = encode(event)
    return NewEvent(
        event_id=encoded.event_id,
        event_type=encoded.type_name,
        payload=encoded.payload,
        occurred_at_ms=encoded.occurred_at_ms,
        metadata=dict(metadata or {}),
    )


def stored_event(
    event: Event, position: int | None = None, metadata: Mapping[str, str] | None = None
) -> StoredEvent:
    """`event` as an event store returns it (what `apply` takes)."""
    encoded = encode(event)
    return StoredEvent(
        aggregate_id=encoded.aggregate_id,
        seq_nr=encoded.seq_nr,
        event_id=encoded.event_id,
        event_type=encoded.type_name,
        payload=encoded.payload,
        occurred_at_ms=encoded.occurred_at_ms,
        metadata=dict(metadata or {}),
        position=position,
    )


def append(store: EventStore, events: Iterable[Event]) -> None:
    """Append `events` in order, each at the version its `seq_nr` implies."""
    for event in events:
        store.append(str(event.aggregate_id), event.seq_nr - 1, [new_event(event)])


class HistoryBuilder:
    """Runs random commands through `decide` against several group chats.

    Commands the domain rejects are simply not recorded, so the history stays valid. `states`
    holds each chat's state after the history, for checking a read model against the domain.
    """

    def __init__(self, seed: int, users: int = 6) -> None:
        self.rng = random.Random(seed)
        self.users = [UserAccountId.generate() for _ in range(users)]
        self.states: dict[GroupChatId, GroupChat] = {}
        self.events: list[Event] = []
        self.clock = _START

    def run(self, command: Command) -> Event | None:
        """Decide `command` on its chat's current state; the event, or None if rejected."""
        state = self.states.get(command.group_chat_id)
        # Occasionally several events in the same millisecond, as under load.
        self.clock += timedelta(milliseconds=self.rng.choice((0, 1, 7, 250, 1000)))
        try:
            (event,) = decide(state, command, event_id=EventId.generate(), occurred_at=self.clock)
        except DomainError:
            return None
        self.states[event.aggregate_id] = evolve(state, event)
        self.events.append(event)
        return event

    def create(self) -> Event | None:
        """A new chat by a random user."""
        command = CreateGroupChat(
            group_chat_id=GroupChatId.generate(),
            name=GroupChatName(self.rng.choice(_NAMES)),
            executor_id=self.rng.choice(self.users),
            member_id=MemberId.generate(),
        )
        return self.run(command)

    def step(self, chat: GroupChatId | None = None) -> Event | None:
        """One random command on `chat`, or on a random chat (a new chat now and then)."""
        rng = self.rng
        if chat is None and (not self.states or rng.random() < 0.08):
            return self.create()
        state = self.states[chat if chat is not None else rng.choice(list(self.states))]
        members = [m.user_account_id for m in state.members]
        # Mostly members act (so most commands succeed); sometimes anybody does.
        executor = rng.choice(members) if rng.random() < 0.9 else rng.choice(self.users)
        target = rng.choice(self.users)
        known_messages = [m.id for m in state.messages]
        message_id = rng.choice(known_messages) if known_messages else MessageId.generate()
        chat = state.id
        kind = rng.choices(
            ("post", "edit", "delete_message", "add", "remove", "rename", "delete"),
            # A chat being grown on its own is never deleted (it would accept no more events).
            weights=(40, 12, 8, 16, 10, 8, 0 if chat is not None else 2),
        )[0]
        command: Command
        match kind:
            case "post":
                command = PostMessage(
                    group_chat_id=chat,
                    message_id=MessageId.generate(),
                    content=MessageContent(rng.choice(_TEXTS)),
                    executor_id=executor,
                )
            case "edit":
                command = EditMessage(
                    group_chat_id=chat,
                    message_id=message_id,
                    content=MessageContent(rng.choice(_TEXTS)),
                    executor_id=executor,
                )
            case "delete_message":
                command = DeleteMessage(
                    group_chat_id=chat, message_id=message_id, executor_id=executor
                )
            case "add":
                command = AddMember(
                    group_chat_id=chat,
                    user_account_id=target,
                    role=rng.choice((Role.MEMBER, Role.MEMBER, Role.ADMINISTRATOR)),
                    executor_id=executor,
                    member_id=MemberId.generate(),
                )
            case "remove":
                command = RemoveMember(
                    group_chat_id=chat, user_account_id=target, executor_id=executor
                )
            case "rename":
                command = RenameGroupChat(
                    group_chat_id=chat, name=GroupChatName(rng.choice(_NAMES)), executor_id=executor
                )
            case _:
                command = DeleteGroupChat(group_chat_id=chat, executor_id=executor)
        return self.run(command)

    def grow(self, events: int, chat: GroupChatId | None = None) -> list[Event]:
        """Take steps (on `chat` only, if given) until `events` more events were recorded;
        returns them."""
        start = len(self.events)
        while len(self.events) - start < events:
            self.step(chat)
        return self.events[start:]

    def post(self, chat: GroupChatId, text: str = "hello") -> Event:
        """A message by the chat's first member (which the domain accepts)."""
        sender = self.states[chat].members[0].user_account_id
        event = self.run(
            PostMessage(
                group_chat_id=chat,
                message_id=MessageId.generate(),
                content=MessageContent(text),
                executor_id=sender,
            )
        )
        assert event is not None, "the chat is deleted"
        return event


def random_history(seed: int, events: int = 200) -> list[Event]:
    """`events` valid events of several interleaved group chats, reproducible from `seed`
    (apart from the generated ids)."""
    return HistoryBuilder(seed).grow(events)


def snapshot(bind: Engine | Connection) -> dict[str, list[dict[str, Any]]]:
    """Every read-model table's rows (as dicts, ordered by primary key), minus `parked_at`."""

    def read(connection: Connection) -> dict[str, list[dict[str, Any]]]:
        tables: dict[str, list[dict[str, Any]]] = {}
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name != "parked_at"]
            query = select(*columns).order_by(*table.primary_key.columns)
            tables[table.name] = [dict(r) for r in connection.execute(query).mappings()]
        return tables

    if isinstance(bind, Connection):
        return read(bind)
    with bind.connect() as connection:
        return read(connection)


def domain_view(
    states: Sequence[GroupChat], events: Iterable[Event]
) -> dict[str, list[tuple[Any, ...]]]:
    """What the read model's views must contain for these final states (for cross-checks):
    live chats, their current members, and their messages that are not deleted.

    The state keeps no message content (no rule needs it), so each message's latest content is
    taken from `events`, which must include the posts and edits of the states' live messages.
    """
    contents: dict[MessageId, str] = {}
    for event in events:
        if isinstance(event, GroupChatMessagePosted | GroupChatMessageEdited):
            contents[event.message.id] = event.message.content.value
    chats = sorted((str(s.id), s.name.value) for s in states if not s.deleted)
    members = sorted(
        (str(s.id), str(m.user_account_id), m.role.value, str(m.id))
        for s in states
        if not s.deleted
        for m in s.members
    )
    messages = sorted(
        (str(s.id), str(m.id), str(m.sender_id), contents[m.id])
        for s in states
        if not s.deleted
        for m in s.messages
    )
    return {"group_chats": chats, "members": members, "messages": messages}


def read_model_view(bind: Engine | Connection) -> dict[str, list[tuple[Any, ...]]]:
    """The read model's live rows in the shape of `domain_view`."""
    rows = snapshot(bind)
    live_chats = {r["id"] for r in rows["group_chats"] if not r["disabled"]}
    return {
        "group_chats": sorted(
            (r["id"], r["name"]) for r in rows["group_chats"] if r["id"] in live_chats
        ),
        "members": sorted(
            (r["group_chat_id"], r["user_account_id"], r["role"], r["id"])
            for r in rows["members"]
            if not r["disabled"] and r["group_chat_id"] in live_chats
        ),
        "messages": sorted(
            (r["group_chat_id"], r["id"], r["user_account_id"], r["text"])
            for r in rows["messages"]
            if not r["disabled"] and r["group_chat_id"] in live_chats
        ),
    }
