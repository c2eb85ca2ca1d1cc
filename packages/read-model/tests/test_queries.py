"""Query functions: visibility, ordering and the message cursor page, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from read_model import ReadModelUnavailableError
from read_model.queries import (
    GroupChatView,
    InvalidCursorError,
    MessageView,
    decode_cursor,
    encode_cursor,
    get_group_chat,
    get_group_chats,
    get_member,
    get_members,
    get_message,
    get_messages,
)
from read_model.testing import ReadModelSeeder
from sqlalchemy import Engine


def test_get_group_chats_lists_the_callers_chats_newest_first_when_member_of_several(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    older = seed.group_chat(alice, "older")
    seed.group_chat(bob, "bob's only")
    newer = seed.group_chat(bob, "newer")
    seed.member(newer, alice)

    chats = get_group_chats(migrated_engine, alice)

    assert [chat.id for chat in chats] == [newer, older]
    assert chats[1] == GroupChatView(
        id=older,
        name="older",
        owner_id=alice,
        created_at=chats[1].created_at,
        updated_at=chats[1].updated_at,
    )


def test_get_group_chats_breaks_timestamp_ties_by_id_when_created_in_the_same_millisecond(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    same_time = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    first = seed.group_chat(alice, "a", at=same_time)
    second = seed.group_chat(alice, "b", at=same_time)

    assert [chat.id for chat in get_group_chats(migrated_engine, alice)] == [second, first]


def test_get_group_chats_hides_a_chat_when_it_is_deleted_or_the_caller_was_removed(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    deleted = seed.group_chat(alice, "deleted")
    seed.delete_group_chat(deleted)
    left = seed.group_chat(bob, "left")
    seed.member(left, alice)
    seed.remove_member(left, alice)
    kept = seed.group_chat(alice, "kept")

    assert [chat.id for chat in get_group_chats(migrated_engine, alice)] == [kept]
    assert [chat.id for chat in get_group_chats(migrated_engine, bob)] == [left]


def test_get_group_chats_is_empty_when_the_user_belongs_to_no_chat(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    seed.group_chat(seed.user())

    assert get_group_chats(migrated_engine, seed.user()) == []


def test_get_group_chat_returns_the_chat_when_the_caller_is_a_member(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    at = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)
    chat = seed.group_chat(alice, "general", at=at)

    view = get_group_chat(migrated_engine, chat, alice)

    expected_time = datetime(2026, 11, 28, 10, 0, 0, 123000, tzinfo=UTC)
    assert view == GroupChatView(chat, "general", alice, expected_time, expected_time)
    assert view.created_at.tzinfo is not None
    assert view.created_at.utcoffset() == UTC.utcoffset(None)


def test_get_group_chat_returns_none_when_the_caller_may_not_see_it(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob, stranger = seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    seed.remove_member(chat, bob)
    deleted = seed.group_chat(alice)
    seed.delete_group_chat(deleted)

    assert get_group_chat(migrated_engine, chat, stranger) is None
    assert get_group_chat(migrated_engine, chat, bob) is None
    assert get_group_chat(migrated_engine, deleted, alice) is None
    assert get_group_chat(migrated_engine, "GroupChat-01JDZZZZZZZZZZZZZZZZZZZZZZ", alice) is None


def test_get_members_lists_current_members_oldest_first_when_the_caller_is_a_member(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob, carol, dave = seed.user(), seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    seed.member(chat, carol, role="administrator")
    seed.member(chat, dave)
    seed.remove_member(chat, bob)

    members = get_members(migrated_engine, chat, carol)

    assert members is not None
    assert [(m.user_account_id, m.role) for m in members] == [
        (alice, "administrator"),
        (carol, "administrator"),
        (dave, "member"),
    ]
    assert {m.group_chat_id for m in members} == {chat}


def test_get_members_returns_none_when_the_caller_may_not_see_the_chat(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    deleted = seed.group_chat(alice)
    seed.delete_group_chat(deleted)

    assert get_members(migrated_engine, chat, bob) is None
    assert get_members(migrated_engine, deleted, alice) is None


def test_get_member_returns_the_membership_when_both_are_current_members(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    member_id = seed.member(chat, bob)

    member = get_member(migrated_engine, chat, bob, alice)
    own = get_member(migrated_engine, chat, alice, alice)

    assert member is not None
    assert (member.id, member.user_account_id, member.role) == (member_id, bob, "member")
    assert own is not None
    assert own.role == "administrator"


def test_get_member_returns_none_when_removed_unknown_or_invisible_to_the_caller(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob, stranger = seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    seed.remove_member(chat, bob)

    assert get_member(migrated_engine, chat, bob, alice) is None
    assert get_member(migrated_engine, chat, stranger, alice) is None
    assert get_member(migrated_engine, chat, alice, stranger) is None
    assert get_member(migrated_engine, chat, alice, bob) is None


def test_get_message_returns_the_message_when_the_caller_is_a_member(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    message_id = seed.message(chat, alice, "hi bob")

    message = get_message(migrated_engine, message_id, bob)

    assert message is not None
    assert message == MessageView(
        id=message_id,
        group_chat_id=chat,
        user_account_id=alice,
        text="hi bob",
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


def test_get_message_returns_none_when_deleted_or_the_caller_may_not_see_the_chat(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, bob, stranger = seed.user(), seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.member(chat, bob)
    deleted_message = seed.message(chat, alice)
    seed.delete_message(deleted_message)
    kept = seed.message(chat, bob)
    seed.remove_member(chat, bob)
    other = seed.group_chat(alice)
    in_deleted_chat = seed.message(other, alice)
    seed.delete_group_chat(other)

    assert get_message(migrated_engine, deleted_message, alice) is None
    assert get_message(migrated_engine, kept, stranger) is None
    assert get_message(migrated_engine, kept, bob) is None  # bob's own message, but he left
    assert get_message(migrated_engine, in_deleted_chat, alice) is None
    assert get_message(migrated_engine, kept, alice) is not None


def test_get_messages_pages_backwards_oldest_first_within_a_page_when_walking_the_cursor(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    posted = [seed.message(chat, alice, f"m{i}") for i in range(7)]
    deleted = seed.message(chat, alice, "deleted")
    seed.delete_message(deleted)

    pages = []
    before = None
    while True:
        page = get_messages(migrated_engine, chat, alice, limit=3, before=before)
        assert page is not None
        pages.append([m.id for m in page.items])
        if page.next_before is None:
            break
        before = page.next_before

    assert pages == [posted[4:7], posted[1:4], posted[0:1]]


def test_get_messages_has_no_next_cursor_when_the_page_holds_the_oldest_message(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    posted = [seed.message(chat, alice) for _ in range(3)]

    exact = get_messages(migrated_engine, chat, alice, limit=3)
    empty_chat = get_messages(migrated_engine, seed.group_chat(alice), alice)

    assert exact is not None
    assert [m.id for m in exact.items] == posted
    assert exact.next_before is None
    assert empty_chat is not None
    assert (empty_chat.items, empty_chat.next_before) == ((), None)


def test_get_messages_splits_messages_of_one_millisecond_by_id_when_paging(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    same_time = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    posted = [seed.message(chat, alice, at=same_time) for _ in range(5)]

    first = get_messages(migrated_engine, chat, alice, limit=2)
    assert first is not None
    second = get_messages(migrated_engine, chat, alice, limit=2, before=first.next_before)
    assert second is not None
    third = get_messages(migrated_engine, chat, alice, limit=2, before=second.next_before)
    assert third is not None

    assert [[m.id for m in p.items] for p in (first, second, third)] == [
        posted[3:5],
        posted[1:3],
        posted[0:1],
    ]
    assert third.next_before is None


def test_get_messages_only_returns_the_chats_own_messages_when_chats_interleave(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat, other = seed.group_chat(alice), seed.group_chat(alice)
    mine = [seed.message(chat, alice), seed.message(other, alice), seed.message(chat, alice)]

    page = get_messages(migrated_engine, chat, alice)

    assert page is not None
    assert [m.id for m in page.items] == [mine[0], mine[2]]


def test_get_messages_returns_none_when_the_caller_may_not_see_the_chat(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice, stranger = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    seed.message(chat, alice)

    assert get_messages(migrated_engine, chat, stranger) is None


def test_get_messages_rejects_the_limit_when_it_is_below_one(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)

    with pytest.raises(ValueError, match="limit"):
        get_messages(migrated_engine, chat, alice, limit=0)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "bm9zZXBhcmF0b3I",  # "noseparator"
        "LTE6MDFKRFpaWlpaWlpaWlpaWlpaWlpaWlpaWlo",  # "-1:01JDZZZZZZZZZZZZZZZZZZZZZZ"
        "MTIzOm5vdC1hLXVsaWQ",  # "123:not-a-ulid"
        "_w",  # one byte 0xff, not ASCII
        "OTk5OTk5OTk5OTk5OTk5OjAxSkRaWlpaWlpaWlpaWlpaWlpaWlpaWlpa",  # past datetime.max
        "MTIz+jAxSkRaWlpaWlpaWlpaWlpaWlpaWlpaWlpa",  # standard (not url-safe) alphabet
        "MTIzOjAxSkRaWlpaWlpaWlpaWlpa WlpaWlpaWlpa",  # a character outside the alphabet
    ],
)
def test_decode_cursor_raises_invalid_cursor_when_the_cursor_was_not_produced_here(
    cursor: str,
) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_get_messages_raises_invalid_cursor_when_the_cursor_is_malformed(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)

    with pytest.raises(InvalidCursorError):
        get_messages(migrated_engine, chat, alice, before="not a cursor")


def test_decode_cursor_returns_the_position_when_given_an_encoded_cursor() -> None:
    at = datetime(2026, 11, 28, 10, 0, 0, 123000, tzinfo=UTC)

    cursor = encode_cursor(at, "01JDZZZZZZZZZZZZZZZZZZZZZZ")

    assert "=" not in cursor
    assert decode_cursor(cursor) == (at, "01JDZZZZZZZZZZZZZZZZZZZZZZ")


def test_queries_read_within_the_callers_transaction_when_given_its_connection(
    migrated_engine: Engine,
) -> None:
    with migrated_engine.connect() as connection:
        seed = ReadModelSeeder(connection)
        alice = seed.user()
        chat = seed.group_chat(alice)
        message = seed.message(chat, alice)

        found = get_message(connection, message, alice)
        page = get_messages(connection, chat, alice)

        assert found is not None
        assert page is not None
        assert page.items == (found,)
        assert connection.in_transaction()
        assert get_group_chat(migrated_engine, chat, alice) is None  # not committed
        connection.rollback()
        assert get_group_chat(connection, chat, alice) is None


def test_a_write_on_the_engine_rolls_back_when_it_follows_reads_of_the_engine(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    for _ in range(3):
        assert get_group_chat(migrated_engine, chat, alice) is not None
        assert get_messages(migrated_engine, chat, alice) is not None

    with migrated_engine.connect() as connection:
        ReadModelSeeder(connection).member(chat, "UserAccount-01JDZZZZZZZZZZZZZZZZZZZZZZ")
        connection.rollback()

    members = get_members(migrated_engine, chat, alice)
    assert members is not None
    assert [member.user_account_id for member in members] == [alice]


def test_a_lost_connection_is_unavailable_and_the_engine_reads_again_when_reading(
    migrated_engine: Engine, seed: ReadModelSeeder
) -> None:
    if migrated_engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection cannot be lost")
    alice = seed.user()
    chat = seed.group_chat(alice)
    with migrated_engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        connection.rollback()
        with migrated_engine.connect() as other:
            # Waits until the backend has gone: a statement racing its exit could find the
            # socket closed before the server's "terminating connection" message, which psycopg
            # does not always report as a broken connection (the pool's pre-ping replaces it).
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)}, 5000)")

        with pytest.raises(ReadModelUnavailableError):
            get_group_chats(connection, alice)

        assert connection.invalidated
    assert [view.id for view in get_group_chats(migrated_engine, alice)] == [chat]
