"""The GroupChat rules (API.md's table): each allowed case, and each forbidden case's code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

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
    EventSequenceError,
    GroupChat,
    GroupChatCreated,
    GroupChatDeleted,
    GroupChatId,
    GroupChatMemberAdded,
    GroupChatMemberRemoved,
    GroupChatMessageDeleted,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatName,
    GroupChatRenamed,
    MemberId,
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
    evolve,
    replay,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE = UserAccountId(Ulid.from_parts(1, 1))  # creator, administrator
BOB = UserAccountId(Ulid.from_parts(1, 2))  # member
CAROL = UserAccountId(Ulid.from_parts(1, 3))  # not a member
DAVE = UserAccountId(Ulid.from_parts(1, 4))  # not a member


class Chat:
    """Drives one group chat through decide/evolve with deterministic ids and clock."""

    def __init__(self, clock_ms: int = 1_700_000_000_000) -> None:
        # Zero randomness: ids are fully determined by the clock and the order of calls.
        self.ids = UlidGenerator(clock=lambda: clock_ms, random_bytes=bytes)
        self.id = GroupChatId.generate(self.ids)
        self.state: GroupChat | None = None
        self.events: list[Event] = []
        self.tick = 0

    def decide(self, command: Command) -> tuple[Event, ...]:
        self.tick += 1
        return decide(
            self.state,
            command,
            event_id=EventId.generate(self.ids),
            occurred_at=T0 + timedelta(seconds=self.tick),
        )

    def run(self, command: Command) -> Event:
        events = self.decide(command)
        assert len(events) == 1
        for event in events:
            self.state = evolve(self.state, event)
        self.events.extend(events)
        return events[0]

    def reject(self, command: Command) -> DomainError:
        before = self.state
        with pytest.raises(DomainError) as caught:
            self.decide(command)
        assert self.state is before
        return caught.value

    @property
    def current(self) -> GroupChat:
        assert self.state is not None
        return self.state

    # Command builders with readable defaults.
    def create(self, name: str = "Team", by: UserAccountId = ALICE) -> CreateGroupChat:
        return CreateGroupChat(self.id, GroupChatName.parse(name), by, MemberId.generate(self.ids))

    def rename(self, name: str, by: UserAccountId = ALICE) -> RenameGroupChat:
        return RenameGroupChat(self.id, GroupChatName.parse(name), by)

    def add(
        self, user: UserAccountId, role: Role = Role.MEMBER, by: UserAccountId = ALICE
    ) -> AddMember:
        return AddMember(self.id, user, role, by, MemberId.generate(self.ids))

    def remove(self, user: UserAccountId, by: UserAccountId = ALICE) -> RemoveMember:
        return RemoveMember(self.id, user, by)

    def post(self, text: str = "hello", by: UserAccountId = ALICE) -> PostMessage:
        return PostMessage(self.id, MessageId.generate(self.ids), MessageContent(text), by)

    def edit(self, message_id: MessageId, text: str, by: UserAccountId = ALICE) -> EditMessage:
        return EditMessage(self.id, message_id, MessageContent(text), by)

    def delete_message(self, message_id: MessageId, by: UserAccountId = ALICE) -> DeleteMessage:
        return DeleteMessage(self.id, message_id, by)

    def delete(self, by: UserAccountId = ALICE) -> DeleteGroupChat:
        return DeleteGroupChat(self.id, by)


@pytest.fixture
def chat() -> Chat:
    """Alice's chat "Team" with Bob as a plain member."""
    c = Chat()
    c.run(c.create())
    c.run(c.add(BOB))
    return c


@pytest.fixture
def deleted_chat(chat: Chat) -> Chat:
    chat.run(chat.delete())
    return chat


def assert_code(error: DomainError, code: ErrorCode, status: int) -> None:
    assert error.code == code
    assert error.status == status
    assert error.message


# --- create -----------------------------------------------------------------------------------


def test_creator_is_the_first_member_and_an_administrator_when_chat_is_created() -> None:
    c = Chat()
    command = c.create("  Team  ")
    event = c.run(command)
    assert isinstance(event, GroupChatCreated)
    assert event.seq_nr == 1
    assert event.name.value == "Team"
    assert event.member.id == command.member_id
    assert event.member.user_account_id == ALICE
    assert event.member.role is Role.ADMINISTRATOR
    state = c.current
    assert state.id == c.id
    assert [m.user_account_id for m in state.members] == [ALICE]
    assert state.is_administrator(ALICE)
    assert (state.seq_nr, state.version, state.deleted) == (1, 1, False)


