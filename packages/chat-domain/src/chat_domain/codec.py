"""Event and snapshot codec: domain objects <-> compact UTF-8 JSON bytes.

Events
------
`encode(event)` gives an `EncodedEvent`: a stable `type_name` (the event class name), the
type's current `schema_version`, the JSON `payload`, and the envelope fields an event store
indexes (`event_id`, `aggregate_id`, `seq_nr`, `occurred_at_ms`). The payload is
self-contained: it holds the envelope too, plus `schemaVersion`, so a store that keeps only the
type name and the payload bytes loses nothing.

`decode(type_name, schema_version, payload)` reverses it. Pass the schema version the store kept,
or None to use the one inside the payload. Payloads of an older version are upcast first: the
`UpcasterRegistry` holds functions `(type_name, from_version) -> (dict -> dict)`, each lifting a
payload one version, applied in a chain until the current version. Anything undecodable (unknown
type, future version, malformed JSON, missing or ill-typed field, invalid value) raises
`DecodeError`.

Change a payload like this: bump the type's entry in `SCHEMA_VERSIONS`, change the encoder and
decoder to the new shape, and register an upcaster from the previous version (see
`_message_posted_v1_to_v2` below, the real example: `GroupChatMessagePosted` v1 called the
message text `text`; v2 calls it `content`). Stored events are never rewritten.

Note that decoding re-validates values (names, contents, ids): tightening a validation rule
therefore needs an upcaster for the events written under the looser rule.

Snapshots
---------
`encode_state(state)` / `decode_state(data)` serialize a `GroupChat` with its own
`STATE_SCHEMA_VERSION`. Snapshots of an older version are still read: v1 and v2 were JSON (v1
kept whole messages; v2 only what the rules read, see `_state_v1_to_v2`), so a format change
does not force every chat to be replayed from its first event. Snapshots are still a cache:
`decode_state` raises `DecodeError` for a version it cannot read (newer than the code, or with
no upcaster) or for damaged bytes, and the caller should then rebuild the state by replaying
the events.

Format v3 is binary, because a chat's size is its messages (up to 10,000, see `limits`) and
its members (up to 1,000): as JSON they took ~114 bytes a message and ~165 a member, more than
a DynamoDB item holds (400 KB) from ~3,500 messages on, and decoding them cost a Python loop
per message. v3 carries the state's `MessageIndex` bytes as they are (25 bytes a message, no
per-message work to read them back) and the members as fixed-width records; only the small
rest is JSON. All integers are big-endian:

| offset | size | field |
| --- | --- | --- |
| 0 | 1 | 0x00, a byte no JSON text starts with (v1 and v2 start with `{`) |
| 1 | 1 | format version: 3 |
| 2 | 4 | CRC-32 of everything after this field: damaged bytes are a `DecodeError` |
| 6 | 4 | header length H |
| 10 | H | header, UTF-8 JSON (see below) |
| 10+H | 45 M | members in order: id, user account id, role, createdAt, updatedAt |
| ... | 16 S | `MessageIndex.senders` |
| ... | 25 N | `MessageIndex.records` |

The header holds `id`, `name`, `deleted`, `seqNr`, `version`, `createdAt`, `updatedAt` as v2
did, and the counts `members` (M), `senders` (S) and `messages` (N). A member record is its id
and user account id (16 bytes each, the ULIDs), its role (1 byte: 0 administrator, 1 member)
and its times (6 bytes each, epoch milliseconds).

At the limits (10,000 messages from 2,000 senders, 1,000 members) that is ~327 KB; a chat of
10,000 messages from 10,000 different senders (each added, posting once, removed) would need
~455 KB, which a DynamoDB item cannot hold (the DynamoDB store refuses it with a typed error).

JSON keys are camelCase; timestamps are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import json
import json.encoder
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias, TypeVar, assert_never

from chat_domain._frozen import quick_init
from chat_domain.errors import ValidationError
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
from chat_domain.ids import EventId, GroupChatId, MemberId, MessageId, UserAccountId
from chat_domain.message_index import ID_SIZE, RECORD_SIZE, MessageIndex
from chat_domain.state import GroupChat, Member, Message, MessageRef
from chat_domain.timestamps import from_epoch_ms, to_epoch_ms
from chat_domain.ulid import Ulid
from chat_domain.values import GroupChatName, MessageContent, Role

JsonObject: TypeAlias = dict[str, Any]
"""A decoded JSON object, as upcasters see it."""

Upcaster: TypeAlias = Callable[[JsonObject], JsonObject]
"""Lifts a payload from one schema version to the next. May mutate and return its argument."""

SCHEMA_VERSIONS: Final[Mapping[str, int]] = {
    "GroupChatCreated": 1,
    "GroupChatRenamed": 1,
    "GroupChatMemberAdded": 1,
    "GroupChatMemberRemoved": 1,
    "GroupChatMessagePosted": 2,
    "GroupChatMessageEdited": 1,
    "GroupChatMessageDeleted": 1,
    "GroupChatDeleted": 1,
}
"""The current schema version of every event type; the keys are the stable type names."""

STATE_SCHEMA_VERSION: Final = 3
"""The version of the snapshot format written by `encode_state`.

