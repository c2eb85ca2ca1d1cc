"""The GroupChat aggregate's behaviour as pure functions.

- `decide(state, command, *, event_id, occurred_at, limits=DEFAULT_LIMITS)` checks the rules
  and returns the events (exactly one per accepted command) or raises a `DomainError`.
- `evolve(state, event)` applies one event; it never checks business rules (events are facts),
  only that the event fits the stream (right aggregate, next sequence number).
- `replay(events, initial)` folds `evolve` over events, optionally starting from a snapshot.

`state is None` means the group chat does not exist (no events yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import assert_never

from chat_domain.commands import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    EditMessage,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
)
from chat_domain.errors import (
    AlreadyAMemberError,
    EventSequenceError,
    GroupChatAlreadyDeletedError,
    GroupChatAlreadyExistsError,
    GroupChatDeletedError,
    GroupChatNotFoundError,
    LastAdministratorError,
    MessageNotFoundError,
    NameUnchangedError,
    NotAMemberError,
    NotAnAdministratorError,
    NotSenderOrAdministratorError,
    NotTheSenderError,
    TooManyMembersError,
    TooManyMessagesError,
)
from chat_domain.events import (
    Event,
    GroupChatCreated,
    GroupChatDeleted,
    GroupChatMemberAdded,
    GroupChatMemberRemoved,
    GroupChatMessageDeleted,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatRenamed,
)
from chat_domain.ids import EventId, GroupChatId, MessageId, UserAccountId
from chat_domain.limits import DEFAULT_LIMITS, Limits
from chat_domain.message_index import MessageIndex
from chat_domain.state import GroupChat, Member, Message, MessageRef
from chat_domain.timestamps import to_utc_millis
from chat_domain.values import Role


def decide(
    state: GroupChat | None,
    command: Command,
    *,
    event_id: EventId,
    occurred_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[Event, ...]:
    """The events that `command` produces on `state`, or the `DomainError` it breaks.

    `event_id` and `occurred_at` (timezone-aware; stored in UTC at millisecond precision) are
    passed in so that this function stays pure, and so are the size `limits` of a chat.
    Raises `ValueError` when `state` belongs to a different group chat than the command (a bug
    in the caller, not the user's mistake).
    """
    at = to_utc_millis(occurred_at)
    if state is not None and state.id != command.group_chat_id:
        raise ValueError(
            f"command for {command.group_chat_id} was decided on the state of {state.id}"
        )
    if isinstance(command, CreateGroupChat):
        if state is not None:
            raise GroupChatAlreadyExistsError(f"group chat {command.group_chat_id} already exists")
        creator = Member(
            id=command.member_id,
            user_account_id=command.executor_id,
            role=Role.ADMINISTRATOR,
            created_at=at,
            updated_at=at,
        )
        return (
            GroupChatCreated(
                event_id=event_id,
                aggregate_id=command.group_chat_id,
                seq_nr=1,
                executor_id=command.executor_id,
                occurred_at=at,
                name=command.name,
                member=creator,
            ),
        )

    if state is None:
        raise GroupChatNotFoundError(f"group chat {command.group_chat_id} does not exist")
    if isinstance(command, DeleteGroupChat):
        # Checked before the generic "deleted" rule: deleting twice has its own code.
        if state.deleted:
            raise GroupChatAlreadyDeletedError(f"group chat {state.id} is already deleted")
    elif state.deleted:
        raise GroupChatDeletedError(f"group chat {state.id} is deleted")

    # The GroupChatEvent fields, in declaration order, shared by the event built below.
    envelope = (event_id, state.id, state.seq_nr + 1, command.executor_id, at)
    event: Event
    match command:  # posts first: by far the most frequent command
        case PostMessage():
            if not state.is_member(command.executor_id):
                raise NotAMemberError(
                    f"{command.executor_id} is not a member and cannot post messages"
                )
            if state.message_count >= limits.max_messages:
                raise TooManyMessagesError(
                    f"group chat {state.id} already holds {state.message_count} messages, "
                    f"the most allowed is {limits.max_messages}"
                )
            if state.is_message_id_used(command.message_id):
                raise ValueError(f"message id {command.message_id} is already in use")
            message = Message(
                id=command.message_id,
                sender_id=command.executor_id,
                content=command.content,
                deleted=False,
                created_at=at,
                updated_at=at,
            )
            event = GroupChatMessagePosted(*envelope, message=message)
        case RenameGroupChat():
            _require_administrator(state, command.executor_id)
            if command.name == state.name:
                raise NameUnchangedError(f"group chat {state.id} is already named {state.name}")
            event = GroupChatRenamed(*envelope, name=command.name)
        case AddMember():
            _require_administrator(state, command.executor_id)
            if state.is_member(command.user_account_id):
                raise AlreadyAMemberError(f"{command.user_account_id} is already a member")
            if len(state.members) >= limits.max_members:
                raise TooManyMembersError(
                    f"group chat {state.id} already has {len(state.members)} members, "
                    f"the most allowed is {limits.max_members}"
                )
            if any(m.id == command.member_id for m in state.members):
                raise ValueError(f"member id {command.member_id} is already in use")
            member = Member(
                id=command.member_id,
                user_account_id=command.user_account_id,
                role=command.role,
                created_at=at,
                updated_at=at,
            )
            event = GroupChatMemberAdded(*envelope, member=member)
        case RemoveMember():
            _require_administrator(state, command.executor_id)
            removed = state.find_member(command.user_account_id)
            if removed is None:
                raise NotAMemberError(f"{command.user_account_id} is not a member")
            if removed.is_administrator and len(state.administrators) == 1:
                raise LastAdministratorError(
                    f"{command.user_account_id} is the last administrator and cannot be removed"
                )
            event = GroupChatMemberRemoved(
                *envelope,
                member_id=removed.id,
                user_account_id=removed.user_account_id,
            )
        case EditMessage():
            original = _require_message(state, command.message_id)
            if original.sender_id != command.executor_id:
                raise NotTheSenderError(f"only the sender may edit message {command.message_id}")
            edited = Message(
                id=original.id,
                sender_id=original.sender_id,
                content=command.content,
                deleted=False,
                created_at=original.created_at,
                updated_at=at,
            )
            event = GroupChatMessageEdited(*envelope, message=edited)
        case DeleteMessage():
            target = _require_message(state, command.message_id)
            if target.sender_id != command.executor_id and not state.is_administrator(
                command.executor_id
            ):
                raise NotSenderOrAdministratorError(
                    f"only the sender or an administrator may delete message {command.message_id}"
                )
            event = GroupChatMessageDeleted(
                *envelope,
                message_id=command.message_id,
            )
        case DeleteGroupChat():
            _require_administrator(state, command.executor_id)
            event = GroupChatDeleted(*envelope)
        case _:
            assert_never(command)
    return (event,)


def _require_administrator(state: GroupChat, executor_id: UserAccountId) -> None:
    if not state.is_administrator(executor_id):
        raise NotAnAdministratorError(
            f"{executor_id} is not an administrator of group chat {state.id}"
        )


def _require_message(state: GroupChat, message_id: MessageId) -> MessageRef:
    message = state.find_message(message_id)
    if message is None:
        raise MessageNotFoundError(
            f"message {message_id} does not exist in group chat {state.id} or is deleted"
        )
    return message


def evolve(state: GroupChat | None, event: Event) -> GroupChat:
    """The state after `event`. Raises `EventSequenceError` when the event does not fit."""
    if isinstance(event, GroupChatCreated):
        if state is not None:
            raise EventSequenceError(f"{event.aggregate_id} is created twice")
        if event.seq_nr != 1:
            raise EventSequenceError(
                f"{event.aggregate_id}: the creation must be event 1, not {event.seq_nr}"
            )
        return GroupChat(
            id=event.aggregate_id,
            name=event.name,
            members=(event.member,),
            message_index=MessageIndex(),
            deleted=False,
            seq_nr=event.seq_nr,
            version=1,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if state is None:
        raise EventSequenceError(
            f"{event.aggregate_id}: {type(event).__name__} before the group chat was created"
        )
    _check_sequence(state.id, state.seq_nr, event.aggregate_id, event.seq_nr)
    name, members, index, deleted = state.name, state.members, state.message_index, state.deleted
    match event:  # posts first: by far the most frequent event
        case GroupChatMessagePosted():
            posted = event.message
            index = index.posted(posted.id, posted.sender_id, posted.created_at)
        case GroupChatRenamed():
            name = event.name
        case GroupChatMemberAdded():
            members = (*members, event.member)
        case GroupChatMemberRemoved():
            members = tuple(m for m in members if m.user_account_id != event.user_account_id)
        case GroupChatMessageEdited():
            # The edited message replaces the live one (an edit of an unknown or deleted
            # message, which `decide` never produces, changes nothing).
            edited = event.message
            index = index.edited(edited.id, edited.sender_id, edited.created_at)
        case GroupChatMessageDeleted():
            # An unknown or already deleted message: nothing to record.
            index = index.deleted(event.message_id)
        case GroupChatDeleted():
            deleted = True
        case _:
            assert_never(event)
    # One constructor call rather than `dataclasses.replace` (which inspects the fields on each
    # call): this runs for every event folded and every command handled.
    return GroupChat(
        id=state.id,
        name=name,
        members=members,
        message_index=index,
        deleted=deleted,
        seq_nr=event.seq_nr,
        version=state.version + 1,
        created_at=state.created_at,
        updated_at=event.occurred_at,
    )


def _check_sequence(
    state_id: GroupChatId, state_seq_nr: int, event_aggregate_id: GroupChatId, event_seq_nr: int
) -> None:
    if event_aggregate_id != state_id:
        raise EventSequenceError(f"an event of {event_aggregate_id} applied to {state_id}")
    if event_seq_nr != state_seq_nr + 1:
        raise EventSequenceError(
            f"{state_id}: expected event {state_seq_nr + 1}, got event {event_seq_nr}"
        )


def replay(events: Iterable[Event], initial: GroupChat | None = None) -> GroupChat | None:
    """Fold `events` with `evolve`, starting from `initial` (e.g. a snapshot) or nothing.

    Returns None only when there are no events and no initial state.
    """
    state = initial
    for event in events:
        state = evolve(state, event)
    return state
