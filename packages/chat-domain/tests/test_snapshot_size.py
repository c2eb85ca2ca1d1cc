"""The snapshot of the largest chat the default limits allow fits in one DynamoDB item.

A DynamoDB item holds at most 400 KB (409,600 bytes, attribute names and the key included), and
the DynamoDB store writes a chat's snapshot as one item at every 100th event. A snapshot that
does not fit fails the append that carries it, and every later one too (issue #2: the JSON
snapshots of formats 1 and 2 stopped fitting at ~3,500 messages).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chat_domain import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_MESSAGES,
    GROUP_CHAT_NAME_MAX_LENGTH,
    AddMember,
    Command,
    CreateGroupChat,
    DeleteMessage,
    EventId,
    GroupChat,
    GroupChatId,
    GroupChatName,
    MemberId,
    MessageContent,
    MessageId,
    PostMessage,
    RemoveMember,
    Role,
    TooManyMessagesError,
    UserAccountId,
    decide,
    decode_state,
    encode_state,
    evolve,
)

DYNAMODB_ITEM_LIMIT = 409_600
SENDERS_PER_GENERATION = DEFAULT_MAX_MEMBERS
POSTS_PER_SENDER = DEFAULT_MAX_MESSAGES // (2 * SENDERS_PER_GENERATION)


def largest_chat() -> GroupChat:
    """A chat at both default limits: 1,000 members, 10,000 messages, half of them deleted.

    The messages come from 1,999 senders: every member posts, then all but the creator are
    removed and 999 others added, who post too. Ids are random ULIDs (incompressible, full
    length), the name is the longest one of 4-byte characters.
    """
    at = datetime(2026, 3, 1, tzinfo=UTC)
    state: GroupChat | None = None

    def run(command: Command) -> None:
        nonlocal state, at
        at += timedelta(milliseconds=1)
        (event,) = decide(state, command, event_id=EventId.generate(), occurred_at=at)
        state = evolve(state, event)

    admin = UserAccountId.generate()
    chat_id = GroupChatId.generate()
    name = GroupChatName("🎉" * GROUP_CHAT_NAME_MAX_LENGTH)
    run(CreateGroupChat(chat_id, name, admin, MemberId.generate()))
    posted: list[MessageId] = []
    for generation in range(2):
        users = [UserAccountId.generate() for _ in range(SENDERS_PER_GENERATION - 1)]
        for user in users:
            run(AddMember(chat_id, user, Role.MEMBER, admin, MemberId.generate()))
        for user in [admin, *users] if generation == 0 else users:
            for _ in range(POSTS_PER_SENDER):
                posted.append(MessageId.generate())
                run(PostMessage(chat_id, posted[-1], MessageContent("hi"), user))
        if generation == 0:
            for user in users:
                run(RemoveMember(chat_id, user, admin))
    while len(posted) < DEFAULT_MAX_MESSAGES:
        posted.append(MessageId.generate())
        run(PostMessage(chat_id, posted[-1], MessageContent("hi"), admin))
    for message_id in posted[::2]:
        run(DeleteMessage(chat_id, message_id, admin))
    assert state is not None
    return state


def test_snapshot_of_the_largest_chat_fits_a_dynamodb_item_with_room_to_spare() -> None:
    state = largest_chat()
    assert len(state.members) == DEFAULT_MAX_MEMBERS
    assert state.message_count == DEFAULT_MAX_MESSAGES
    assert len(state.messages) == DEFAULT_MAX_MESSAGES // 2
    senders = {m.sender_id for m in state.messages}
    assert len(senders) == 2 * SENDERS_PER_GENERATION - 1
    assert not senders <= {m.user_account_id for m in state.members}, "removed senders too"
    admin = state.members[0].user_account_id

    snapshot = encode_state(state)

    # 25 bytes a message, 45 a member, 16 a sender, plus a header: ~327 KB. The rest of the
    # item (key, version, seq_nr, attribute names) takes well under 1 KB.
    assert len(snapshot) < 340_000 < DYNAMODB_ITEM_LIMIT - 60_000
    restored = decode_state(snapshot)
    assert restored == state
    # The restored chat is full: the limit still holds.
    with pytest.raises(TooManyMessagesError):
        decide(
            restored,
            PostMessage(state.id, MessageId.generate(), MessageContent("x"), admin),
            event_id=EventId.generate(),
            occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        )