def test_create_fails_with_group_chat_already_exists_when_id_is_taken(chat: Chat) -> None:
    assert_code(chat.reject(chat.create()), ErrorCode.GROUP_CHAT_ALREADY_EXISTS, 409)


def test_create_fails_with_group_chat_already_exists_when_id_belongs_to_deleted_chat(
    deleted_chat: Chat,
) -> None:
    error = deleted_chat.reject(deleted_chat.create())
    assert_code(error, ErrorCode.GROUP_CHAT_ALREADY_EXISTS, 409)


# --- not found ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c.rename("New"),
        lambda c: c.add(BOB),
        lambda c: c.remove(BOB),
        lambda c: c.post(),
        lambda c: c.edit(MessageId.generate(c.ids), "x"),
        lambda c: c.delete_message(MessageId.generate(c.ids)),
        lambda c: c.delete(),
    ],
    ids=["rename", "add", "remove", "post", "edit", "delete-message", "delete"],
)
def test_command_fails_with_group_chat_not_found_when_chat_does_not_exist(build: object) -> None:
    c = Chat()
    command = build(c)  # type: ignore[operator]
    assert_code(c.reject(command), ErrorCode.GROUP_CHAT_NOT_FOUND, 404)


# --- deleted chat ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c.rename("New"),
        lambda c: c.add(CAROL),
        lambda c: c.remove(BOB),
        lambda c: c.post(),
        lambda c: c.edit(c.current.messages[0].id, "x"),
        lambda c: c.delete_message(c.current.messages[0].id),
    ],
    ids=["rename", "add", "remove", "post", "edit", "delete-message"],
)
def test_command_fails_with_group_chat_deleted_when_chat_is_deleted(
    chat: Chat, build: object
) -> None:
    chat.run(chat.post())
    chat.run(chat.delete())
    command = build(chat)  # type: ignore[operator]
    assert_code(chat.reject(command), ErrorCode.GROUP_CHAT_DELETED, 422)


# --- rename ---------------------------------------------------------------------------------


def test_chat_gets_new_name_when_administrator_renames_it(chat: Chat) -> None:
    event = chat.run(chat.rename(" Team 2 "))
    assert isinstance(event, GroupChatRenamed)
    assert event.name.value == "Team 2"
    assert chat.current.name.value == "Team 2"


@pytest.mark.parametrize("executor", [BOB, CAROL], ids=["member", "non-member"])
def test_rename_fails_with_not_an_administrator_when_executor_is_not_one(
    chat: Chat, executor: UserAccountId
) -> None:
    error = chat.reject(chat.rename("Other", by=executor))
    assert_code(error, ErrorCode.NOT_AN_ADMINISTRATOR, 422)


@pytest.mark.parametrize("name", ["Team", "  Team\t"])
def test_rename_fails_with_name_unchanged_when_name_is_the_same(chat: Chat, name: str) -> None:
    assert_code(chat.reject(chat.rename(name)), ErrorCode.NAME_UNCHANGED, 422)


# --- add member -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMINISTRATOR])
def test_user_becomes_a_member_with_the_role_when_administrator_adds_them(
    chat: Chat, role: Role
) -> None:
    command = chat.add(CAROL, role)
    event = chat.run(command)
    assert isinstance(event, GroupChatMemberAdded)
    assert event.member.id == command.member_id
    assert event.member.user_account_id == CAROL
    assert event.member.role is role
    assert event.member.created_at == event.occurred_at
    assert [m.user_account_id for m in chat.current.members] == [ALICE, BOB, CAROL]
    assert chat.current.is_administrator(CAROL) is (role is Role.ADMINISTRATOR)


def test_added_administrator_may_administer_when_added(chat: Chat) -> None:
    chat.run(chat.add(CAROL, Role.ADMINISTRATOR))
    chat.run(chat.add(DAVE, by=CAROL))
    assert chat.current.is_member(DAVE)


def test_removed_user_can_be_added_again_when_administrator_re_adds_them(chat: Chat) -> None:
    chat.run(chat.remove(BOB))
    chat.run(chat.add(BOB, Role.ADMINISTRATOR))
    member = chat.current.find_member(BOB)
    assert member is not None
    assert member.role is Role.ADMINISTRATOR


@pytest.mark.parametrize("user", [ALICE, BOB], ids=["administrator", "member"])
def test_add_fails_with_already_a_member_when_user_is_a_member(
    chat: Chat, user: UserAccountId
) -> None:
    assert_code(chat.reject(chat.add(user)), ErrorCode.ALREADY_A_MEMBER, 422)