1 (JSON): every message whole (content, deleted flag, timestamps). 2 (JSON): live messages as
`id`, `senderId`, `createdAt`, plus `deletedMessageIds`. 3 (binary): the `MessageIndex` bytes
and fixed-width member records, with a small JSON header (see the module docs)."""

_LAST_JSON_STATE_VERSION: Final = 2
_BINARY_MARKER: Final = 0
_BINARY_PREFIX: Final = 10  # marker, version, CRC-32, header length
_MEMBER_SIZE: Final = 2 * ID_SIZE + 1 + 6 + 6
_ROLE_CODES: Final[Mapping[Role, int]] = {Role.ADMINISTRATOR: 0, Role.MEMBER: 1}
_ROLES_BY_CODE: Final[Mapping[int, Role]] = {code: role for role, code in _ROLE_CODES.items()}

_SCHEMA_VERSION_KEY: Final = "schemaVersion"

# Epoch milliseconds that a datetime can hold (years 1..9999 would allow more, but a stored
# timestamp outside 1970..9999 is corrupt anyway).
_MAX_EPOCH_MS: Final = 253_402_300_799_999

_T = TypeVar("_T")


class DecodeError(Exception):
    """Stored bytes cannot be turned into a domain object. A server-side fault, never a 4xx."""


@quick_init
@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event ready to store: its type name, schema version and JSON payload, plus the
    envelope fields a store indexes (`aggregate_id` is the prefixed wire form)."""

    type_name: str
    schema_version: int
    payload: bytes
    event_id: str
    aggregate_id: str
    seq_nr: int
    occurred_at_ms: int


