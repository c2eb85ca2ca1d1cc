"""Property: whatever commands arrive, the events fully determine the state.

Random sequences of commands (valid and invalid) drive one group chat. After every accepted
command, folding all events from scratch (also after an encode/decode round trip) reproduces the
state, the snapshot codec round-trips it, the state read back from its snapshot decides each
command exactly as the folded one, and the aggregate's invariants hold. Rejected commands raise
a `DomainError` with a known code and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from chat_domain import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    DomainError,
    EditMessage,
    ErrorCode,
    Event,
    EventId,
    GroupChat,
    GroupChatId,
    GroupChatMessageDeleted,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatName,
    MemberId,
    Message,
    MessageContent,
    MessageId,
    MessageRef,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    Role,
    Ulid,
    UlidGenerator,
    UserAccountId,
    decide,
    decode,
    decode_state,
    encode,
    encode_state,
    replay,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

USERS = [UserAccountId(Ulid.from_parts(1, i)) for i in range(4)]
NAMES = ["Team", "Other", "  Team ", "日本語のチャット"]
CONTENTS = ["hi", "  spaced  ", "🎉", "x" * 4000]
# Repetition weights the draw: chats should live long enough to see members and messages come
# and go before someone deletes them.
KINDS = [
    *["create", "delete"],
    *["rename", "remove"] * 2,
    *["add", "post", "edit", "delete_message"] * 4,
]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    kind: str
    executor_from_members: bool  # else any known user, member or not
    executor: int
    target: int
    role: Role
    name: int
    content: int
    message: int  # index into the messages posted so far; past the end: an unknown id


steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    executor_from_members=st.sampled_from([True, True, True, False]),
    executor=st.integers(0, len(USERS) - 1),
    target=st.integers(0, len(USERS) - 1),
    role=st.sampled_from(Role),
    name=st.integers(0, len(NAMES) - 1),
    content=st.integers(0, len(CONTENTS) - 1),
    message=st.integers(0, 6),
)


def to_command(
    step: Step,
    state: GroupChat | None,
    chat_id: GroupChatId,
    posted: list[MessageId],
    ids: UlidGenerator,
) -> Command:
    if step.executor_from_members and state is not None:
        executor = state.members[step.executor % len(state.members)].user_account_id
    else:
        executor = USERS[step.executor]
    target = USERS[step.target]
    message_id = posted[step.message] if step.message < len(posted) else MessageId.generate(ids)
    content = MessageContent(CONTENTS[step.content])
    match step.kind:
        case "create":
            name = GroupChatName.parse(NAMES[step.name])
            return CreateGroupChat(chat_id, name, executor, MemberId.generate(ids))
        case "rename":
            return RenameGroupChat(chat_id, GroupChatName.parse(NAMES[step.name]), executor)
        case "add":
            return AddMember(chat_id, target, step.role, executor, MemberId.generate(ids))
        case "remove":
            return RemoveMember(chat_id, target, executor)
        case "post":
            return PostMessage(chat_id, MessageId.generate(ids), content, executor)
        case "edit":
            return EditMessage(chat_id, message_id, content, executor)
        case "delete_message":
            return DeleteMessage(chat_id, message_id, executor)
        case _:
            return DeleteGroupChat(chat_id, executor)


def check_invariants(state: GroupChat, events: list[Event]) -> None:
    assert state.seq_nr == state.version == len(events)
    assert [e.seq_nr for e in events] == list(range(1, len(events) + 1))
    users = [m.user_account_id for m in state.members]
    assert users, "a group chat never has no members"
    assert len(set(users)) == len(users), "members are unique by user account"
    assert state.administrators, "a group chat always keeps an administrator"
    live = [m.id for m in state.messages]
    assert len(set(live)) == len(live)
    assert not set(live) & state.deleted_message_ids, "a message is live or deleted, not both"
    posted = [e for e in events if isinstance(e, GroupChatMessagePosted)]
    assert state.message_count == len(posted), "the limit counts every message ever posted"
    deleted = {e.message_id for e in events if isinstance(e, GroupChatMessageDeleted)}
    assert state.deleted_message_ids == deleted
    # The slim state is exactly the full messages (as the events carry them) minus what no
    # rule reads: the live ones, in posting order, as id, sender and creation time.
    full: dict[MessageId, Message] = {}
    for e in events:
        if isinstance(e, GroupChatMessagePosted | GroupChatMessageEdited):
            full[e.message.id] = e.message
    expected = [
        MessageRef(m.id, m.sender_id, m.created_at) for m in full.values() if m.id not in deleted
    ]
    assert list(state.messages) == expected
    created = [m.created_at for m in state.messages]
    assert created == sorted(created), "messages are kept in posting order"


@given(
    start_with_create=st.sampled_from([True, True, True, False]),
    plan=st.lists(steps, min_size=1, max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_folding_the_events_reproduces_the_state_when_commands_are_random(
    start_with_create: bool, plan: list[Step]
) -> None:
    ids = UlidGenerator(clock=lambda: 1_700_000_000_000)
    chat_id = GroupChatId.generate(ids)
    if start_with_create:
        plan = [Step("create", False, 0, 0, Role.MEMBER, 0, 0, 0), *plan]
    state: GroupChat | None = None
    events: list[Event] = []
    posted: list[MessageId] = []
    snapshots: list[GroupChat] = []

    for tick, step in enumerate(plan):
        command = to_command(step, state, chat_id, posted, ids)
        event_id = EventId.generate(ids)
        at = T0 + timedelta(milliseconds=tick * 1001)
        try:
            produced = decide(state, command, event_id=event_id, occurred_at=at)
        except DomainError as error:
            rejection: DomainError | None = error
        else:
            rejection = None
        # The state read back from its snapshot decides exactly as the folded one.
        restored = None if state is None else decode_state(encode_state(state))
        if rejection is None:
            assert decide(restored, command, event_id=event_id, occurred_at=at) == produced
        else:
            with pytest.raises(DomainError) as again:
                decide(restored, command, event_id=event_id, occurred_at=at)
            assert again.value.code == rejection.code
        if rejection is not None:
            assert rejection.code in set(ErrorCode)
            assert rejection.status in (404, 409, 422)
            event(f"rejected: {rejection.code}")
            continue

        assert len(produced) == 1
        event(f"accepted: {type(produced[0]).__name__}")
        events.extend(produced)
        state = replay(produced, initial=state)
        assert state is not None
        if isinstance(command, PostMessage):
            posted.append(command.message_id)

        assert replay(events) == state
        decoded = [decode(e.type_name, e.schema_version, e.payload) for e in map(encode, events)]
        assert decoded == events
        assert replay(decoded) == state
        assert decode_state(encode_state(state)) == state
        # Loading from any earlier snapshot plus the events after it gives the same state.
        for snapshot in snapshots[-3:]:
            assert replay(events[snapshot.seq_nr :], initial=snapshot) == state
        snapshots.append(state)
        check_invariants(state, events)