@pytest.mark.parametrize("executor", [BOB, CAROL], ids=["member", "non-member"])
def test_add_fails_with_not_an_administrator_when_executor_is_not_one(
    chat: Chat, executor: UserAccountId
) -> None:
    error = chat.reject(chat.add(DAVE, by=executor))
    assert_code(error, ErrorCode.NOT_AN_ADMINISTRATOR, 422)


def test_add_fails_with_not_an_administrator_before_revealing_membership_when_executor_is_not_one(
    chat: Chat,
) -> None:
    error = chat.reject(chat.add(ALICE, by=BOB))
    assert_code(error, ErrorCode.NOT_AN_ADMINISTRATOR, 422)


# --- remove member --------------------------------------------------------------------------


def test_member_is_removed_when_administrator_removes_them(chat: Chat) -> None:
    bob = chat.current.find_member(BOB)
    assert bob is not None
    event = chat.run(chat.remove(BOB))
    assert isinstance(event, GroupChatMemberRemoved)
    assert (event.member_id, event.user_account_id) == (bob.id, BOB)
    assert not chat.current.is_member(BOB)
    assert [m.user_account_id for m in chat.current.members] == [ALICE]


def test_administrator_can_leave_when_another_administrator_remains(chat: Chat) -> None:
    chat.run(chat.add(CAROL, Role.ADMINISTRATOR))
    chat.run(chat.remove(ALICE, by=ALICE))
    assert [m.user_account_id for m in chat.current.members] == [BOB, CAROL]
    assert_code(chat.reject(chat.rename("X", by=ALICE)), ErrorCode.NOT_AN_ADMINISTRATOR, 422)


def test_administrator_can_remove_another_administrator_when_not_the_last(chat: Chat) -> None:
    chat.run(chat.add(CAROL, Role.ADMINISTRATOR))
    chat.run(chat.remove(CAROL))
    assert chat.current.administrators[0].user_account_id == ALICE


@pytest.mark.parametrize("user", [CAROL, DAVE])
def test_remove_fails_with_not_a_member_when_user_is_not_a_member(
    chat: Chat, user: UserAccountId
) -> None:
    assert_code(chat.reject(chat.remove(user)), ErrorCode.NOT_A_MEMBER, 422)


def test_remove_fails_with_not_a_member_when_user_was_already_removed(chat: Chat) -> None:
    chat.run(chat.remove(BOB))
    assert_code(chat.reject(chat.remove(BOB)), ErrorCode.NOT_A_MEMBER, 422)


@pytest.mark.parametrize("executor", [BOB, CAROL], ids=["member", "non-member"])
def test_remove_fails_with_not_an_administrator_when_executor_is_not_one(
    chat: Chat, executor: UserAccountId
) -> None:
    error = chat.reject(chat.remove(BOB, by=executor))
    assert_code(error, ErrorCode.NOT_AN_ADMINISTRATOR, 422)


def test_remove_fails_with_last_administrator_when_removing_the_only_administrator(
    chat: Chat,
) -> None:
    assert_code(chat.reject(chat.remove(ALICE)), ErrorCode.LAST_ADMINISTRATOR, 422)


# --- post message ---------------------------------------------------------------------------


@pytest.mark.parametrize("sender", [ALICE, BOB], ids=["administrator", "member"])
def test_message_is_posted_when_a_member_posts(chat: Chat, sender: UserAccountId) -> None:
    command = chat.post("hi there", by=sender)
    event = chat.run(command)
    assert isinstance(event, GroupChatMessagePosted)
    message = event.message
    assert (message.id, message.sender_id, message.content.value) == (
        command.message_id,
        sender,
        "hi there",
    )
    assert not message.deleted
    assert message.created_at == message.updated_at == event.occurred_at
    # The state keeps only what the rules read: no content, no updated_at.
    assert chat.current.find_message(command.message_id) == MessageRef(
        message.id, sender, message.created_at
    )
    assert chat.current.message_count == 1


def test_messages_keep_posting_order_when_several_are_posted(chat: Chat) -> None:
    posted = [chat.run(chat.post(text, by=BOB)) for text in ["one", "two", "three"]]
    ids = [e.message.id for e in posted if isinstance(e, GroupChatMessagePosted)]
    assert [m.id for m in chat.current.messages] == ids


def test_post_raises_value_error_when_the_id_of_a_deleted_message_is_reused(chat: Chat) -> None:
    posted = chat.run(chat.post(by=BOB))
    assert isinstance(posted, GroupChatMessagePosted)
    chat.run(chat.delete_message(posted.message.id, by=BOB))
    reused = PostMessage(chat.id, posted.message.id, MessageContent("again"), BOB)
    with pytest.raises(ValueError, match="already in use"):
        chat.decide(reused)


