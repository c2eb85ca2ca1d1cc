"""Domain errors: one class per broken rule, each with a stable machine-readable code.

Every error the domain raises for a caller's mistake is a `DomainError`. Each class carries two
class attributes the edge uses directly, so that no service needs its own mapping table:

- `code`: a stable string from `ErrorCode` (clients match on it; never rename one),
- `status`: the HTTP status it corresponds to (400 bad input, 404 unknown aggregate,
  409 conflicting create, 422 a domain rule).

Errors that are *not* a caller's mistake (a corrupt event stream, an undecodable payload) are
deliberately not `DomainError`s: they are server faults (500) and must not be reported as 4xx.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """Every error code the domain can produce, in one place. Values are part of the API."""

    VALIDATION_ERROR = "validation_error"
    GROUP_CHAT_NOT_FOUND = "group_chat_not_found"
    GROUP_CHAT_ALREADY_EXISTS = "group_chat_already_exists"
    GROUP_CHAT_DELETED = "group_chat_deleted"
    GROUP_CHAT_ALREADY_DELETED = "group_chat_already_deleted"
    NOT_AN_ADMINISTRATOR = "not_an_administrator"
    NAME_UNCHANGED = "name_unchanged"
    ALREADY_A_MEMBER = "already_a_member"
    NOT_A_MEMBER = "not_a_member"
    LAST_ADMINISTRATOR = "last_administrator"
    MESSAGE_NOT_FOUND = "message_not_found"
    NOT_THE_SENDER = "not_the_sender"
    NOT_SENDER_OR_ADMINISTRATOR = "not_sender_or_administrator"
    TOO_MANY_MEMBERS = "too_many_members"
    TOO_MANY_MESSAGES = "too_many_messages"


class DomainError(Exception):
    """Base of every error caused by the caller: bad input or a broken domain rule.

    `message` is a human-readable sentence naming the rule; `code` and `status` are class-level
    hints for the edge (problem+json `code` and HTTP status).
    """

    code: ClassVar[ErrorCode]
    status: ClassVar[int]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """A value is malformed (400). `field` is the wire (camelCase) name of the offending field."""

    code = ErrorCode.VALIDATION_ERROR
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message

    def __reduce__(self) -> tuple[type[ValidationError], tuple[str, str]]:
        # Exception pickles as cls(*args); args holds the combined text, not (field, reason).
        return (type(self), (self.field, self.reason))


class GroupChatNotFoundError(DomainError):
    """The command targets a group chat that does not exist (404)."""

    code = ErrorCode.GROUP_CHAT_NOT_FOUND
    status = 404


class GroupChatAlreadyExistsError(DomainError):
    """A create targets an id that already has a group chat (409: it conflicts with it)."""

    code = ErrorCode.GROUP_CHAT_ALREADY_EXISTS
    status = 409


class RuleViolationError(DomainError):
    """Base of the errors that break a rule of the GroupChat aggregate (422)."""

    status = 422


class GroupChatDeletedError(RuleViolationError):
    """The group chat is deleted; only reads of its history remain possible."""

    code = ErrorCode.GROUP_CHAT_DELETED


class GroupChatAlreadyDeletedError(RuleViolationError):
    """A delete targets a group chat that is already deleted."""

    code = ErrorCode.GROUP_CHAT_ALREADY_DELETED


class NotAnAdministratorError(RuleViolationError):
    """The executor is not an administrator of the group chat."""

    code = ErrorCode.NOT_AN_ADMINISTRATOR


class NameUnchangedError(RuleViolationError):
    """A rename gives the group chat the name it already has."""

    code = ErrorCode.NAME_UNCHANGED


class AlreadyAMemberError(RuleViolationError):
    """The user account to add is already a member."""

    code = ErrorCode.ALREADY_A_MEMBER


class NotAMemberError(RuleViolationError):
    """A user account (the executor, or the member to remove) is not a member."""

    code = ErrorCode.NOT_A_MEMBER


class LastAdministratorError(RuleViolationError):
    """Removing the member would leave the group chat without an administrator."""

    code = ErrorCode.LAST_ADMINISTRATOR


class MessageNotFoundError(RuleViolationError):
    """The message is unknown in this group chat, or already deleted."""

    code = ErrorCode.MESSAGE_NOT_FOUND


class NotTheSenderError(RuleViolationError):
    """Only the message's sender may edit it."""

    code = ErrorCode.NOT_THE_SENDER


class NotSenderOrAdministratorError(RuleViolationError):
    """Only the message's sender or an administrator may delete it."""

    code = ErrorCode.NOT_SENDER_OR_ADMINISTRATOR


class TooManyMembersError(RuleViolationError):
    """The group chat already has as many members as its `Limits` allow."""

    code = ErrorCode.TOO_MANY_MEMBERS


class TooManyMessagesError(RuleViolationError):
    """The group chat already holds as many messages as its `Limits` allow."""

    code = ErrorCode.TOO_MANY_MESSAGES


class EventSequenceError(Exception):
    """An event cannot be applied to the state: the stream is corrupt or out of order.

    Not a `DomainError`: it means stored data or the calling code is wrong, never the caller.
    """
