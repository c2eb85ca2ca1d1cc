"""Events: facts about a group chat, in the past tense. Produced by `decide`, folded by `evolve`.

Every event carries the envelope fields of `GroupChatEvent` plus a payload with everything the
read model needs to project it without loading the aggregate (names, member and message objects
with their timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from chat_domain._frozen import quick_init
from chat_domain.ids import EventId, GroupChatId, MemberId, MessageId, UserAccountId
from chat_domain.state import Member, Message
from chat_domain.values import GroupChatName


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatEvent:
    """Fields every event has.

    - `event_id`: unique id of this event (a ULID).
    - `aggregate_id`: the group chat the event belongs to.
    - `seq_nr`: position in the group chat's stream, contiguous from 1.
    - `executor_id`: the user account whose command produced the event.
    - `occurred_at`: when it happened; UTC, truncated to whole milliseconds.
    """

    event_id: EventId
    aggregate_id: GroupChatId
    seq_nr: int
    executor_id: UserAccountId
    occurred_at: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatCreated(GroupChatEvent):
    """The group chat was created; `member` is the creator's membership (an administrator)."""

    name: GroupChatName
    member: Member


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatRenamed(GroupChatEvent):
    """The group chat got the new `name`."""

    name: GroupChatName


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatMemberAdded(GroupChatEvent):
    """`member` joined the group chat."""

    member: Member


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatMemberRemoved(GroupChatEvent):
    """The membership `member_id` of `user_account_id` ended."""

    member_id: MemberId
    user_account_id: UserAccountId


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatMessagePosted(GroupChatEvent):
    """`message` was posted (its `sender_id` is the executor)."""

    message: Message


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatMessageEdited(GroupChatEvent):
    """`message` got new content; it is the whole message after the edit."""

    message: Message


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatMessageDeleted(GroupChatEvent):
    """The message `message_id` was deleted."""

    message_id: MessageId


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatDeleted(GroupChatEvent):
    """The group chat was deleted. No payload beyond the envelope."""


Event: TypeAlias = (
    GroupChatCreated
    | GroupChatRenamed
    | GroupChatMemberAdded
    | GroupChatMemberRemoved
    | GroupChatMessagePosted
    | GroupChatMessageEdited
    | GroupChatMessageDeleted
    | GroupChatDeleted
)
"""Any event of the GroupChat aggregate (a closed union: match on it exhaustively)."""

EVENT_TYPES: tuple[type[GroupChatEvent], ...] = (
    GroupChatCreated,
    GroupChatRenamed,
    GroupChatMemberAdded,
    GroupChatMemberRemoved,
    GroupChatMessagePosted,
    GroupChatMessageEdited,
    GroupChatMessageDeleted,
    GroupChatDeleted,
)
"""Every event class, in the order of the lifecycle."""
