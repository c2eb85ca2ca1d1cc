"""The projector: each event's rows, timestamps from the events, positions and parking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chat_domain import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    EditMessage,
    Event,
    EventId,
    GroupChat,
    GroupChatId,
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
    evolve,
)
from read_model.projector import (
    Outcome,
    ProjectionError,
    forget,
    load_checkpoint,
    park,
    parked_predecessor,
    position,
    project,
    save_checkpoint,
)
from read_model.schema import group_chats, members, messages, parked_events
from sqlalchemy import Engine, exc, select

START = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)


class Chat:
    """Runs commands through the domain's `decide`, one second apart, keeping the events."""

    def __init__(self) -> None:
        self.id = GroupChatId.generate()
        self.owner = UserAccountId.generate()
        self.state: GroupChat | None = None
        self.clock = START
        self.events: list[Event] = []

    def run(self, command: Command) -> Event:
        self.clock += timedelta(seconds=1)
        (event,) = decide(self.state, command, event_id=EventId.generate(), occurred_at=self.clock)
        self.state = evolve(self.state, event)
        self.events.append(event)
        return event

    def create(self, name: str = "general") -> Event:
        return self.run(
            CreateGroupChat(
                group_chat_id=self.id,
                name=GroupChatName(name),
                executor_id=self.owner,
                member_id=MemberId.generate(),
            )
        )

    def add(self, user: UserAccountId, role: Role = Role.MEMBER) -> Event:
        return self.run(
            AddMember(
                group_chat_id=self.id,
                user_account_id=user,
                role=role,
                executor_id=self.owner,
                member_id=MemberId.generate(),
            )
        )

    def remove(self, user: UserAccountId) -> Event:
        return self.run(
            RemoveMember(group_chat_id=self.id, user_account_id=user, executor_id=self.owner)
        )

    def post(self, text: str, sender: UserAccountId | None = None) -> Event:
        return self.run(
            PostMessage(
                group_chat_id=self.id,
                message_id=MessageId.generate(),
                content=MessageContent(text),
                executor_id=sender or self.owner,
            )
        )


def apply_all(engine: Engine, events: list[Event]) -> list[Outcome]:
    with engine.begin() as connection:
        return [project(connection, event) for event in events]


def row(engine: Engine, table: Any, **where: object) -> dict[str, Any]:
    query = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with engine.connect() as connection:
        return dict(connection.execute(query).mappings().one())


def at(_chat: Chat, event: Event) -> datetime:
    """The event's time, as the read model stores it (milliseconds, UTC)."""
    assert event.occurred_at.microsecond % 1000 == 0
    return event.occurred_at


def test_chat_and_creator_rows_are_written_when_a_chat_is_created(
    migrated_engine: Engine,
) -> None:
    chat = Chat()
    created = chat.create("  ignored whitespace is trimmed by the domain  ".strip())

    assert apply_all(migrated_engine, [created]) == [Outcome.APPLIED]

    assert row(migrated_engine, group_chats, id=str(chat.id)) == {
        "id": str(chat.id),
        "name": "ignored whitespace is trimmed by the domain",
        "owner_id": str(chat.owner),
        "disabled": False,
        "created_at": at(chat, created),
        "updated_at": at(chat, created),
        "last_seq_nr": 1,
    }
    assert chat.state is not None
    creator = chat.state.members[0]
    assert row(migrated_engine, members, group_chat_id=str(chat.id)) == {
        "id": str(creator.id),
        "group_chat_id": str(chat.id),
        "user_account_id": str(chat.owner),
        "role": "administrator",
        "disabled": False,
        "created_at": at(chat, created),
        "updated_at": at(chat, created),
        "last_seq_nr": 1,
    }
    with migrated_engine.connect() as connection:
        assert position(connection, str(chat.id)) == 1


def test_name_and_updated_at_change_when_a_chat_is_renamed(migrated_engine: Engine) -> None:
    chat = Chat()
    created = chat.create("before")
    renamed = chat.run(
        RenameGroupChat(group_chat_id=chat.id, name=GroupChatName("after"), executor_id=chat.owner)
    )

    apply_all(migrated_engine, [created, renamed])

    stored = row(migrated_engine, group_chats, id=str(chat.id))
    assert (stored["name"], stored["created_at"], stored["updated_at"], stored["last_seq_nr"]) == (
        "after",
        at(chat, created),
        at(chat, renamed),
        2,
    )


