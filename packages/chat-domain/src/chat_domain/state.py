"""The GroupChat aggregate's state: immutable data, changed only by `evolve` (see `decider`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chat_domain._frozen import quick_init
from chat_domain.ids import GroupChatId, MemberId, MessageId, UserAccountId
from chat_domain.message_index import MessageIndex
from chat_domain.values import GroupChatName, MessageContent, Role


@quick_init
@dataclass(frozen=True, slots=True)
class Member:
    """A user account's membership in a group chat."""

    id: MemberId
    user_account_id: UserAccountId
    role: Role
    created_at: datetime
    updated_at: datetime

    @property
    def is_administrator(self) -> bool:
        """Whether this member has the administrator role."""
        return self.role is Role.ADMINISTRATOR


@quick_init
@dataclass(frozen=True, slots=True)
class Message:
    """A message as events carry it to the read model (content and timestamps included).

    The `GroupChat` state does not keep these: it keeps a `MessageRef` per live message.
    """

    id: MessageId
    sender_id: UserAccountId
    content: MessageContent
    deleted: bool
    created_at: datetime
    updated_at: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class MessageRef:
    """What the rules need to know of a live (posted, not deleted) message.

    `sender_id` answers "may this user edit/delete it?"; `created_at` is needed because an edit's
    event carries the whole message with its original creation time. Content and `updated_at`
    are not kept: no rule reads them, and the content (up to 4,000 characters) would dominate the
    memory of a cached chat and the size of its snapshot.
    """

    id: MessageId
    sender_id: UserAccountId
    created_at: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChat:
    """The state of one group chat.

    - `members`: ordered by joining, unique by user account; the creator comes first as an
      administrator. Removed members are dropped from the tuple.
    - `message_index`: every message ever posted, in posting order, as a compact
      `MessageIndex`: its id, whether it is deleted and, for a live one, its sender and
      creation time. This is the smallest state that keeps every decision as it was with full
      messages: edit/delete of a deleted id is `message_not_found` either way, the message
      limit counts deleted messages too (`message_count`), and a post reusing a deleted
      message's id is still refused (a bare counter could not tell; the read model keeps
      deleted rows, so a reused id would break its projection). Live messages, deleted ids
      and the count are one structure, so they can never disagree; and it is packed bytes, so
      a 10,000-message chat loads from its snapshot as fast as an empty one (see
      `chat_domain.message_index`). `messages` and `deleted_message_ids` present it as objects.
    - `seq_nr`: sequence number of the last event applied (events are numbered from 1).
    - `version`: number of events this state reflects, i.e. the `expected_version` for the next
      append. Both advance by one per event, so for any state built by `evolve` they are equal;
      they are kept apart because they answer different questions (which event? which version?).
    """

    id: GroupChatId
    name: GroupChatName
    members: tuple[Member, ...]
    message_index: MessageIndex
    deleted: bool
    seq_nr: int
    version: int
    created_at: datetime
    updated_at: datetime

    def find_member(self, user_account_id: UserAccountId) -> Member | None:
        """The membership of `user_account_id`, or None when it is not a member."""
        for member in self.members:
            if member.user_account_id == user_account_id:
                return member
        return None

    def is_member(self, user_account_id: UserAccountId) -> bool:
        """Whether `user_account_id` is a current member (any role)."""
        return self.find_member(user_account_id) is not None

    def is_administrator(self, user_account_id: UserAccountId) -> bool:
        """Whether `user_account_id` is a current member with the administrator role."""
        member = self.find_member(user_account_id)
        return member is not None and member.is_administrator

    @property
    def administrators(self) -> tuple[Member, ...]:
        """The members with the administrator role, in joining order."""
        return tuple(m for m in self.members if m.is_administrator)

    def find_message(self, message_id: MessageId) -> MessageRef | None:
        """The live message `message_id`, or None when it is unknown or deleted."""
        found = self.message_index.find(message_id)
        return None if found is None else MessageRef(message_id, *found)

    def is_message_id_used(self, message_id: MessageId) -> bool:
        """Whether `message_id` belongs to a message of this chat, live or deleted."""
        return message_id in self.message_index

    @property
    def message_count(self) -> int:
        """Every message ever posted to this chat, deleted ones included (the limit's measure)."""
        return self.message_index.count

    @property
    def messages(self) -> tuple[MessageRef, ...]:
        """The live messages (posted, not deleted) in posting order.

        Built on each access (O(messages)): for callers that want them all, not for the rules,
        which use `find_message`, `is_message_id_used` and `message_count`.
        """
        return tuple(MessageRef(*message) for message in self.message_index.live())

    @property
    def deleted_message_ids(self) -> frozenset[MessageId]:
        """The ids of the deleted messages (built on each access, O(messages))."""
        return self.message_index.deleted_ids()
