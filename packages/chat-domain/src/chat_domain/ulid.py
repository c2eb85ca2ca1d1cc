"""ULIDs (https://github.com/ulid/spec) in the standard library only.

A ULID is 128 bits: a 48-bit Unix timestamp in milliseconds followed by 80 random bits, written
as 26 Crockford base32 characters. The text form sorts like the value, so ids sort by creation
time. Parsing is case-insensitive; output is always upper-case.

`UlidGenerator` is monotonic: within one millisecond (or when the clock steps backwards) it
increments the previous value instead of drawing new randomness, so successive ids from one
generator are strictly increasing. It is safe to share between threads.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from chat_domain._frozen import quick_init

ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32 alphabet (no I, L, O, U)."""

_DECODE: Final = {c: i for i, c in enumerate(ALPHABET)} | {
    c.lower(): i for i, c in enumerate(ALPHABET)
}
_LENGTH: Final = 26
# Fast paths. Parsing checks the text with a regex (C code) and then lets `int` convert it once
# mapped to Python's base-32 digits (0-9a-v); the mapping runs on the ASCII bytes (the regex let
# only ASCII through), where `bytes.translate` is a table lookup, 3x faster than `str.translate`
# with its dict. Formatting looks up the 26 characters two at a time, 10 bits each, in a table of
# the 1024 pairs: 13 lookups, on the two halves of the value rather than on the 128-bit
# whole (shifting a smaller int is cheaper). The first ULID character is at most 7 (26 digits
# hold 130 bits, a ULID has 128).
_CANONICAL_TEXT: Final = re.compile(r"[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}")
_TO_INT_DIGITS: Final = bytes.maketrans(
    (ALPHABET + ALPHABET.lower()).encode(), b"0123456789abcdefghijklmnopqrstuv" * 2
)
_PAIRS: Final = tuple(first + second for first in ALPHABET for second in ALPHABET)
_LOW_HALF_BITS: Final = 60
_LOW_HALF: Final = (1 << _LOW_HALF_BITS) - 1
_TIMESTAMP_BITS: Final = 48
_RANDOM_BITS: Final = 80
_MAX_TIMESTAMP: Final = (1 << _TIMESTAMP_BITS) - 1
_MAX_RANDOM: Final = (1 << _RANDOM_BITS) - 1
_MAX_VALUE: Final = (1 << 128) - 1
_new_instance: Final = object.__new__


class InvalidUlidError(ValueError):
    """A string or number is not a valid ULID."""


