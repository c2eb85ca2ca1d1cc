"""A bounded, per-process cache of the latest known state of each group chat.

Loading a chat (reading its snapshot and later events, decoding them, folding them) is most of
a command's CPU. The `CommandHandler` keeps the state each command leaves behind, so that the
next command on the same chat decides on it directly. Nothing here makes that safe across
processes; the handler does, by how it uses the cache:

- an entry is only ever a state the event store confirmed: loaded from it, or the state after
  an append that succeeded;
- a command appends with the cached state's version as its expected version, so a state gone
  stale (another process wrote to the chat) cannot be written over: the append fails with
  `ConcurrencyError`, and the command runs again on a fresh load;
- a command refused on a cached state is decided again on a fresh load before it is refused
  (the change that would make it valid may have come from another process);
- the entry is taken out while a command runs, so a command that fails in any other way
  (store unavailable, an append whose outcome is unknown) leaves nothing behind.

Bounded by entries, least recently used first out. A chat's state holds all of its messages,
so size `AGGREGATE_CACHE_SIZE` with the chats' sizes in mind.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from chat_domain import GroupChat, GroupChatId

__all__ = ["DEFAULT_AGGREGATE_CACHE_SIZE", "AggregateCache"]

DEFAULT_AGGREGATE_CACHE_SIZE = 1024


class AggregateCache:
    """An LRU of `GroupChat` states by chat id, at most `max_entries` of them.

    A state's `version` is its stream version (the `expected_version` of the next append).
    Thread-safe: its own lock guards the LRU order. It does not serialize commands: the
    handler's per-chat lock does that.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1 (no cache at all: do not create one)")
        self._max_entries = max_entries
        # Keyed by the id's wire text: a string hashes and compares in C, with its hash cached,
        # where the id objects would hash and compare through Python methods on every lookup.
        self._states: OrderedDict[str, GroupChat] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_entries(self) -> int:
        """The most states kept."""
        return self._max_entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def __contains__(self, group_chat_id: object) -> bool:
        if not isinstance(group_chat_id, GroupChatId):
            return False
        with self._lock:
            return str(group_chat_id) in self._states

    def peek(self, group_chat_id: GroupChatId) -> GroupChat | None:
        """The cached state of `group_chat_id`, or None; neither removed nor marked as used."""
        with self._lock:
            return self._states.get(str(group_chat_id))

    def take(self, group_chat_id: GroupChatId) -> GroupChat | None:
        """Remove and return the cached state of `group_chat_id` (None when there is none).

        The handler takes the entry for the time of a command and puts back only the state
        the store confirmed: whatever goes wrong in between leaves no possibly stale entry.
        """
        with self._lock:
            return self._states.pop(str(group_chat_id), None)

    def put(self, state: GroupChat) -> None:
        """Keep `state` as the latest of its chat; drop the least recently used beyond the bound."""
        key = str(state.id)
        with self._lock:
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self._max_entries:
                self._states.popitem(last=False)

    def discard(self, group_chat_id: GroupChatId) -> None:
        """Forget `group_chat_id` (no error when it is not cached)."""
        with self._lock:
            self._states.pop(str(group_chat_id), None)

    def clear(self) -> None:
        """Forget every state."""
        with self._lock:
            self._states.clear()
