"""Identifier value objects. `str(id)` is the wire form; `X.parse(raw, field=...)` reads it.

| class | wire form | accepted on input |
| --- | --- | --- |
| `GroupChatId` | `GroupChat-<ULID>` | with or without the prefix |
| `UserAccountId` | `UserAccount-<ULID>` | with or without the prefix |
| `MemberId`, `MessageId`, `EventId` | `<ULID>` | the bare ULID only |

ULIDs are accepted in either case and always written upper-case. Ids of different kinds never
compare equal, even when they wrap the same ULID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self

from chat_domain._frozen import quick_init
from chat_domain.errors import ValidationError
from chat_domain.ulid import InvalidUlidError, Ulid, new_ulid

# Ids parsed lately, by class and text: requests name the same chats and users again and again,
# and an id is immutable, so one parse serves them all (a dict lookup instead of the regex check
# and base-32 decoding, ~1.5 µs). Bounded: emptied when full.
_parsed: dict[tuple[type, str], Any] = {}
_PARSED_MAX: Final = 4096


@quick_init
@dataclass(frozen=True, slots=True, order=True)
class _UlidId:
    """Base of the ULID-backed ids. Subclasses set `PREFIX` (or not) and the default `FIELD`."""

    ulid: Ulid
    # The wire form, computed at most once per instance (see `__str__`).
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    PREFIX: ClassVar[str | None] = None
    FIELD: ClassVar[str] = "id"

    @classmethod
    def parse(cls, raw: object, *, field: str | None = None) -> Self:
        """Read the wire form; raise `ValidationError` naming `field` (default `FIELD`)."""
        if not isinstance(raw, str):
            if raw is None:
                raise ValidationError(field or cls.FIELD, "is required")
            raise ValidationError(field or cls.FIELD, f"must be a string, not {type(raw).__name__}")
        known: Self | None = _parsed.get((cls, raw))
        if known is not None:
            return known
        text = raw
        prefix = cls.PREFIX
        if prefix is not None and text.startswith(f"{prefix}-"):
            text = text[len(prefix) + 1 :]
        try:
            ulid = Ulid.parse(text)
        except InvalidUlidError as exc:
            expected = (
                f"a ULID, optionally prefixed with '{cls.PREFIX}-'" if cls.PREFIX else "a ULID"
            )
            raise ValidationError(field or cls.FIELD, f"must be {expected} ({exc})") from None
        parsed = cls(ulid)
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[cls, raw] = parsed
        return parsed

    @classmethod
    def generate(cls, generator: Callable[[], Ulid] = new_ulid) -> Self:
        """A new id from `generator` (default: the process-wide monotonic ULID generator)."""
        return cls(generator())

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = f"{self.PREFIX}-{self.ulid}" if self.PREFIX else str(self.ulid)
            _set_text(self, text)  # a cache: the id does not change
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    # Equal when of the same class and ULID, as `dataclasses` would write it, but without a
    # tuple per side and a second call to compare the ULIDs: commands compare ids on every
    # rule. The subclasses inherit these (and the ordering) rather than have them written again.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self.ulid.value == other.ulid.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.ulid.value)


# Sets the frozen `_text` of an id (its slot's descriptor: see `chat_domain._frozen`).
_set_text: Final[Callable[[_UlidId, str], None]] = vars(_UlidId)["_text"].__set__


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class GroupChatId(_UlidId):
    """Identifies a group chat (the aggregate). Wire form `GroupChat-<ULID>`."""

    PREFIX: ClassVar[str | None] = "GroupChat"
    FIELD: ClassVar[str] = "groupChatId"


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class UserAccountId(_UlidId):
    """Identifies a user account (an executor, a member, a sender). `UserAccount-<ULID>`."""

    PREFIX: ClassVar[str | None] = "UserAccount"
    FIELD: ClassVar[str] = "userAccountId"


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MemberId(_UlidId):
    """Identifies one membership of a user account in a group chat. A bare ULID."""

    FIELD: ClassVar[str] = "memberId"


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MessageId(_UlidId):
    """Identifies a message. A bare ULID."""

    FIELD: ClassVar[str] = "messageId"


@quick_init
@dataclass(frozen=True, slots=True, eq=False, repr=False)
class EventId(_UlidId):
    """Identifies an event. A bare ULID."""

    FIELD: ClassVar[str] = "eventId"
