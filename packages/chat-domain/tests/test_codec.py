"""Event and snapshot codec: round trips, the stored shape, upcasting, and decode failures."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chat_domain import (
    EVENT_TYPES,
    SCHEMA_VERSIONS,
    STATE_SCHEMA_VERSION,
    AddMember,
    Command,
    CreateGroupChat,
    DecodeError,
    DeleteGroupChat,
    DeleteMessage,
    DomainError,
    EditMessage,
    Event,
    EventId,
    GroupChat,
    GroupChatId,
    GroupChatMessageEdited,
    GroupChatMessagePosted,
    GroupChatName,
    Limits,
    MemberId,
    MessageContent,
    MessageId,
    MessageRef,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    Role,
    TooManyMessagesError,
    Ulid,
    UlidGenerator,
    UpcasterRegistry,
    UserAccountId,
    codec,
    decide,
    decode,
    decode_state,
    encode,
    encode_state,
    evolve,
)
from chat_domain.codec import JsonObject

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
ALICE = UserAccountId(Ulid.from_parts(1, 1))
BOB = UserAccountId(Ulid.from_parts(1, 2))


def history() -> tuple[list[Event], GroupChat]:
    """One event of every type, and the state after them."""
    ids = UlidGenerator(clock=lambda: 1_700_000_000_000, random_bytes=bytes)
    chat_id = GroupChatId.generate(ids)
    message_id = MessageId.generate(ids)
    second_id = MessageId.generate(ids)
    commands: list[Command] = [
        CreateGroupChat(chat_id, GroupChatName("Team 日本"), ALICE, MemberId.generate(ids)),
        AddMember(chat_id, BOB, Role.MEMBER, ALICE, MemberId.generate(ids)),
        RenameGroupChat(chat_id, GroupChatName("Renamed"), ALICE),
        PostMessage(chat_id, message_id, MessageContent('he said "hi" 🎉\n'), BOB),
        PostMessage(chat_id, second_id, MessageContent("second"), ALICE),
        EditMessage(chat_id, message_id, MessageContent("edited"), BOB),
        DeleteMessage(chat_id, second_id, ALICE),
        RemoveMember(chat_id, BOB, ALICE),
        DeleteGroupChat(chat_id, ALICE),
    ]
    state: GroupChat | None = None
    events: list[Event] = []
    for i, command in enumerate(commands):
        (event,) = decide(
            state, command, event_id=EventId.generate(ids), occurred_at=T0 + timedelta(seconds=i)
        )
        state = evolve(state, event)
        events.append(event)
    assert state is not None
    return events, state


EVENTS, FINAL_STATE = history()


def test_history_covers_every_event_type_when_built() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES)
    assert set(SCHEMA_VERSIONS) == {cls.__name__ for cls in EVENT_TYPES}


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_event_round_trips_when_encoded_and_decoded(event: Event) -> None:
    encoded = encode(event)
    assert encoded.type_name == type(event).__name__
    assert encoded.schema_version == SCHEMA_VERSIONS[encoded.type_name]
    assert decode(encoded.type_name, encoded.schema_version, encoded.payload) == event
    assert decode(encoded.type_name, None, encoded.payload) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_encoded_event_carries_the_envelope_for_the_store_when_encoded(event: Event) -> None:
    encoded = encode(event)
    assert encoded.event_id == str(event.event_id)
    assert encoded.aggregate_id == str(event.aggregate_id)
    assert encoded.aggregate_id.startswith("GroupChat-")
    assert encoded.seq_nr == event.seq_nr
    assert encoded.occurred_at_ms == int(event.occurred_at.timestamp() * 1000)
    data = json.loads(encoded.payload)
    assert data["occurredAt"] == encoded.occurred_at_ms
    assert data["schemaVersion"] == encoded.schema_version


def test_payload_is_compact_utf8_json_with_epoch_millisecond_times_when_encoded() -> None:
    posted = next(e for e in EVENTS if isinstance(e, GroupChatMessagePosted))
    payload = encode(posted).payload
    assert b": " not in payload
    assert b", " not in payload
    assert "🎉".encode() in payload  # not \\u-escaped
    message = json.loads(payload)["message"]
    assert message["content"] == 'he said "hi" 🎉\n'
    assert message["senderId"] == str(BOB)
    assert isinstance(message["createdAt"], int)


def test_state_round_trips_when_encoded_and_decoded() -> None:
    data = encode_state(FINAL_STATE)
    assert data[:2] == bytes((0, STATE_SCHEMA_VERSION))
    assert decode_state(data) == FINAL_STATE


def test_state_round_trips_at_every_step_when_encoded_and_decoded() -> None:
    state: GroupChat | None = None
    for event in EVENTS:
        state = evolve(state, event)
        assert decode_state(encode_state(state)) == state


# A snapshot as version 1 of `encode_state` wrote it (whole messages, deleted ones flagged),
# written out by hand so that the test does not depend on today's encoder: Alice's chat with
# Bob; Bob posted two messages, edited the first and deleted the second; Alice posted a third.
V1_SNAPSHOT = (
    b'{"schemaVersion":1,"id":"GroupChat-01HQ2X7Z9V8K3M4N5P6R7S8T9A","name":"Team",'
    b'"members":[{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9D",'
    b'"userAccountId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","role":"administrator",'
    b'"createdAt":1708000000000,"updatedAt":1708000000000},'
    b'{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9E",'
    b'"userAccountId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F","role":"member",'
    b'"createdAt":1708000001000,"updatedAt":1708000001000}],'
    b'"messages":[{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9G",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F","content":"first, edited",'
    b'"deleted":false,"createdAt":1708000002000,"updatedAt":1708000004000},'
    b'{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9H",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F","content":"second",'
    b'"deleted":true,"createdAt":1708000003000,"updatedAt":1708000005000},'
    b'{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9J",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","content":"third \xf0\x9f\x8e\x89",'
    b'"deleted":false,"createdAt":1708000006000,"updatedAt":1708000006000}],'
    b'"deleted":false,"seqNr":7,"version":7,'
    b'"createdAt":1708000000000,"updatedAt":1708000006000}'
)


# The same chat as version 2 of `encode_state` wrote it (live messages as references, deleted
# ones as ids), as that encoder wrote it for `V1_SNAPSHOT`.
V2_SNAPSHOT = (
    b'{"schemaVersion":2,"id":"GroupChat-01HQ2X7Z9V8K3M4N5P6R7S8T9A","name":"Team",'
    b'"members":[{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9D",'
    b'"userAccountId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","role":"administrator",'
    b'"createdAt":1708000000000,"updatedAt":1708000000000},'
    b'{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9E",'
    b'"userAccountId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F","role":"member",'
    b'"createdAt":1708000001000,"updatedAt":1708000001000}],'
    b'"messages":[{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9G",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F","createdAt":1708000002000},'
    b'{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9J",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","createdAt":1708000006000}],'
    b'"deletedMessageIds":["01HQ2X7Z9V8K3M4N5P6R7S8T9H"],"deleted":false,"seqNr":7,"version":7,'
    b'"createdAt":1708000000000,"updatedAt":1708000006000}'
)


def _state_with_deleted_ids(change: Callable[[list[str], str], list[str]]) -> bytes:
    lifted = json.loads(V2_SNAPSHOT)
    lifted["deletedMessageIds"] = change(lifted["deletedMessageIds"], lifted["messages"][0]["id"])
    return json.dumps(lifted).encode()


def test_v1_snapshot_decodes_into_the_slim_state_when_loaded() -> None:
    state = decode_state(V1_SNAPSHOT)

    bob = UserAccountId.parse("UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9F")
    alice = UserAccountId.parse("UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B")
    at = datetime(2024, 2, 15, 12, 26, 40, tzinfo=UTC)
    assert state.messages == (
        MessageRef(MessageId.parse("01HQ2X7Z9V8K3M4N5P6R7S8T9G"), bob, at + timedelta(seconds=2)),
        MessageRef(MessageId.parse("01HQ2X7Z9V8K3M4N5P6R7S8T9J"), alice, at + timedelta(seconds=6)),
    )
    assert state.deleted_message_ids == {MessageId.parse("01HQ2X7Z9V8K3M4N5P6R7S8T9H")}
    assert state.message_count == 3
    assert [m.user_account_id for m in state.members] == [alice, bob]
    assert (state.seq_nr, state.version, state.deleted) == (7, 7, False)
    assert state.updated_at == at + timedelta(seconds=6)
    # Written again, it is a current snapshot that decodes to the same state.
    again = encode_state(state)
    assert again[:2] == bytes((0, STATE_SCHEMA_VERSION)) == b"\x00\x03"
    assert b"content" not in again
    assert decode_state(again) == state


def test_v2_snapshot_decodes_into_the_state_of_the_v1_snapshot_when_loaded() -> None:
    state = decode_state(V2_SNAPSHOT)

    assert state == decode_state(V1_SNAPSHOT)
    assert [str(m.id) for m in state.messages] == [
        "01HQ2X7Z9V8K3M4N5P6R7S8T9G",
        "01HQ2X7Z9V8K3M4N5P6R7S8T9J",
    ]
    assert state.deleted_message_ids == {MessageId.parse("01HQ2X7Z9V8K3M4N5P6R7S8T9H")}
    assert state.message_count == 3
    assert decode_state(encode_state(state)) == state


def test_v1_snapshot_gives_the_same_decisions_as_the_events_when_commands_follow() -> None:
    state = decode_state(V1_SNAPSHOT)
    first, third = (m.id for m in state.messages)
    deleted = next(iter(state.deleted_message_ids))
    bob, alice = state.members[1].user_account_id, state.members[0].user_account_id
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ids = UlidGenerator(clock=lambda: 1_800_000_000_000)

    def rejected(command: Command) -> str:
        with pytest.raises(DomainError) as caught:
            decide(state, command, event_id=EventId.generate(ids), occurred_at=at)
        return caught.value.code

    assert rejected(EditMessage(state.id, deleted, MessageContent("x"), bob)) == (
        "message_not_found"
    )
    assert rejected(DeleteMessage(state.id, deleted, alice)) == "message_not_found"
    assert rejected(EditMessage(state.id, third, MessageContent("x"), bob)) == "not_the_sender"
    (edited,) = decide(
        state,
        EditMessage(state.id, first, MessageContent("again"), bob),
        event_id=EventId.generate(ids),
        occurred_at=at,
    )
    assert isinstance(edited, GroupChatMessageEdited)
    assert edited.seq_nr == 8
    assert edited.message.created_at == datetime(2024, 2, 15, 12, 26, 42, tzinfo=UTC)
    assert edited.message.content.value == "again"
    full = Limits(max_messages=3)
    with pytest.raises(TooManyMessagesError):
        decide(
            state,
            PostMessage(state.id, MessageId.generate(ids), MessageContent("x"), bob),
            event_id=EventId.generate(ids),
            occurred_at=at,
            limits=full,
        )


# --- upcasting ------------------------------------------------------------------------------

V1_MESSAGE_POSTED = (
    b'{"schemaVersion":1,"eventId":"01HQ2X7Z9V8K3M4N5P6R7S8T9V",'
    b'"aggregateId":"GroupChat-01HQ2X7Z9V8K3M4N5P6R7S8T9A","seqNr":4,'
    b'"executorId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","occurredAt":1708000000123,'
    b'"message":{"id":"01HQ2X7Z9V8K3M4N5P6R7S8T9C",'
    b'"senderId":"UserAccount-01HQ2X7Z9V8K3M4N5P6R7S8T9B","text":"old but gold",'
    b'"deleted":false,"createdAt":1708000000123,"updatedAt":1708000000123}}'
)


def test_v1_message_posted_decodes_into_the_current_event_when_upcast() -> None:
    event = decode("GroupChatMessagePosted", 1, V1_MESSAGE_POSTED)
    assert isinstance(event, GroupChatMessagePosted)
    assert event.message.content.value == "old but gold"
    assert event.seq_nr == 4
    assert event.occurred_at == datetime(2024, 2, 15, 12, 26, 40, 123000, tzinfo=UTC)
    # Re-encoding writes the current version, which decodes to the same event.
    encoded = encode(event)
    assert encoded.schema_version == 2
    assert b'"text"' not in encoded.payload
    assert decode(encoded.type_name, encoded.schema_version, encoded.payload) == event


def test_upcasters_are_chained_in_version_order_when_several_versions_behind() -> None:
    registry = UpcasterRegistry()
    seen: list[int] = []

    @registry.register("GroupChatMessagePosted", 0)
    def v0_to_v1(data: JsonObject) -> JsonObject:
        seen.append(0)
        message = data.pop("msg")
        return {**data, "message": {**message, "text": message.pop("body")}}

    @registry.register("GroupChatMessagePosted", 1)
    def v1_to_v2(data: JsonObject) -> JsonObject:
        seen.append(1)
        message = dict(data["message"])
        message["content"] = message.pop("text")
        return {**data, "message": message}

    v1: dict[str, Any] = json.loads(V1_MESSAGE_POSTED)
    message = v1.pop("message")
    message["body"] = message.pop("text")
    v0 = {**v1, "schemaVersion": 0, "msg": message}
    lifted = registry.upcast("GroupChatMessagePosted", 0, 2, v0)
    assert seen == [0, 1]
    assert lifted["message"]["content"] == "old but gold"


def test_decode_uses_the_given_registry_when_one_is_passed() -> None:
    registry = UpcasterRegistry()
    registry.add(
        "GroupChatMessagePosted",
        1,
        lambda d: {**d, "message": {**d["message"], "content": "replaced"}},
    )
    event = decode("GroupChatMessagePosted", 1, V1_MESSAGE_POSTED, upcasters=registry)
    assert isinstance(event, GroupChatMessagePosted)
    assert event.message.content.value == "replaced"


def test_decode_raises_decode_error_when_an_upcaster_is_missing() -> None:
    with pytest.raises(DecodeError, match="no upcaster"):
        decode("GroupChatMessagePosted", 1, V1_MESSAGE_POSTED, upcasters=UpcasterRegistry())


def test_decode_raises_decode_error_when_an_upcaster_fails() -> None:
    broken = V1_MESSAGE_POSTED.replace(b'"text"', b'"body"')
    with pytest.raises(DecodeError, match="upcasting"):
        decode("GroupChatMessagePosted", 1, broken)


def test_register_refuses_a_second_upcaster_when_the_slot_is_taken() -> None:
    registry = UpcasterRegistry()
    registry.add("GroupChatRenamed", 1, lambda d: d)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("GroupChatRenamed", 1, lambda d: d)


# --- decode failures ------------------------------------------------------------------------


_DELETE = object()


def _created_payload(**changes: object) -> bytes:
    created = encode(EVENTS[0])
    data = json.loads(created.payload)
    for key, value in changes.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("type_name", "version", "payload"),
    [
        pytest.param("GroupChatExploded", 1, encode(EVENTS[0]).payload, id="unknown-type"),
        pytest.param("GroupChatCreated", 1, b"{not json", id="malformed-json"),
        pytest.param("GroupChatCreated", 1, b"\xff\xfe", id="not-utf8"),
        pytest.param("GroupChatCreated", 1, b"[1, 2]", id="not-an-object"),
        pytest.param("GroupChatCreated", 2, encode(EVENTS[0]).payload, id="version-mismatch"),
        pytest.param("GroupChatCreated", None, _created_payload(schemaVersion=9), id="future"),
        pytest.param("GroupChatCreated", None, _created_payload(schemaVersion=0), id="version-0"),
        pytest.param("GroupChatCreated", 1, _created_payload(name=_DELETE), id="missing-name"),
        pytest.param("GroupChatCreated", 1, _created_payload(name=""), id="blank-name"),
        pytest.param("GroupChatCreated", 1, _created_payload(name=5), id="name-not-string"),
        pytest.param("GroupChatCreated", 1, _created_payload(seqNr="1"), id="seq-nr-string"),
        pytest.param("GroupChatCreated", 1, _created_payload(seqNr=0), id="seq-nr-zero"),
        pytest.param("GroupChatCreated", 1, _created_payload(seqNr=True), id="seq-nr-bool"),
        pytest.param("GroupChatCreated", 1, _created_payload(occurredAt=-1), id="time-negative"),
        pytest.param("GroupChatCreated", 1, _created_payload(occurredAt=10**20), id="time-huge"),
        pytest.param("GroupChatCreated", 1, _created_payload(eventId="x"), id="bad-event-id"),
        pytest.param("GroupChatCreated", 1, _created_payload(member=[]), id="member-not-object"),
        pytest.param(
            "GroupChatCreated",
            1,
            _created_payload(member={"id": "01HQ2X7Z9V8K3M4N5P6R7S8T9C"}),
            id="member-incomplete",
        ),
    ],
)
def test_decode_raises_decode_error_when_payload_is_unusable(
    type_name: str, version: int | None, payload: bytes
) -> None:
    with pytest.raises(DecodeError):
        decode(type_name, version, payload)


def _v3(change: Callable[[bytes], bytes], crc: bool = True) -> bytes:
    """`FINAL_STATE`'s snapshot with its body (after the CRC) changed, CRC fixed unless told."""
    data = encode_state(FINAL_STATE)
    body = change(data[6:])
    checksum = zlib.crc32(body).to_bytes(4, "big") if crc else data[2:6]
    return data[:2] + checksum + body