def test_member_row_is_written_when_a_member_is_added(migrated_engine: Engine) -> None:
    chat = Chat()
    alice = UserAccountId.generate()
    events = [chat.create(), chat.add(alice, Role.ADMINISTRATOR)]

    apply_all(migrated_engine, events)

    assert chat.state is not None
    member = chat.state.find_member(alice)
    assert member is not None
    assert row(migrated_engine, members, user_account_id=str(alice)) == {
        "id": str(member.id),
        "group_chat_id": str(chat.id),
        "user_account_id": str(alice),
        "role": "administrator",
        "disabled": False,
        "created_at": at(chat, events[1]),
        "updated_at": at(chat, events[1]),
        "last_seq_nr": 2,
    }


def test_member_is_disabled_when_removed(migrated_engine: Engine) -> None:
    chat = Chat()
    alice = UserAccountId.generate()
    events = [chat.create(), chat.add(alice), chat.remove(alice)]

    apply_all(migrated_engine, events)

    stored = row(migrated_engine, members, user_account_id=str(alice))
    assert (stored["disabled"], stored["created_at"], stored["updated_at"]) == (
        True,
        at(chat, events[1]),
        at(chat, events[2]),
    )
    assert stored["last_seq_nr"] == 3


def test_existing_row_is_reused_when_a_removed_member_is_added_again(
    migrated_engine: Engine,
) -> None:
    chat = Chat()
    alice = UserAccountId.generate()
    events = [
        chat.create(),
        chat.add(alice, Role.ADMINISTRATOR),
        chat.remove(alice),
        chat.add(alice, Role.MEMBER),
    ]

    assert apply_all(migrated_engine, events) == [Outcome.APPLIED] * 4

    assert chat.state is not None
    membership = chat.state.find_member(alice)
    assert membership is not None
    with migrated_engine.connect() as connection:
        rows = connection.execute(
            select(members).where(members.c.user_account_id == str(alice))
        ).mappings()
        assert [dict(r) for r in rows] == [
            {
                "id": str(membership.id),
                "group_chat_id": str(chat.id),
                "user_account_id": str(alice),
                "role": "member",
                "disabled": False,
                "created_at": at(chat, events[3]),
                "updated_at": at(chat, events[3]),
                "last_seq_nr": 4,
            }
        ]


def test_message_row_is_written_when_a_message_is_posted(migrated_engine: Engine) -> None:
    chat = Chat()
    text = "  indented\nand multi-line  "
    events = [chat.create(), chat.post(text)]

    apply_all(migrated_engine, events)

    assert chat.state is not None
    message = chat.state.messages[0]
    assert row(migrated_engine, messages, id=str(message.id)) == {
        "id": str(message.id),
        "group_chat_id": str(chat.id),
        "user_account_id": str(chat.owner),
        "text": text,
        "disabled": False,
        "created_at": at(chat, events[1]),
        "updated_at": at(chat, events[1]),
        "last_seq_nr": 2,
    }


def test_text_and_updated_at_change_when_a_message_is_edited(migrated_engine: Engine) -> None:
    chat = Chat()
    events = [chat.create(), chat.post("first")]
    assert chat.state is not None
    message_id = chat.state.messages[0].id
    events.append(
        chat.run(
            EditMessage(
                group_chat_id=chat.id,
                message_id=message_id,
                content=MessageContent("second"),
                executor_id=chat.owner,
            )
        )
    )

    apply_all(migrated_engine, events)

    stored = row(migrated_engine, messages, id=str(message_id))
    assert (stored["text"], stored["created_at"], stored["updated_at"], stored["last_seq_nr"]) == (
        "second",
        at(chat, events[1]),
        at(chat, events[2]),
        3,
    )


def test_message_is_disabled_when_deleted(migrated_engine: Engine) -> None:
    chat = Chat()
    events = [chat.create(), chat.post("oops")]
    assert chat.state is not None
    message_id = chat.state.messages[0].id
    events.append(
        chat.run(
            DeleteMessage(group_chat_id=chat.id, message_id=message_id, executor_id=chat.owner)
        )
    )

    apply_all(migrated_engine, events)

    stored = row(migrated_engine, messages, id=str(message_id))
    assert (stored["disabled"], stored["text"], stored["updated_at"], stored["last_seq_nr"]) == (
        True,
        "oops",
        at(chat, events[2]),
        3,
    )


def test_chat_is_disabled_when_deleted(migrated_engine: Engine) -> None:
    chat = Chat()
    events = [
        chat.create(),
        chat.run(DeleteGroupChat(group_chat_id=chat.id, executor_id=chat.owner)),
    ]

    apply_all(migrated_engine, events)

    stored = row(migrated_engine, group_chats, id=str(chat.id))
    assert (stored["disabled"], stored["updated_at"], stored["last_seq_nr"]) == (
        True,
        at(chat, events[1]),
        2,
    )