def test_post_fails_with_not_a_member_when_executor_is_not_a_member(chat: Chat) -> None:
    assert_code(chat.reject(chat.post(by=CAROL)), ErrorCode.NOT_A_MEMBER, 422)


def test_post_fails_with_not_a_member_when_executor_was_removed(chat: Chat) -> None:
    chat.run(chat.remove(BOB))
    assert_code(chat.reject(chat.post(by=BOB)), ErrorCode.NOT_A_MEMBER, 422)


# --- edit message ---------------------------------------------------------------------------


def test_message_gets_new_content_when_sender_edits_it(chat: Chat) -> None:
    posted = chat.run(chat.post("first", by=BOB))
    assert isinstance(posted, GroupChatMessagePosted)
    event = chat.run(chat.edit(posted.message.id, "second", by=BOB))
    assert isinstance(event, GroupChatMessageEdited)
    assert event.message.id == posted.message.id
    assert event.message.content.value == "second"
    assert event.message.sender_id == BOB
    assert event.message.created_at == posted.message.created_at
    assert event.message.updated_at == event.occurred_at > posted.occurred_at
    assert chat.current.messages == (MessageRef(posted.message.id, BOB, posted.occurred_at),)


def test_edit_event_keeps_the_original_creation_time_when_edited_twice(chat: Chat) -> None:
    posted = chat.run(chat.post("first", by=BOB))
    assert isinstance(posted, GroupChatMessagePosted)
    chat.run(chat.edit(posted.message.id, "second", by=BOB))
    again = chat.run(chat.edit(posted.message.id, "third", by=BOB))
    assert isinstance(again, GroupChatMessageEdited)
    assert again.message.created_at == posted.message.created_at
    assert not again.message.deleted


def test_edit_fails_with_message_not_found_when_message_is_unknown(chat: Chat) -> None:
    error = chat.reject(chat.edit(MessageId.generate(chat.ids), "x"))
    assert_code(error, ErrorCode.MESSAGE_NOT_FOUND, 422)


def test_edit_fails_with_message_not_found_when_message_is_deleted(chat: Chat) -> None:
    posted = chat.run(chat.post())
    assert isinstance(posted, GroupChatMessagePosted)
    chat.run(chat.delete_message(posted.message.id))
    error = chat.reject(chat.edit(posted.message.id, "x"))
    assert_code(error, ErrorCode.MESSAGE_NOT_FOUND, 422)


@pytest.mark.parametrize("executor", [ALICE, CAROL], ids=["administrator", "non-member"])
def test_edit_fails_with_not_the_sender_when_executor_did_not_post_it(
    chat: Chat, executor: UserAccountId
) -> None:
    posted = chat.run(chat.post(by=BOB))
    assert isinstance(posted, GroupChatMessagePosted)
    error = chat.reject(chat.edit(posted.message.id, "x", by=executor))
    assert_code(error, ErrorCode.NOT_THE_SENDER, 422)


# --- delete message -------------------------------------------------------------------------


@pytest.mark.parametrize("executor", [BOB, ALICE], ids=["sender", "administrator"])
def test_message_is_deleted_when_sender_or_administrator_deletes_it(
    chat: Chat, executor: UserAccountId
) -> None:
    posted = chat.run(chat.post(by=BOB))
    assert isinstance(posted, GroupChatMessagePosted)
    event = chat.run(chat.delete_message(posted.message.id, by=executor))
    assert isinstance(event, GroupChatMessageDeleted)
    assert event.message_id == posted.message.id
    assert chat.current.find_message(posted.message.id) is None
    assert chat.current.messages == ()
    assert chat.current.deleted_message_ids == {posted.message.id}
    assert chat.current.is_message_id_used(posted.message.id)
    assert chat.current.message_count == 1


def test_delete_message_fails_with_message_not_found_when_message_is_unknown(chat: Chat) -> None:
    error = chat.reject(chat.delete_message(MessageId.generate(chat.ids)))
    assert_code(error, ErrorCode.MESSAGE_NOT_FOUND, 422)


def test_delete_message_fails_with_message_not_found_when_already_deleted(chat: Chat) -> None:
    posted = chat.run(chat.post())
    assert isinstance(posted, GroupChatMessagePosted)
    chat.run(chat.delete_message(posted.message.id))
    error = chat.reject(chat.delete_message(posted.message.id))
    assert_code(error, ErrorCode.MESSAGE_NOT_FOUND, 422)


