"""Size limits of a group chat (`Limits`): allowed up to the bound, refused at it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chat_domain import (
    DEFAULT_LIMITS,
    AddMember,
    AlreadyAMemberError,
    CreateGroupChat,
    DeleteMessage,
    ErrorCode,
    EventId,
    GroupChat,
    GroupChatId,
    GroupChatName,
    Limits,
    MemberId,
    MessageContent,
    MessageId,
    PostMessage,
    RemoveMember,
    Role,
    TooManyMembersError,
    TooManyMessagesError,
    Ulid,
    UlidGenerator,
    UserAccountId,
    decide,
    evolve,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = UserAccountId(Ulid.from_parts(1, 1))
IDS = UlidGenerator(clock=lambda: 1_700_000_000_000, random_bytes=bytes)


def user(n: int) -> UserAccountId:
    return UserAccountId(Ulid.from_parts(2, n))


def run(state: GroupChat | None, command: object, limits: Limits = DEFAULT_LIMITS) -> GroupChat:
    (event,) = decide(
        state,
        command,  # type: ignore[arg-type]
        event_id=EventId.generate(IDS),
        occurred_at=NOW,
        limits=limits,
    )
    return evolve(state, event)


def new_chat() -> GroupChat:
    chat_id = GroupChatId.generate(IDS)
    create = CreateGroupChat(chat_id, GroupChatName.parse("Team"), ALICE, MemberId.generate(IDS))
    return run(None, create)


def add(state: GroupChat, who: UserAccountId, limits: Limits) -> GroupChat:
    return run(state, AddMember(state.id, who, Role.MEMBER, ALICE, MemberId.generate(IDS)), limits)


def post(state: GroupChat, limits: Limits) -> GroupChat:
    message = PostMessage(state.id, MessageId.generate(IDS), MessageContent("hi"), ALICE)
    return run(state, message, limits)


def test_defaults_allow_1000_members_and_10000_messages_when_no_limits_are_given() -> None:
    assert (DEFAULT_LIMITS.max_members, DEFAULT_LIMITS.max_messages) == (1000, 10_000)
    assert Limits() == DEFAULT_LIMITS


def test_add_member_succeeds_until_the_chat_has_max_members_then_fails_with_too_many_members() -> (
    None
):
    limits = Limits(max_members=3)
    state = add(add(new_chat(), user(1), limits), user(2), limits)
    assert len(state.members) == 3

    with pytest.raises(TooManyMembersError) as caught:
        add(state, user(3), limits)

    assert (caught.value.code, caught.value.status) == (ErrorCode.TOO_MANY_MEMBERS, 422)
    assert "3" in caught.value.message


def test_add_member_succeeds_again_when_a_member_was_removed_from_a_full_chat() -> None:
    limits = Limits(max_members=2)
    full = add(new_chat(), user(1), limits)
    room = run(full, RemoveMember(full.id, user(1), ALICE), limits)

    assert len(add(room, user(2), limits).members) == 2


def test_already_a_member_is_reported_before_the_limit_when_both_apply() -> None:
    limits = Limits(max_members=2)
    full = add(new_chat(), user(1), limits)

    with pytest.raises(AlreadyAMemberError):
        add(full, user(1), limits)


def test_post_message_succeeds_until_max_messages_then_fails_with_too_many_messages() -> None:
    limits = Limits(max_messages=2)
    state = post(post(new_chat(), limits), limits)

    with pytest.raises(TooManyMessagesError) as caught:
        post(state, limits)

    assert (caught.value.code, caught.value.status) == (ErrorCode.TOO_MANY_MESSAGES, 422)


def test_deleted_messages_still_count_when_the_message_limit_is_checked() -> None:
    limits = Limits(max_messages=1)
    state = post(new_chat(), limits)
    state = run(state, DeleteMessage(state.id, state.messages[0].id, ALICE), limits)

    with pytest.raises(TooManyMessagesError):
        post(state, limits)


def test_a_chat_over_a_lowered_limit_still_accepts_other_commands_when_loaded() -> None:
    state = add(add(new_chat(), user(1), DEFAULT_LIMITS), user(2), DEFAULT_LIMITS)
    lowered = Limits(max_members=1, max_messages=0)

    after = run(state, RemoveMember(state.id, user(2), ALICE), lowered)

    assert len(after.members) == 2
    with pytest.raises(TooManyMessagesError):
        post(after, lowered)


@pytest.mark.parametrize(
    ("members", "messages"), [(0, 10), (-1, 10), (10, -1)], ids=["no-members", "neg", "neg-msg"]
)
def test_raises_value_error_when_a_limit_is_out_of_range(members: int, messages: int) -> None:
    with pytest.raises(ValueError, match="max_"):
        Limits(max_members=members, max_messages=messages)