class UpcasterRegistry:
    """Upcasters by `(type_name, from_version)`; each lifts a payload to `from_version + 1`."""

    def __init__(self) -> None:
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def add(self, type_name: str, from_version: int, upcaster: Upcaster) -> None:
        """Register `upcaster` for payloads of `type_name` at `from_version`."""
        key = (type_name, from_version)
        if key in self._upcasters:
            raise ValueError(f"an upcaster for {type_name} v{from_version} is already registered")
        self._upcasters[key] = upcaster

    def register(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator form of `add`."""

        def decorator(upcaster: Upcaster) -> Upcaster:
            self.add(type_name, from_version, upcaster)
            return upcaster

        return decorator

    def upcast(
        self, type_name: str, from_version: int, to_version: int, data: JsonObject
    ) -> JsonObject:
        """Apply the chain of upcasters that lifts `data` from `from_version` to `to_version`."""
        version = from_version
        while version < to_version:
            upcaster = self._upcasters.get((type_name, version))
            if upcaster is None:
                raise DecodeError(f"{type_name}: no upcaster from schema version {version}")
            try:
                data = upcaster(data)
            except (KeyError, TypeError, ValueError) as exc:
                raise DecodeError(
                    f"{type_name}: upcasting from schema version {version} failed: {exc!r}"
                ) from exc
            if not isinstance(data, dict):
                raise DecodeError(f"{type_name}: upcaster from v{version} did not return a dict")
            version += 1
        return data


UPCASTERS: Final = UpcasterRegistry()
"""The registry `decode` uses by default."""


@UPCASTERS.register("GroupChatMessagePosted", 1)
def _message_posted_v1_to_v2(data: JsonObject) -> JsonObject:
    # v1 named the message text `text` (after the read model's column); v2 uses `content`, the
    # name the command and the other events use.
    message = dict(data["message"])
    message["content"] = message.pop("text")
    return {**data, "message": message}


# --- encoding -------------------------------------------------------------------------------


# One encoder for every payload (`json.dumps` with options builds a new one on each call).
# No circular-reference check: payloads are trees built here, fresh for each call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
# `JSONEncoder.encode` builds a C encoder for these options on every call (and a closure, and
# a few checks): ~1 µs of the ~3 µs an event's payload costs to encode. This one is built once;
# it is what `encode` would build, so the output is the same (a test compares the two). Where
# the C accelerator is missing, `_ENCODER.encode` does the work.
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # not in the stubs
_C_ENCODER: Final[Callable[[JsonObject, int], Iterable[str]] | None] = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def _dumps(data: JsonObject) -> bytes:
    if _C_ENCODER is None:  # pragma: no cover - CPython has the accelerator
        return _ENCODER.encode(data).encode("utf-8")
    return "".join(_C_ENCODER(data, 0)).encode("utf-8")


def _member_to_json(member: Member) -> JsonObject:
    return {
        "id": str(member.id),
        "userAccountId": str(member.user_account_id),
        "role": member.role.value,
        "createdAt": to_epoch_ms(member.created_at),
        "updatedAt": to_epoch_ms(member.updated_at),
    }


def _message_to_json(message: Message) -> JsonObject:
    return {
        "id": str(message.id),
        "senderId": str(message.sender_id),
        "content": message.content.value,
        "deleted": message.deleted,
        "createdAt": to_epoch_ms(message.created_at),
        "updatedAt": to_epoch_ms(message.updated_at),
    }


def _payload_fields(event: Event) -> JsonObject:
    match event:
        case GroupChatCreated():
            return {"name": event.name.value, "member": _member_to_json(event.member)}
        case GroupChatRenamed():
            return {"name": event.name.value}
        case GroupChatMemberAdded():
            return {"member": _member_to_json(event.member)}
        case GroupChatMemberRemoved():
            return {
                "memberId": str(event.member_id),
                "userAccountId": str(event.user_account_id),
            }
        case GroupChatMessagePosted() | GroupChatMessageEdited():
            return {"message": _message_to_json(event.message)}
        case GroupChatMessageDeleted():
            return {"messageId": str(event.message_id)}
        case GroupChatDeleted():
            return {}
        case _:
            assert_never(event)


def type_name_of(event: Event) -> str:
    """The stable type name stored with `event` (its class name)."""
    return type(event).__name__


def encode(event: Event) -> EncodedEvent:
    """Serialize `event` at its type's current schema version."""
    type_name = type_name_of(event)
    version = SCHEMA_VERSIONS[type_name]
    event_id, aggregate_id = str(event.event_id), str(event.aggregate_id)
    occurred_at_ms = to_epoch_ms(event.occurred_at)
    data: JsonObject = {
        _SCHEMA_VERSION_KEY: version,
        "eventId": event_id,
        "aggregateId": aggregate_id,
        "seqNr": event.seq_nr,
        "executorId": str(event.executor_id),
        "occurredAt": occurred_at_ms,
    }
    data.update(_payload_fields(event))
    return EncodedEvent(
        type_name, version, _dumps(data), event_id, aggregate_id, event.seq_nr, occurred_at_ms
    )


def _member_record(member: Member) -> bytes:
    created_ms, updated_ms = to_epoch_ms(member.created_at), to_epoch_ms(member.updated_at)
    if not (0 <= created_ms <= _MAX_EPOCH_MS and 0 <= updated_ms <= _MAX_EPOCH_MS):
        raise ValueError(f"member {member.id}: times before 1970 cannot be stored")
    return (
        bytes(member.id.ulid)
        + bytes(member.user_account_id.ulid)
        + bytes((_ROLE_CODES[member.role],))
        + created_ms.to_bytes(6, "big")
        + updated_ms.to_bytes(6, "big")
    )


def encode_state(state: GroupChat) -> bytes:
    """Serialize a snapshot of `state` (format `STATE_SCHEMA_VERSION`, see the module docs).

    Equal states give equal bytes as long as they were built the same way (a state decoded
    from a v1/v2 snapshot lists its senders and deleted ids in another order than one folded
    from the events, and so encodes to other, equally valid bytes).
    """
    index = state.message_index
    header = _dumps(
        {
            "id": str(state.id),
            "name": state.name.value,
            "deleted": state.deleted,
            "seqNr": state.seq_nr,
            "version": state.version,
            "createdAt": to_epoch_ms(state.created_at),
            "updatedAt": to_epoch_ms(state.updated_at),
            "members": len(state.members),
            "senders": len(index.senders) // ID_SIZE,
            "messages": index.count,
        }
    )
    body = b"".join(
        (
            len(header).to_bytes(4, "big"),
            header,
            *map(_member_record, state.members),
            index.senders,
            index.records,
        )
    )
    return (
        bytes((_BINARY_MARKER, STATE_SCHEMA_VERSION)) + zlib.crc32(body).to_bytes(4, "big") + body
    )


# --- decoding -------------------------------------------------------------------------------


class _Reader:
    """Typed access to a JSON object; every failure is a `DecodeError` naming the JSON path."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise DecodeError(f"{path}: expected a JSON object, got {type(data).__name__}")
        self._data: dict[str, object] = data
        self._path = path

    @property
    def data(self) -> dict[str, object]:
        return self._data

    def _get(self, key: str) -> object:
        try:
            return self._data[key]
        except KeyError:
            raise DecodeError(f"{self._path}.{key}: missing") from None

    def string(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise DecodeError(f"{self._path}.{key}: expected a string")
        return value

    def integer(self, key: str, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{self._path}.{key}: expected an integer")
        if value < minimum or (maximum is not None and value > maximum):
            raise DecodeError(f"{self._path}.{key}: {value} is out of range")
        return value

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise DecodeError(f"{self._path}.{key}: expected a boolean")
        return value

    def timestamp(self, key: str) -> datetime:
        return from_epoch_ms(self.integer(key, maximum=_MAX_EPOCH_MS))

    def obj(self, key: str) -> _Reader:
        return _Reader(self._get(key), f"{self._path}.{key}")

    def objs(self, key: str) -> list[_Reader]:
        value = self._get(key)
        if not isinstance(value, list):
            raise DecodeError(f"{self._path}.{key}: expected an array")
        return [_Reader(item, f"{self._path}.{key}[{i}]") for i, item in enumerate(value)]

    def objs_of(self, key: str, parse: Callable[[object], _T]) -> list[_T]:
        """An array of strings, each read by a value object's `parse`."""
        value = self._get(key)
        if not isinstance(value, list):
            raise DecodeError(f"{self._path}.{key}: expected an array")
        parsed: list[_T] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise DecodeError(f"{self._path}.{key}[{i}]: expected a string")
            try:
                parsed.append(parse(item))
            except ValidationError as exc:
                raise DecodeError(f"{self._path}.{key}[{i}]: {exc.reason}") from exc
        return parsed

    def parsed(self, key: str, parse: Callable[[object], _T]) -> _T:
        """A string field read by a value object's `parse`; invalid values are `DecodeError`s."""
        raw = self.string(key)
        try:
            return parse(raw)
        except ValidationError as exc:
            raise DecodeError(f"{self._path}.{key}: {exc.reason}") from exc


def _load_json(data: bytes, what: str) -> _Reader:
    try:
        decoded = json.loads(data)
    except (UnicodeDecodeError, ValueError, TypeError) as exc:
        raise DecodeError(f"{what}: not valid UTF-8 JSON: {exc}") from exc
    return _Reader(decoded, what)


def _member_from_json(r: _Reader) -> Member:
    return Member(
        id=r.parsed("id", MemberId.parse),
        user_account_id=r.parsed("userAccountId", UserAccountId.parse),
        role=r.parsed("role", Role.parse),
        created_at=r.timestamp("createdAt"),
        updated_at=r.timestamp("updatedAt"),
    )


def _message_from_json(r: _Reader) -> Message:
    return Message(
        id=r.parsed("id", MessageId.parse),
        sender_id=r.parsed("senderId", UserAccountId.parse),
        content=r.parsed("content", _content),
        deleted=r.boolean("deleted"),
        created_at=r.timestamp("createdAt"),
        updated_at=r.timestamp("updatedAt"),
    )


def _message_ref_from_json(r: _Reader, senders: dict[str, UserAccountId]) -> MessageRef:
    # A chat's messages come from few senders: each distinct sender id is parsed once and the
    # one object shared by all their messages, which halves the decoding time of a large chat
    # and the memory its cached state takes for sender ids.
    raw_sender = r.string("senderId")
    sender = senders.get(raw_sender)
    if sender is None:
        sender = senders[raw_sender] = r.parsed("senderId", UserAccountId.parse)
    return MessageRef(
        id=r.parsed("id", MessageId.parse),
        sender_id=sender,
        created_at=r.timestamp("createdAt"),
    )


def _name(raw: object) -> GroupChatName:
    # Stored names are already trimmed; the constructor refuses anything else, so a name
    # that is not canonical is reported as corrupt rather than silently changed.
    if not isinstance(raw, str):  # pragma: no cover - _Reader.parsed only passes strings
        raise ValidationError("name", "must be a string")
    return GroupChatName(raw)


def _content(raw: object) -> MessageContent:
    if not isinstance(raw, str):  # pragma: no cover - _Reader.parsed only passes strings
        raise ValidationError("content", "must be a string")
    return MessageContent(raw)


def _decode_event(type_name: str, r: _Reader) -> Event:
    envelope = (
        r.parsed("eventId", EventId.parse),
        r.parsed("aggregateId", GroupChatId.parse),
        r.integer("seqNr", minimum=1),
        r.parsed("executorId", UserAccountId.parse),
        r.timestamp("occurredAt"),
    )
    match type_name:
        case "GroupChatCreated":
            return GroupChatCreated(
                *envelope, name=r.parsed("name", _name), member=_member_from_json(r.obj("member"))
            )
        case "GroupChatRenamed":
            return GroupChatRenamed(*envelope, name=r.parsed("name", _name))
        case "GroupChatMemberAdded":
            return GroupChatMemberAdded(*envelope, member=_member_from_json(r.obj("member")))
        case "GroupChatMemberRemoved":
            return GroupChatMemberRemoved(
                *envelope,
                member_id=r.parsed("memberId", MemberId.parse),
                user_account_id=r.parsed("userAccountId", UserAccountId.parse),
            )
        case "GroupChatMessagePosted":
            return GroupChatMessagePosted(*envelope, message=_message_from_json(r.obj("message")))
        case "GroupChatMessageEdited":
            return GroupChatMessageEdited(*envelope, message=_message_from_json(r.obj("message")))
        case "GroupChatMessageDeleted":
            return GroupChatMessageDeleted(
                *envelope, message_id=r.parsed("messageId", MessageId.parse)
            )
        case "GroupChatDeleted":
            return GroupChatDeleted(*envelope)
    raise DecodeError(f"unknown event type {type_name!r}")  # pragma: no cover - checked earlier


def decode(
    type_name: str,
    schema_version: int | None,
    payload: bytes,
    *,
    upcasters: UpcasterRegistry = UPCASTERS,
) -> Event:
    """The event stored as `type_name` at `schema_version` with `payload`.

    `schema_version=None` uses the version recorded inside the payload. Older versions are
    upcast with `upcasters`. Raises `DecodeError` when the bytes cannot be decoded.
    """
    current = SCHEMA_VERSIONS.get(type_name)
    if current is None:
        raise DecodeError(f"unknown event type {type_name!r}")
    reader = _load_json(payload, type_name)
    embedded = reader.integer(_SCHEMA_VERSION_KEY, minimum=1)
    if schema_version is not None and schema_version != embedded:
        raise DecodeError(
            f"{type_name}: stored as schema version {schema_version}, "
            f"but the payload says {embedded}"
        )
    if embedded > current:
        raise DecodeError(
            f"{type_name}: schema version {embedded} is newer than this code's ({current})"
        )
    if embedded < current:
        data = upcasters.upcast(type_name, embedded, current, dict(reader.data))
        data[_SCHEMA_VERSION_KEY] = current
        reader = _Reader(data, type_name)
    return _decode_event(type_name, reader)


def _state_v1_to_v2(data: JsonObject) -> JsonObject:
    # v1 kept every message whole, deleted ones flagged. v2 keeps the live ones without content
    # or `updatedAt` and only the ids of the deleted ones; their sum is still the message count
    # the limit checks. Fields are only moved here: `decode_state` validates them afterwards.
    live: list[JsonObject] = []
    deleted_ids: list[object] = []
    for message in data["messages"]:
        if message["deleted"]:
            deleted_ids.append(message["id"])
        else:
            live.append(
                {
                    "id": message["id"],
                    "senderId": message["senderId"],
                    "createdAt": message["createdAt"],
                }
            )
    return {**data, "messages": live, "deletedMessageIds": deleted_ids}


_STATE_UPCASTERS: Final[Mapping[int, Upcaster]] = {1: _state_v1_to_v2}
"""JSON snapshot upcasters by the version they lift from (each to the next version, up to 2,
which `_decode_json_state` reads; v3 is binary and read by `_decode_binary_state`)."""


def decode_state(data: bytes) -> GroupChat:
    """The `GroupChat` in a snapshot written by `encode_state`, now or by an older version.

    Raises `DecodeError` for malformed data or a version it cannot read (rebuild from events).
    """
    if data[:1] == bytes((_BINARY_MARKER,)):
        return _decode_binary_state(data)
    return _decode_json_state(data)


def _unreadable(version: int) -> DecodeError:
    return DecodeError(
        f"snapshot format version {version} cannot be read "
        f"(this code writes {STATE_SCHEMA_VERSION})"
    )


def _decode_binary_state(data: bytes) -> GroupChat:
    if len(data) < _BINARY_PREFIX:
        raise DecodeError(f"GroupChat: a binary snapshot has at least {_BINARY_PREFIX} bytes")
    version = data[1]
    if version != STATE_SCHEMA_VERSION:
        raise _unreadable(version)
    view = memoryview(data)
    if zlib.crc32(view[6:]) != int.from_bytes(data[2:6], "big"):
        raise DecodeError("GroupChat: the snapshot's checksum does not match (damaged bytes)")
    header_end = _BINARY_PREFIX + int.from_bytes(data[6:10], "big")
    r = _load_json(data[_BINARY_PREFIX:header_end], "GroupChat")
    member_count = r.integer("members", minimum=1)
    sender_count = r.integer("senders")
    message_count = r.integer("messages")
    senders_at = header_end + member_count * _MEMBER_SIZE
    records_at = senders_at + sender_count * ID_SIZE
    if len(data) != records_at + message_count * RECORD_SIZE:
        raise DecodeError(
            f"GroupChat: {len(data)} bytes do not hold {member_count} members, "
            f"{sender_count} senders and {message_count} messages"
        )
    try:
        index = MessageIndex.from_records(data[records_at:], data[senders_at:records_at])
    except ValueError as exc:
        raise DecodeError(f"GroupChat.messages: {exc}") from exc
    return GroupChat(
        id=r.parsed("id", GroupChatId.parse),
        name=r.parsed("name", _name),
        members=tuple(
            _member_from_record(data, at, i)
            for i, at in enumerate(range(header_end, senders_at, _MEMBER_SIZE))
        ),
        message_index=index,
        deleted=r.boolean("deleted"),
        seq_nr=r.integer("seqNr", minimum=1),
        version=r.integer("version", minimum=1),
        created_at=r.timestamp("createdAt"),
        updated_at=r.timestamp("updatedAt"),
    )


def _member_from_record(data: bytes, at: int, i: int) -> Member:
    role = _ROLES_BY_CODE.get(data[at + 2 * ID_SIZE])
    if role is None:
        raise DecodeError(f"GroupChat.members[{i}]: unknown role code {data[at + 2 * ID_SIZE]}")
    times = at + 2 * ID_SIZE + 1
    created_ms = int.from_bytes(data[times : times + 6], "big")
    updated_ms = int.from_bytes(data[times + 6 : times + 12], "big")
    if max(created_ms, updated_ms) > _MAX_EPOCH_MS:
        raise DecodeError(f"GroupChat.members[{i}]: a time is out of range")
    return Member(
        id=MemberId(Ulid.from_bytes(data[at : at + ID_SIZE])),
        user_account_id=UserAccountId(Ulid.from_bytes(data[at + ID_SIZE : at + 2 * ID_SIZE])),
        role=role,
        created_at=from_epoch_ms(created_ms),
        updated_at=from_epoch_ms(updated_ms),
    )


def _decode_json_state(data: bytes) -> GroupChat:
    r = _load_json(data, "GroupChat")
    version = r.integer(_SCHEMA_VERSION_KEY)
    if version > _LAST_JSON_STATE_VERSION or (
        version < _LAST_JSON_STATE_VERSION
        and any(v not in _STATE_UPCASTERS for v in range(version, _LAST_JSON_STATE_VERSION))
    ):
        raise _unreadable(version)
    if version < _LAST_JSON_STATE_VERSION:
        lifted = dict(r.data)
        for from_version in range(version, _LAST_JSON_STATE_VERSION):
            try:
                lifted = _STATE_UPCASTERS[from_version](lifted)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DecodeError(
                    f"GroupChat: upcasting the snapshot from version {from_version} failed: {exc!r}"
                ) from exc
        r = _Reader(lifted, "GroupChat")
    members = tuple(_member_from_json(m) for m in r.objs("members"))
    if not members:
        raise DecodeError("GroupChat.members: a group chat always has at least one member")
    senders = {str(m.user_account_id): m.user_account_id for m in members}
    messages = [_message_ref_from_json(m, senders) for m in r.objs("messages")]
    deleted_ids = r.objs_of("deletedMessageIds", MessageId.parse)
    try:
        index = MessageIndex.from_messages(
            ((m.id, m.sender_id, m.created_at) for m in messages), deleted_ids
        )
    except ValueError as exc:
        raise DecodeError(f"GroupChat.deletedMessageIds: {exc}") from exc
    return GroupChat(
        id=r.parsed("id", GroupChatId.parse),
        name=r.parsed("name", _name),
        members=members,
        message_index=index,
        deleted=r.boolean("deleted"),
        seq_nr=r.integer("seqNr", minimum=1),
        version=r.integer("version", minimum=1),
        created_at=r.timestamp("createdAt"),
        updated_at=r.timestamp("updatedAt"),
    )
