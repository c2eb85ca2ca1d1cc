"""Value objects: GroupChatName, MessageContent, Role. Invalid values cannot be constructed.

Constructors validate and raise `ValidationError` naming the default wire field; `parse` reads an
untrusted value (any type, possibly None) and lets the caller name the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final, Self

from chat_domain._frozen import quick_init
from chat_domain.errors import ValidationError

GROUP_CHAT_NAME_MAX_LENGTH: Final = 100
MESSAGE_CONTENT_MAX_LENGTH: Final = 4000


def _require_str(raw: object, field: str) -> str:
    if raw is None:
        raise ValidationError(field, "is required")
    if not isinstance(raw, str):
        raise ValidationError(field, f"must be a string, not {type(raw).__name__}")
    return raw


def _require_unicode(value: str, field: str) -> None:
    # A JSON "\ud800" escape decodes to a lone surrogate: a Python str, but no Unicode text;
    # it could not be stored (UTF-8) or sent back, so it is refused here like any bad value.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                field, "must be Unicode text (it holds a lone surrogate code point)"
            ) from None


@quick_init
@dataclass(frozen=True, slots=True)
class GroupChatName:
    """A group chat's name: 1 to 100 characters once surrounding whitespace is trimmed.

    The stored `value` is the trimmed text, so "  Team " and "Team" are the same name.
    """

    value: str

    def __post_init__(self) -> None:
        self._check(self.value, "name")

    @staticmethod
    def _check(value: str, field: str) -> None:
        if not value.strip():
            raise ValidationError(field, "must not be empty or blank")
        _require_unicode(value, field)
        if value != value.strip():
            raise ValidationError(field, "must not have surrounding whitespace")
        if len(value) > GROUP_CHAT_NAME_MAX_LENGTH:
            raise ValidationError(
                field, f"must be at most {GROUP_CHAT_NAME_MAX_LENGTH} characters, got {len(value)}"
            )

    @classmethod
    def parse(cls, raw: object, *, field: str = "name") -> Self:
        """Trim and validate an untrusted name."""
        value = _require_str(raw, field).strip()
        try:
            return cls(value)  # validates once
        except ValidationError as exc:  # raised naming the default field
            raise ValidationError(field, exc.reason) from None

    def __str__(self) -> str:
        return self.value


@quick_init
@dataclass(frozen=True, slots=True)
class MessageContent:
    """A message's text: not blank, at most 4,000 characters, kept exactly as written.

    Unlike names, content is not trimmed: leading indentation or trailing newlines can matter
    (code snippets, poems), and the sender's text is theirs.
    """

    value: str

    def __post_init__(self) -> None:
        self._check(self.value, "content")

    @staticmethod
    def _check(value: str, field: str) -> None:
        if not value.strip():
            raise ValidationError(field, "must not be empty or blank")
        _require_unicode(value, field)
        if len(value) > MESSAGE_CONTENT_MAX_LENGTH:
            raise ValidationError(
                field, f"must be at most {MESSAGE_CONTENT_MAX_LENGTH} characters, got {len(value)}"
            )

    @classmethod
    def parse(cls, raw: object, *, field: str = "content") -> Self:
        """Validate untrusted content."""
        value = _require_str(raw, field)
        try:
            return cls(value)  # validates once
        except ValidationError as exc:  # raised naming the default field
            raise ValidationError(field, exc.reason) from None

    def __str__(self) -> str:
        return self.value


class Role(Enum):
    """A member's role. `.value` is the lower-case wire form."""

    ADMINISTRATOR = "administrator"
    MEMBER = "member"

    @classmethod
    def parse(cls, raw: object, *, field: str = "role") -> Role:
        """Read a role case-insensitively; `admin` is accepted for `administrator`."""
        text = _require_str(raw, field)
        role = _ROLE_ALIASES.get(text.lower())
        if role is None:
            raise ValidationError(field, f"must be 'administrator' or 'member', got {text[:40]!r}")
        return role

    def __str__(self) -> str:
        return self.value


_ROLE_ALIASES: Final = {
    "administrator": Role.ADMINISTRATOR,
    "admin": Role.ADMINISTRATOR,
    "member": Role.MEMBER,
}
