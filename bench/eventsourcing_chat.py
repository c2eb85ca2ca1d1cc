"""The baseline of `bench/event_store.py`: the same group chat on the `eventsourcing` library.

Written the way that library's documentation writes aggregates (a mutable `Aggregate` whose
`@event` methods are replayed on load) and kept equivalent to `chat_domain` where the benchmark
exercises it: creating a chat makes the creator its administrator, and posting a message checks
that the sender is a member and that the content is valid, then records the message in the
state. Snapshots every 100 events, like our store's default.

Needs the `bench` dependency group (`eventsourcing==9.5.*`). The library resolves event classes
by topic (`module:qualname`), so this module must stay importable under the name it was loaded
with for as long as its application runs.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

SNAPSHOT_INTERVAL = 100
MAX_CONTENT_LENGTH = 4000


class NotAMemberError(Exception):
    """The sender is not a member of the chat."""


class GroupChat(Aggregate):
    """A group chat: members by user id, and the messages posted so far."""

    @event("Created")
    def __init__(self, name: str, administrator: str) -> None:
        self.name = name
        self.members: dict[str, str] = {administrator: "administrator"}
        self.messages: list[dict[str, Any]] = []

    def post_message(self, sender: str, content: str) -> str:
        """Check the rules, then record the message; returns its id."""
        if sender not in self.members:
            raise NotAMemberError(sender)
        if not content.strip() or len(content) > MAX_CONTENT_LENGTH:
            raise ValueError("content must be 1-4000 characters and not blank")
        message_id = str(uuid4())
        self._message_posted(message_id=message_id, sender=sender, content=content)
        return message_id

    @event("MessagePosted")
    def _message_posted(self, message_id: str, sender: str, content: str) -> None:
        self.messages.append(
            {"id": message_id, "sender": sender, "content": content, "deleted": False}
        )


class ChatApplication(Application[UUID]):
    """The application service: `repository.get` loads, `save` appends (and snapshots)."""

    snapshotting_intervals: ClassVar[dict[Any, int]] = {GroupChat: SNAPSHOT_INTERVAL}

    def create_chat(self, name: str, administrator: str) -> UUID:
        """Create a chat and return its id."""
        chat = GroupChat(name=name, administrator=administrator)
        self.save(chat)
        return chat.id

    def post_message(self, chat_id: UUID, sender: str, content: str) -> str:
        """Load the chat, post, save with optimistic concurrency; returns the message id."""
        chat: GroupChat = self.repository.get(chat_id)
        message_id = chat.post_message(sender, content)
        self.save(chat)
        return message_id