def test_event_is_skipped_when_it_was_applied_before(migrated_engine: Engine) -> None:
    chat = Chat()
    events = [chat.create("one"), chat.post("hello")]
    apply_all(migrated_engine, events)

    assert apply_all(migrated_engine, [events[0], events[1], events[1]]) == [Outcome.DUPLICATE] * 3

    with migrated_engine.connect() as connection:
        assert position(connection, str(chat.id)) == 2
        assert len(connection.execute(select(messages)).all()) == 1
        assert len(connection.execute(select(members)).all()) == 1


def test_event_is_not_applied_when_a_predecessor_is_missing(migrated_engine: Engine) -> None:
    chat = Chat()
    created, renamed_once, renamed_twice = (
        chat.create("a"),
        chat.run(
            RenameGroupChat(group_chat_id=chat.id, name=GroupChatName("b"), executor_id=chat.owner)
        ),
        chat.run(
            RenameGroupChat(group_chat_id=chat.id, name=GroupChatName("c"), executor_id=chat.owner)
        ),
    )

    assert apply_all(migrated_engine, [renamed_once]) == [Outcome.GAP]  # nothing created yet
    assert apply_all(migrated_engine, [created, renamed_twice]) == [Outcome.APPLIED, Outcome.GAP]
    assert row(migrated_engine, group_chats, id=str(chat.id))["name"] == "a"

    # The missing event arrives: now both apply, in order.
    assert apply_all(migrated_engine, [renamed_once, renamed_twice]) == [Outcome.APPLIED] * 2
    assert row(migrated_engine, group_chats, id=str(chat.id))["name"] == "c"


def test_nothing_of_the_event_remains_when_its_transaction_rolls_back(
    migrated_engine: Engine,
) -> None:
    chat = Chat()
    created = chat.create()
    connection = migrated_engine.connect()
    transaction = connection.begin()
    assert project(connection, created) is Outcome.APPLIED
    transaction.rollback()  # the caller's transaction fails after the projection
    connection.close()

    with migrated_engine.connect() as connection:
        assert position(connection, str(chat.id)) == 0
        assert connection.execute(select(group_chats)).all() == []
    assert apply_all(migrated_engine, [created]) == [Outcome.APPLIED]


def test_projection_error_is_raised_when_the_row_an_event_changes_is_missing(
    migrated_engine: Engine,
) -> None:
    chat = Chat()
    events = [chat.create(), chat.post("hi")]
    assert chat.state is not None
    edit = chat.run(
        EditMessage(
            group_chat_id=chat.id,
            message_id=chat.state.messages[0].id,
            content=MessageContent("edited"),
            executor_id=chat.owner,
        )
    )
    apply_all(migrated_engine, events)
    with migrated_engine.begin() as connection:
        connection.execute(messages.delete())  # a read model changed behind the projector's back

    with pytest.raises(ProjectionError), migrated_engine.begin() as connection:
        project(connection, edit)