@quick_init
@dataclass(frozen=True, slots=True, order=True)
class Ulid:
    """An immutable ULID value. Compares, hashes and sorts by its 128-bit integer `value`."""

    value: int
    # The text form, computed at most once per instance (by `parse`, or by the first `str`):
    # ids are written out several times per command (event payloads, store keys, logs).
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not 0 <= self.value <= _MAX_VALUE:
            raise InvalidUlidError("a ULID value must be an integer that fits in 128 bits")

    @classmethod
    def from_parts(cls, timestamp_ms: int, randomness: int) -> Ulid:
        """Build a ULID from its 48-bit millisecond timestamp and 80-bit random part."""
        if not 0 <= timestamp_ms <= _MAX_TIMESTAMP:
            raise InvalidUlidError("the timestamp must fit in 48 bits")
        if not 0 <= randomness <= _MAX_RANDOM:
            raise InvalidUlidError("the random part must fit in 80 bits")
        return cls((timestamp_ms << _RANDOM_BITS) | randomness)

    @classmethod
    def from_bytes(cls, data: bytes) -> Ulid:
        """Build a ULID from its 16-byte big-endian binary form."""
        if len(data) != 16:
            raise InvalidUlidError(f"a binary ULID has 16 bytes, got {len(data)}")
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def parse(cls, text: object) -> Ulid:
        """Parse the 26-character text form (either case). Raises `InvalidUlidError`."""
        if not isinstance(text, str):
            raise InvalidUlidError(f"a ULID must be a string, not {type(text).__name__}")
        if _CANONICAL_TEXT.fullmatch(text) is not None:
            # Valid, hence in range: built without `__init__` and its range check (parsing ids is
            # most of decoding an event), with the text form at hand.
            return _valid_ulid(int(text.encode().translate(_TO_INT_DIGITS), 32), text.upper())
        # Invalid: find out what is wrong, for the message.
        if len(text) != _LENGTH:
            raise InvalidUlidError(f"a ULID has {_LENGTH} characters, got {len(text)}")
        value = 0
        for char in text:
            digit = _DECODE.get(char)
            if digit is None:
                raise InvalidUlidError(f"{char!r} is not a Crockford base32 character")
            value = (value << 5) | digit
        # 26 base32 digits hold 130 bits; a ULID only has 128, so the first digit is at most 7.
        if value > _MAX_VALUE:
            raise InvalidUlidError("the value does not fit in 128 bits (first character above 7)")
        return cls(value)

    @property
    def timestamp_ms(self) -> int:
        """Milliseconds since the Unix epoch encoded in the first 48 bits."""
        return self.value >> _RANDOM_BITS

    @property
    def randomness(self) -> int:
        """The 80-bit random part."""
        return self.value & _MAX_RANDOM

    def to_datetime(self) -> datetime:
        """The encoded timestamp as a UTC datetime."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    def __bytes__(self) -> bytes:
        return self.value.to_bytes(16, "big")

    def __str__(self) -> str:
        text = self._text
        if text is None:
            # 26 characters are 130 bits: 2 zero bits, then the 128-bit value, read 10 bits
            # (two characters) at a time from the top: 14 characters from the high 68 bits,
            # 12 from the low 60. Spelled out: a loop or comprehension costs more than the
            # lookups themselves.
            high, low, pairs = self.value >> _LOW_HALF_BITS, self.value & _LOW_HALF, _PAIRS
            text = "".join(
                (
                    pairs[high >> 60],
                    pairs[(high >> 50) & 0x3FF],
                    pairs[(high >> 40) & 0x3FF],
                    pairs[(high >> 30) & 0x3FF],
                    pairs[(high >> 20) & 0x3FF],
                    pairs[(high >> 10) & 0x3FF],
                    pairs[high & 0x3FF],
                    pairs[low >> 50],
                    pairs[(low >> 40) & 0x3FF],
                    pairs[(low >> 30) & 0x3FF],
                    pairs[(low >> 20) & 0x3FF],
                    pairs[(low >> 10) & 0x3FF],
                    pairs[low & 0x3FF],
                )
            )
            _set_text(self, text)  # a cache: the value does not change
        return text

    def __repr__(self) -> str:
        return f"Ulid('{self}')"


# Set the frozen fields of a `Ulid` (through their slots' descriptors: see `chat_domain._frozen`).
_set_value: Final[Callable[[Ulid, int], None]] = vars(Ulid)["value"].__set__
_set_text: Final[Callable[[Ulid, str | None], None]] = vars(Ulid)["_text"].__set__


def _valid_ulid(value: int, text: str | None = None) -> Ulid:
    """A `Ulid` of `value`, known to be in range, built without `__init__` and its check.

    For the two hot paths whose values are valid by construction: parsing canonical text and
    generating. `text`, when given, is the value's text form (upper-case).
    """
    ulid: Ulid = _new_instance(Ulid)
    _set_value(ulid, value)
    _set_text(ulid, text)
    return ulid


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class UlidGenerator:
    """Generates strictly increasing ULIDs; thread-safe.

    `clock` returns milliseconds since the epoch and `random_bytes(n)` returns n random bytes;
    both are injectable so tests can pin them.
    """

    def __init__(
        self,
        clock: Callable[[], int] = _now_ms,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._clock = clock
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._last: int = -1

    def __call__(self) -> Ulid:
        """Return a ULID greater than every ULID this generator returned before."""
        with self._lock:
            timestamp = self._clock()
            if not 0 <= timestamp <= _MAX_TIMESTAMP:
                raise InvalidUlidError("the clock is outside the ULID timestamp range")
            last = self._last
            if last >= 0 and timestamp <= last >> _RANDOM_BITS:
                # Same millisecond, or the clock stepped back: increment instead of drawing new
                # randomness. When the 80-bit random part overflows, the sum carries into the
                # timestamp, i.e. the id moves one millisecond ahead, which keeps order.
                value = last + 1
                if value > _MAX_VALUE:
                    raise InvalidUlidError("ULID space exhausted")
            else:
                randomness = int.from_bytes(self._random_bytes(10), "big")
                value = (timestamp << _RANDOM_BITS) | randomness
            self._last = value
        # In range: the timestamp fits in 48 bits, and an increment was checked above.
        return _valid_ulid(value)


_default_generator = UlidGenerator()


def new_ulid() -> Ulid:
    """A new ULID from the process-wide monotonic generator."""
    return _default_generator()
