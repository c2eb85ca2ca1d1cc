"""The snapshot of the largest chat the default limits allow fits in one DynamoDB item.

A DynamoDB item holds at most 400 KB (409,600 bytes, attribute names and the key included), and
the DynamoDB store writes a chat's snapshot as one item at every 100th event. A snapshot that
does not fit fails the append that carries it, and every later one too (issue #2: the JSON
snapshots of formats 1 and 2 stopped fitting at ~3,500 messages).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chat_domain import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_MESSAGES,
    EventId,
    GroupChat,
    MessageContent,
    MessageId,
    PostMessage,
    TooManyMessagesError,
    decide,
    decode_state,
    encode_state,
)
from chat_domain.testing import LARGEST_CHAT_SENDERS
from chat_domain.testing import largest_chat as largest_history

DYNAMODB_ITEM_LIMIT = 409_600


def largest_chat() -> GroupChat:
    return largest_history()[1]


def test_snapshot_of_the_largest_chat_fits_a_dynamodb_item_with_room_to_spare() -> None:
    state = largest_chat()
    assert len(state.members) == DEFAULT_MAX_MEMBERS
    assert state.message_count == DEFAULT_MAX_MESSAGES
    assert len(state.messages) == DEFAULT_MAX_MESSAGES // 2
    senders = {m.sender_id for m in state.messages}
    assert len(senders) == LARGEST_CHAT_SENDERS
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