def test_parked_event_is_recorded_once_when_parked_twice(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as connection:
        first = park(
            connection,
            aggregate_id="GroupChat-X",
            seq_nr=3,
            event_id="E1",
            event_type="Bogus",
            payload=b"\xff\x00not utf-8",
            reason="undecodable",
        )
        again = park(
            connection,
            aggregate_id="GroupChat-X",
            seq_nr=3,
            event_id="E1",
            event_type="Bogus",
            payload=b"{}",
            reason="second reason",
        )
        blocker = parked_predecessor(connection, "GroupChat-X", 5)
        no_blocker = parked_predecessor(connection, "GroupChat-X", 3)

    assert (first, again, blocker, no_blocker) == (True, False, 3, None)
    parked = row(migrated_engine, parked_events, aggregate_id="GroupChat-X")
    assert parked["reason"] == "undecodable"
    assert parked["payload"] == "base64:/wBub3QgdXRmLTg="
    assert parked["parked_at"].tzinfo is not None


def test_checkpoint_only_moves_forward(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as connection:
        assert load_checkpoint(connection, "journal") == 0
        save_checkpoint(connection, "journal", 10)
        save_checkpoint(connection, "journal", 7)
        save_checkpoint(connection, "other", 3)
    with migrated_engine.connect() as connection:
        assert (load_checkpoint(connection, "journal"), load_checkpoint(connection, "other")) == (
            10,
            3,
        )


def _tables(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    from read_model.schema import projection_checkpoints, projection_positions

    tables = (group_chats, members, messages, projection_positions, parked_events)
    with engine.connect() as connection:
        rows = {
            t.name: sorted((dict(r) for r in connection.execute(select(t)).mappings()), key=repr)
            for t in tables
        }
        rows["projection_checkpoints"] = [
            dict(r) for r in connection.execute(select(projection_checkpoints)).mappings()
        ]
    return rows


def _busy_chat() -> Chat:
    chat = Chat()
    chat.create()
    guest = UserAccountId.generate()
    chat.add(guest)
    chat.post("hello")
    chat.post("hi", sender=guest)
    chat.remove(guest)
    return chat


def test_only_that_chats_rows_are_removed_when_a_chat_is_forgotten(
    migrated_engine: Engine,
) -> None:
    kept, forgotten = _busy_chat(), _busy_chat()
    apply_all(migrated_engine, kept.events)
    with migrated_engine.begin() as connection:
        save_checkpoint(connection, "journal", 42)
    expected = _tables(migrated_engine)
    apply_all(migrated_engine, forgotten.events)
    with migrated_engine.begin() as connection:
        park(
            connection,
            aggregate_id=str(forgotten.id),
            seq_nr=99,
            event_id=None,
            event_type=None,
            payload=None,
            reason="undecodable",
        )

    with migrated_engine.begin() as connection:
        deleted = forget(connection, str(forgotten.id))

    assert deleted == {
        "projection_positions": 1,
        "members": 2,
        "messages": 2,
        "group_chats": 1,
        "parked_events": 1,
    }
    assert _tables(migrated_engine) == expected


def test_replay_rebuilds_the_same_rows_when_a_forgotten_chat_is_projected_again(
    migrated_engine: Engine,
) -> None:
    chat = _busy_chat()
    apply_all(migrated_engine, chat.events)
    before = _tables(migrated_engine)
    with migrated_engine.begin() as connection:  # a corrupted row
        connection.execute(group_chats.update().values(name="garbage"))

    with migrated_engine.begin() as connection:
        forget(connection, str(chat.id))
    outcomes = apply_all(migrated_engine, chat.events)

    assert outcomes == [Outcome.APPLIED] * len(chat.events)
    assert _tables(migrated_engine) == before


def _forget_then_fail(engine: Engine, aggregate_id: str) -> None:
    with engine.begin() as connection:
        forget(connection, aggregate_id)
        raise RuntimeError("a later step of the transaction failed")


def test_nothing_is_removed_when_the_chat_is_unknown_or_the_transaction_rolls_back(
    migrated_engine: Engine,
) -> None:
    chat = _busy_chat()
    apply_all(migrated_engine, chat.events)
    before = _tables(migrated_engine)

    with migrated_engine.begin() as connection:
        assert set(forget(connection, "GroupChat-UNKNOWN").values()) == {0}
    with pytest.raises(RuntimeError, match="later step"):
        _forget_then_fail(migrated_engine, str(chat.id))

    assert _tables(migrated_engine) == before


def test_projection_is_committed_by_the_caller_when_the_connection_began_no_transaction(
    migrated_engine: Engine,
) -> None:
    kept, dropped = Chat(), Chat()
    with migrated_engine.connect() as connection:
        assert project(connection, kept.create()) is Outcome.APPLIED
        connection.commit()
    with migrated_engine.connect() as connection:
        assert project(connection, dropped.create()) is Outcome.APPLIED
        # closed without commit: rolled back

    with migrated_engine.connect() as connection:
        assert position(connection, str(kept.id)) == 1
        assert position(connection, str(dropped.id)) == 0
    assert row(migrated_engine, group_chats, id=str(kept.id))["name"] == "general"


def test_sqlalchemy_integrity_error_is_raised_when_an_event_violates_a_constraint(
    migrated_engine: Engine,
) -> None:
    first, second = Chat(), Chat()
    message_id = MessageId.generate()
    events = []
    for chat in (first, second):
        chat.create()
        events.append(
            chat.run(
                PostMessage(
                    group_chat_id=chat.id,
                    message_id=message_id,  # the same message id in two chats
                    content=MessageContent("hello"),
                    executor_id=chat.owner,
                )
            )
        )
    apply_all(migrated_engine, [first.events[0], events[0], second.events[0]])

    with pytest.raises(exc.IntegrityError) as raised, migrated_engine.begin() as connection:
        project(connection, events[1])

    assert raised.value.orig is not None
    with migrated_engine.connect() as connection:
        assert position(connection, str(second.id)) == 1


def test_lost_connection_is_reported_invalidated_and_the_engine_connects_again(
    migrated_engine: Engine,
) -> None:
    if migrated_engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection cannot be lost")
    chat = Chat()
    created = chat.create()
    with migrated_engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        connection.rollback()
        with migrated_engine.connect() as other:
            # Waits until the backend has gone: a statement racing its exit could find the
            # socket closed before the server's "terminating connection" message, which psycopg
            # does not always report as a broken connection (the pool's pre-ping replaces it).
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)}, 5000)")

        with pytest.raises(exc.DBAPIError) as raised:
            project(connection, created)

        assert raised.value.connection_invalidated
        assert connection.invalidated
    assert apply_all(migrated_engine, [created]) == [Outcome.APPLIED]