@pytest.mark.parametrize("executor", [BOB, CAROL], ids=["other-member", "non-member"])
def test_delete_message_fails_with_not_sender_or_administrator_when_executor_is_neither(
    chat: Chat, executor: UserAccountId
) -> None:
    chat.run(chat.add(DAVE))
    posted = chat.run(chat.post(by=DAVE))
    assert isinstance(posted, GroupChatMessagePosted)
    error = chat.reject(chat.delete_message(posted.message.id, by=executor))
    assert_code(error, ErrorCode.NOT_SENDER_OR_ADMINISTRATOR, 422)


# --- delete chat ----------------------------------------------------------------------------


def test_chat_is_deleted_when_administrator_deletes_it(chat: Chat) -> None:
    event = chat.run(chat.delete())
    assert isinstance(event, GroupChatDeleted)
    assert chat.current.deleted


def test_delete_fails_with_group_chat_already_deleted_when_chat_is_deleted(
    deleted_chat: Chat,
) -> None:
    error = deleted_chat.reject(deleted_chat.delete())
    assert_code(error, ErrorCode.GROUP_CHAT_ALREADY_DELETED, 422)


@pytest.mark.parametrize("executor", [BOB, CAROL], ids=["member", "non-member"])
def test_delete_fails_with_not_an_administrator_when_executor_is_not_one(
    chat: Chat, executor: UserAccountId
) -> None:
    error = chat.reject(chat.delete(by=executor))
    assert_code(error, ErrorCode.NOT_AN_ADMINISTRATOR, 422)


# --- envelope, determinism, evolve ----------------------------------------------------------


def test_events_carry_the_envelope_when_commands_succeed(chat: Chat) -> None:
    chat.run(chat.post())
    assert [e.seq_nr for e in chat.events] == [1, 2, 3]
    assert all(e.aggregate_id == chat.id for e in chat.events)
    assert [e.executor_id for e in chat.events] == [ALICE, ALICE, ALICE]
    assert len({e.event_id for e in chat.events}) == 3
    assert (chat.current.seq_nr, chat.current.version) == (3, 3)
    assert chat.current.updated_at == chat.events[-1].occurred_at


def test_occurred_at_is_utc_truncated_to_milliseconds_when_given_another_zone(chat: Chat) -> None:
    moment = datetime(2026, 3, 1, 21, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    (event,) = decide(chat.state, chat.post(), event_id=EventId.generate(), occurred_at=moment)
    assert event.occurred_at == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_decide_refuses_naive_datetime_when_given_one(chat: Chat) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(chat.state, chat.post(), event_id=EventId.generate(), occurred_at=datetime.now())


def test_decide_is_deterministic_when_called_twice_with_the_same_inputs(chat: Chat) -> None:
    command = chat.post()
    event_id = EventId.generate()
    first = decide(chat.state, command, event_id=event_id, occurred_at=T0)
    assert decide(chat.state, command, event_id=event_id, occurred_at=T0) == first


def test_decide_raises_value_error_when_state_belongs_to_another_chat(chat: Chat) -> None:
    other = RenameGroupChat(GroupChatId.generate(), GroupChatName("X"), ALICE)
    with pytest.raises(ValueError, match="state of"):
        decide(chat.state, other, event_id=EventId.generate(), occurred_at=T0)


def test_replay_rebuilds_the_state_when_folding_all_events(chat: Chat) -> None:
    chat.run(chat.post())
    assert replay(chat.events) == chat.state
    assert replay(chat.events[1:], initial=replay(chat.events[:1])) == chat.state
    assert replay([]) is None


def test_evolve_raises_event_sequence_error_when_the_stream_is_broken(chat: Chat) -> None:
    created, added = chat.events
    with pytest.raises(EventSequenceError):
        evolve(None, added)
    with pytest.raises(EventSequenceError):
        evolve(chat.state, created)
    with pytest.raises(EventSequenceError):
        evolve(chat.state, added)  # seq_nr 2 again
    foreign = Chat(clock_ms=1_800_000_000_000)
    foreign.run(foreign.create())
    with pytest.raises(EventSequenceError):
        evolve(foreign.state, added)


def test_every_error_code_has_one_error_class_when_listing_domain_errors() -> None:
    import chat_domain

    classes = [
        obj
        for obj in (getattr(chat_domain, name) for name in chat_domain.__all__)
        if isinstance(obj, type) and issubclass(obj, DomainError) and "code" in vars(obj)
    ]
    assert sorted(cls.code for cls in classes) == sorted(ErrorCode)
    assert all(cls.status in (400, 404, 409, 422) for cls in classes)