def _v3_header(**fields: Any) -> bytes:
    data = encode_state(FINAL_STATE)
    end = 10 + int.from_bytes(data[6:10], "big")
    header = json.dumps({**json.loads(data[10:end]), **fields}).encode()
    return _v3(lambda body: len(header).to_bytes(4, "big") + header + data[end:])


def _v3_member_role(code: int) -> bytes:
    data = encode_state(FINAL_STATE)
    role_at = 10 + int.from_bytes(data[6:10], "big") + 32
    return _v3(lambda body: body[: role_at - 6] + bytes((code,)) + body[role_at - 5 :])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{}",
        b"null",
        V2_SNAPSHOT.replace(b'"schemaVersion":2', b'"schemaVersion":99'),
        V2_SNAPSHOT.replace(b'"schemaVersion":2', b'"schemaVersion":3'),
        V2_SNAPSHOT.replace(b'"schemaVersion":2', b'"schemaVersion":0'),
        V2_SNAPSHOT.replace(b'"deleted":false', b'"deleted":"no"'),
        json.dumps({**json.loads(V2_SNAPSHOT), "members": []}).encode(),
        json.dumps({**json.loads(V2_SNAPSHOT), "deletedMessageIds": [1]}).encode(),
        json.dumps({**json.loads(V2_SNAPSHOT), "deletedMessageIds": "x"}).encode(),
        _state_with_deleted_ids(lambda ids, live: [*ids, *ids]),
        _state_with_deleted_ids(lambda ids, live: [*ids, live]),
        V1_SNAPSHOT.replace(b'"deleted":false,"createdAt"', b'"createdAt"'),
        V1_SNAPSHOT.replace(b'"messages":[', b'"messages":[7,'),
        V1_SNAPSHOT.replace(b'"senderId":"UserAccount-', b'"senderId":"Nobody-'),
        b"\x00",
        encode_state(FINAL_STATE)[:9],
        b"\x00\x04" + encode_state(FINAL_STATE)[2:],
        b"\x00\x02" + encode_state(FINAL_STATE)[2:],
        _v3(lambda body: body[:-1] + bytes((body[-1] ^ 1,)), crc=False),
        _v3(lambda body: body[:-1]),
        _v3(lambda body: body + bytes(25)),
        _v3(lambda body: body[:4] + b"[" + body[5:]),
        _v3_header(members=0),
        _v3_header(messages=-1),
        _v3_header(seqNr=0),
        _v3_header(id="GroupChat-x"),
        _v3_member_role(7),
    ],
    ids=[
        "empty",
        "empty-object",
        "null",
        "future-version",
        "v3-as-json",
        "version-0",
        "bad-flag",
        "no-members",
        "deleted-id-not-string",
        "deleted-ids-not-array",
        "deleted-id-twice",
        "deleted-id-also-live",
        "v1-message-without-flag",
        "v1-message-not-object",
        "v1-bad-sender",
        "v3-marker-only",
        "v3-truncated-prefix",
        "v3-future-version",
        "v3-marker-with-version-2",
        "v3-bit-flipped",
        "v3-truncated",
        "v3-trailing-bytes",
        "v3-header-not-json",
        "v3-no-members",
        "v3-negative-count",
        "v3-seq-nr-0",
        "v3-bad-id",
        "v3-bad-role",
    ],
)
def test_decode_state_raises_decode_error_when_snapshot_is_unusable(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_state(data)


def test_decode_state_names_the_damage_when_snapshot_bytes_are_corrupt() -> None:
    flipped = _v3(lambda body: body[:-1] + bytes((body[-1] ^ 1,)), crc=False)
    with pytest.raises(DecodeError, match="checksum"):
        decode_state(flipped)
    with pytest.raises(DecodeError, match="format version 4 cannot be read"):
        decode_state(b"\x00\x04" + encode_state(FINAL_STATE)[2:])


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"a": 1, "b": -2, "big": 2**80, "f": 1.5, "t": True, "n": None, "s": "x"},
        {"text": 'quotes " and \\ backslash\n\ttab \u0001 control', "é": "ünïcødé 字 🎉"},
        {"nested": {"list": [1, "two", [3.25, {"four": False}]], "empty": [], "obj": {}}},
        {"surrogate escape": "\u2028\u2029", "max": 253_402_300_799_999},
    ],
)
def test_payload_json_is_what_json_dumps_writes(data: dict[str, object]) -> None:
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    assert codec._dumps(data) == expected
