"""Domain histories for tests and benchmarks: pure, like the rest of the package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chat_domain.commands import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteMessage,
    PostMessage,
    RemoveMember,
)
from chat_domain.decider import decide, evolve
from chat_domain.events import Event
from chat_domain.ids import EventId, GroupChatId, MemberId, MessageId, UserAccountId
from chat_domain.limits import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_MESSAGES
from chat_domain.state import GroupChat
from chat_domain.values import GROUP_CHAT_NAME_MAX_LENGTH, GroupChatName, MessageContent, Role

__all__ = ["LARGEST_CHAT_SENDERS", "largest_chat"]

LARGEST_CHAT_SENDERS = 2 * DEFAULT_MAX_MEMBERS - 1
"""How many distinct users posted to `largest_chat()`'s messages."""


def largest_chat() -> tuple[list[Event], GroupChat]:
    """The events and final state of a chat at both default limits (the largest snapshot).

    1,000 members and 10,000 messages, half of them deleted, from 1,999 senders: every member
    posts, then all but the creator are removed and 999 others added, who post too. Ids are
    random ULIDs (incompressible, full length), the name is the longest one of 4-byte
    characters.
    """
    at = datetime(2026, 3, 1, tzinfo=UTC)
    events: list[Event] = []
    state: GroupChat | None = None

    def run(command: Command) -> None:
        nonlocal state, at
        at += timedelta(milliseconds=1)
        (event,) = decide(state, command, event_id=EventId.generate(), occurred_at=at)
        events.append(event)
        state = evolve(state, event)

    admin = UserAccountId.generate()
    chat_id = GroupChatId.generate()
    name = GroupChatName("🎉" * GROUP_CHAT_NAME_MAX_LENGTH)
    run(CreateGroupChat(chat_id, name, admin, MemberId.generate()))
    posts_per_sender = DEFAULT_MAX_MESSAGES // (2 * DEFAULT_MAX_MEMBERS)
    posted: list[MessageId] = []
    for generation in range(2):
        users = [UserAccountId.generate() for _ in range(DEFAULT_MAX_MEMBERS - 1)]
        for user in users:
            run(AddMember(chat_id, user, Role.MEMBER, admin, MemberId.generate()))
        for user in [admin, *users] if generation == 0 else users:
            for _ in range(posts_per_sender):
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
    return events, state
