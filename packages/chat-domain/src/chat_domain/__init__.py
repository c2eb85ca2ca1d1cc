"""The group-chat domain: pure data and functions, standard library only, no I/O.

- ids and values: `GroupChatId`, `UserAccountId`, `MemberId`, `MessageId`, `EventId`, `Ulid`,
  `GroupChatName`, `MessageContent`, `Role` (`X.parse(raw, field=...)` for untrusted input)
- state: `GroupChat`, `Member`, `Message`, `MessageRef`, `MessageIndex` (the packed messages)
- commands: `CreateGroupChat`, `RenameGroupChat`, `AddMember`, `RemoveMember`, `PostMessage`,
  `EditMessage`, `DeleteMessage`, `DeleteGroupChat` (`Command` is their union)
- events: `GroupChatCreated`, ... (`Event` is their union, `GroupChatEvent` their base)
- behaviour: `decide`, `evolve`, `replay`; size bounds: `Limits`
- errors: `DomainError` and its subclasses, `ErrorCode`, `EventSequenceError`
- codec: `encode`, `decode`, `encode_state`, `decode_state`, `DecodeError`, ... (also importable
  as `chat_domain.codec`)

Names are loaded on first use (PEP 562): `from chat_domain.ids import UserAccountId` does not
import the codec, events and decider, which the query side (and its Lambda cold start) never
needs. `from chat_domain import X` works as with eager imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chat_domain.codec import (
        SCHEMA_VERSIONS,
        STATE_SCHEMA_VERSION,
        UPCASTERS,
        DecodeError,
        EncodedEvent,
        UpcasterRegistry,
        decode,
        decode_state,
        encode,
        encode_state,
        type_name_of,
    )
    from chat_domain.commands import (
        AddMember,
        Command,
        CreateGroupChat,
        DeleteGroupChat,
        DeleteMessage,
        EditMessage,
        IdGenerator,
        PostMessage,
        RemoveMember,
        RenameGroupChat,
    )
    from chat_domain.decider import decide, evolve, replay
    from chat_domain.errors import (
        AlreadyAMemberError,
        DomainError,
        ErrorCode,
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
        RuleViolationError,
        TooManyMembersError,
        TooManyMessagesError,
        ValidationError,
    )
    from chat_domain.events import (
        EVENT_TYPES,
        Event,
        GroupChatCreated,
        GroupChatDeleted,
        GroupChatEvent,
        GroupChatMemberAdded,
        GroupChatMemberRemoved,
        GroupChatMessageDeleted,
        GroupChatMessageEdited,
        GroupChatMessagePosted,
        GroupChatRenamed,
    )
    from chat_domain.ids import EventId, GroupChatId, MemberId, MessageId, UserAccountId
    from chat_domain.limits import DEFAULT_LIMITS, DEFAULT_MAX_MEMBERS, DEFAULT_MAX_MESSAGES, Limits
    from chat_domain.message_index import MessageIndex
    from chat_domain.state import GroupChat, Member, Message, MessageRef
    from chat_domain.timestamps import from_epoch_ms, to_epoch_ms, to_utc_millis
    from chat_domain.ulid import InvalidUlidError, Ulid, UlidGenerator, new_ulid
    from chat_domain.values import (
        GROUP_CHAT_NAME_MAX_LENGTH,
        MESSAGE_CONTENT_MAX_LENGTH,
        GroupChatName,
        MessageContent,
        Role,
    )

_MODULES: dict[str, tuple[str, ...]] = {
    "chat_domain.codec": (
        "SCHEMA_VERSIONS",
        "STATE_SCHEMA_VERSION",
        "UPCASTERS",
        "DecodeError",
        "EncodedEvent",
        "UpcasterRegistry",
        "decode",
        "decode_state",
        "encode",
        "encode_state",
        "type_name_of",
    ),
    "chat_domain.commands": (
        "AddMember",
        "Command",
        "CreateGroupChat",
        "DeleteGroupChat",
        "DeleteMessage",
        "EditMessage",
        "IdGenerator",
        "PostMessage",
        "RemoveMember",
        "RenameGroupChat",
    ),
    "chat_domain.decider": ("decide", "evolve", "replay"),
    "chat_domain.errors": (
        "AlreadyAMemberError",
        "DomainError",
        "ErrorCode",
        "EventSequenceError",
        "GroupChatAlreadyDeletedError",
        "GroupChatAlreadyExistsError",
        "GroupChatDeletedError",
        "GroupChatNotFoundError",
        "LastAdministratorError",
        "MessageNotFoundError",
        "NameUnchangedError",
        "NotAMemberError",
        "NotAnAdministratorError",
        "NotSenderOrAdministratorError",
        "NotTheSenderError",
        "RuleViolationError",
        "TooManyMembersError",
        "TooManyMessagesError",
        "ValidationError",
    ),
    "chat_domain.events": (
        "EVENT_TYPES",
        "Event",
        "GroupChatCreated",
        "GroupChatDeleted",
        "GroupChatEvent",
        "GroupChatMemberAdded",
        "GroupChatMemberRemoved",
        "GroupChatMessageDeleted",
        "GroupChatMessageEdited",
        "GroupChatMessagePosted",
        "GroupChatRenamed",
    ),
    "chat_domain.ids": ("EventId", "GroupChatId", "MemberId", "MessageId", "UserAccountId"),
    "chat_domain.limits": (
        "DEFAULT_LIMITS",
        "DEFAULT_MAX_MEMBERS",
        "DEFAULT_MAX_MESSAGES",
        "Limits",
    ),
    "chat_domain.message_index": ("MessageIndex",),
    "chat_domain.state": ("GroupChat", "Member", "Message", "MessageRef"),
    "chat_domain.timestamps": ("from_epoch_ms", "to_epoch_ms", "to_utc_millis"),
    "chat_domain.ulid": ("InvalidUlidError", "Ulid", "UlidGenerator", "new_ulid"),
    "chat_domain.values": (
        "GROUP_CHAT_NAME_MAX_LENGTH",
        "MESSAGE_CONTENT_MAX_LENGTH",
        "GroupChatName",
        "MessageContent",
        "Role",
    ),
}
_SUBMODULES = frozenset(module.rpartition(".")[2] for module in _MODULES)
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_MESSAGES",
    "EVENT_TYPES",
    "GROUP_CHAT_NAME_MAX_LENGTH",
    "MESSAGE_CONTENT_MAX_LENGTH",
    "SCHEMA_VERSIONS",
    "STATE_SCHEMA_VERSION",
    "UPCASTERS",
    "AddMember",
    "AlreadyAMemberError",
    "Command",
    "CreateGroupChat",
    "DecodeError",
    "DeleteGroupChat",
    "DeleteMessage",
    "DomainError",
    "EditMessage",
    "EncodedEvent",
    "ErrorCode",
    "Event",
    "EventId",
    "EventSequenceError",
    "GroupChat",
    "GroupChatAlreadyDeletedError",
    "GroupChatAlreadyExistsError",
    "GroupChatCreated",
    "GroupChatDeleted",
    "GroupChatDeletedError",
    "GroupChatEvent",
    "GroupChatId",
    "GroupChatMemberAdded",
    "GroupChatMemberRemoved",
    "GroupChatMessageDeleted",
    "GroupChatMessageEdited",
    "GroupChatMessagePosted",
    "GroupChatName",
    "GroupChatNotFoundError",
    "GroupChatRenamed",
    "IdGenerator",
    "InvalidUlidError",
    "LastAdministratorError",
    "Limits",
    "Member",
    "MemberId",
    "Message",
    "MessageContent",
    "MessageId",
    "MessageIndex",
    "MessageNotFoundError",
    "MessageRef",
    "NameUnchangedError",
    "NotAMemberError",
    "NotAnAdministratorError",
    "NotSenderOrAdministratorError",
    "NotTheSenderError",
    "PostMessage",
    "RemoveMember",
    "RenameGroupChat",
    "Role",
    "RuleViolationError",
    "TooManyMembersError",
    "TooManyMessagesError",
    "Ulid",
    "UlidGenerator",
    "UpcasterRegistry",
    "UserAccountId",
    "ValidationError",
    "decide",
    "decode",
    "decode_state",
    "encode",
    "encode_state",
    "evolve",
    "from_epoch_ms",
    "new_ulid",
    "replay",
    "to_epoch_ms",
    "to_utc_millis",
    "type_name_of",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        if name in _SUBMODULES:  # `chat_domain.codec` after a bare `import chat_domain`
            return importlib.import_module(f"chat_domain.{name}")
        raise AttributeError(f"module 'chat_domain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
