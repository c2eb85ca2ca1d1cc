"""The GroupChat aggregate's state: immutable data, changed only by `evolve` (see `decider`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chat_domain.ids import GroupChatId, MemberId, MessageId, UserAccountId
from chat_domain.values import GroupChatName, MessageContent, Role


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


@dataclass(frozen=True, slots=True)
class Message:
    """A message posted to a group chat. Deleted messages stay in the state, flagged."""

    id: MessageId
    sender_id: UserAccountId
    content: MessageContent
    deleted: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GroupChat:
    """The state of one group chat.

    - `members`: ordered by joining, unique by user account; the creator comes first as an
      administrator. Removed members are dropped from the tuple.
    - `messages`: ordered by posting; deleted ones are kept with `deleted=True` so that their
      ids stay known (a second delete is `message_not_found`, not a new message).
    - `seq_nr`: sequence number of the last event applied (events are numbered from 1).
    - `version`: number of events this state reflects, i.e. the `expected_version` for the next
      append. Both advance by one per event, so for any state built by `evolve` they are equal;
      they are kept apart because they answer different questions (which event? which version?).
    """

    id: GroupChatId
    name: GroupChatName
    members: tuple[Member, ...]
    messages: tuple[Message, ...]
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

    def find_message(
        self, message_id: MessageId, *, include_deleted: bool = False
    ) -> Message | None:
        """The message `message_id`; deleted messages only when `include_deleted`."""
        for message in self.messages:
            if message.id == message_id:
                return message if include_deleted or not message.deleted else None
        return None

    @property
    def live_messages(self) -> tuple[Message, ...]:
        """The messages that are not deleted, in posting order."""
        return tuple(m for m in self.messages if not m.deleted)
