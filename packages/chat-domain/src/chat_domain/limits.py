"""Bounds on the size of one group chat, checked by `decide`.

A group chat is loaded whole (snapshot + events) for every command, so its size must be
bounded: otherwise one chat can grow until each command on it is slow and memory-hungry. The
bounds are configuration (the command service reads them from its settings) and reach the
domain as a value, so `decide` stays a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chat_domain._frozen import quick_init

DEFAULT_MAX_MEMBERS: Final = 1000
"""Default most members one group chat may have at once."""
DEFAULT_MAX_MESSAGES: Final = 10_000
"""Default most messages one group chat may hold (deleted ones included: they stay in its state)."""


@quick_init
@dataclass(frozen=True, slots=True)
class Limits:
    """How large a group chat may grow.

    - `max_members`: members at once, the creator included. `addMember` on a chat that has
      this many fails with `too_many_members` (removing a member makes room again).
    - `max_messages`: messages ever posted, deleted ones included (a deleted message stays in
      the chat's state, flagged). `postMessage` on a chat that has this many fails with
      `too_many_messages`.

    Lowering a limit never invalidates a stored chat: a chat already over it only refuses to
    grow further.
    """

    max_members: int = DEFAULT_MAX_MEMBERS
    max_messages: int = DEFAULT_MAX_MESSAGES

    def __post_init__(self) -> None:
        if self.max_members < 1:
            raise ValueError(
                f"max_members must be at least 1 (the creator), got {self.max_members}"
            )
        if self.max_messages < 0:
            raise ValueError(f"max_messages must not be negative, got {self.max_messages}")


DEFAULT_LIMITS: Final = Limits()
"""The limits `decide` applies when it is given none."""
