"""Load for fault and concurrency tests: clients that send commands over HTTP and remember
exactly what each one was told.

- `Script`: one client's own group chats and a random but valid mix of every command (create,
  rename, add and remove members, post, edit and delete messages, delete a chat), decided from
  what the client knows; reproducible from a seed (apart from the ids the service generates).
  `posts_only=True` keeps to posting messages (each with a unique content), which is all a test
  needs when it must match every command to the journal.
- `Outcome`: one command and what came back: the status, or `None` when no answer came (the
  connection was refused, reset or timed out: the command may or may not have been applied).
- `Load`: runs several scripts at once, one thread and one HTTP connection pool per client,
  until a number of commands has been answered or it is stopped; calls `on_issued(n)` after each
  command sent so that a test can inject a fault at a given point of the stream.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

__all__ = ["Load", "Outcome", "Script", "user_account"]


def user_account(client: int, n: int) -> str:
    """A valid, distinct `UserAccount-<ULID>` for user `n` (< 1000) of client `client` (< 1000)."""
    return f"UserAccount-01H42K4ABWQ5V2XQEP3A{client:03d}{n:03d}"


@dataclass
class Outcome:
    """A command sent and what came back (`status` None: no answer)."""

    client: int
    command: str
    body: dict[str, Any]
    status: int | None
    response: dict[str, Any] | None = None
    error: str | None = None
    phase: str = ""
    """The load's `phase` when the command was sent (a label the test sets)."""

    @property
    def acknowledged(self) -> bool:
        """The service said it did it (2xx)."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Chat:
    admin: str
    members: set[str]
    messages: dict[str, str] = field(default_factory=dict)  # message id -> sender


class Script:
    """One client's commands: decided from the effects the service acknowledged so far."""

    def __init__(self, client: int, seed: int, *, posts_only: bool = False) -> None:
        self.client = client
        self.posts_only = posts_only
        self.rng = random.Random(seed * 1000 + client)
        self.users = [user_account(client, n) for n in range(8)]
        self.chats: dict[str, _Chat] = {}
        self.counter = 0

    def _content(self) -> str:
        self.counter += 1
        return f"client {self.client} text {self.counter}"

    def next(self) -> tuple[str, dict[str, Any]]:
        """The next command: (path below `/v1/group-chats/`, JSON body)."""
        rng = self.rng
        if not self.chats or (not self.posts_only and rng.random() < 0.02 and len(self.chats) < 4):
            admin = self.users[0]
            return "create", {"name": f"chat of {self.client}", "executorId": admin}
        chat_id = rng.choice(sorted(self.chats))
        chat = self.chats[chat_id]
        base = {"groupChatId": chat_id}
        roll = 0.0 if self.posts_only else rng.random()
        outsiders = [u for u in self.users if u not in chat.members]
        removable = sorted(chat.members - {chat.admin})
        if roll < 0.55:
            sender = rng.choice(sorted(chat.members))
            return "post-message", {**base, "content": self._content(), "executorId": sender}
        if roll < 0.68 and chat.messages:
            message_id, sender = rng.choice(sorted(chat.messages.items()))
            body = {**base, "messageId": message_id, "content": self._content()}
            return "edit-message", {**body, "executorId": sender}
        if roll < 0.74 and chat.messages:
            message_id, sender = rng.choice(sorted(chat.messages.items()))
            return "delete-message", {**base, "messageId": message_id, "executorId": sender}
        if roll < 0.84 and outsiders:
            role = rng.choice(["member", "member", "administrator"])
            new = rng.choice(outsiders)
            body = {**base, "userAccountId": new, "role": role, "executorId": chat.admin}
            return "add-member", body
        if roll < 0.90 and removable:
            body = {**base, "userAccountId": rng.choice(removable), "executorId": chat.admin}
            return "remove-member", body
        if roll < 0.99 or len(self.chats) == 1:
            body = {**base, "name": f"renamed {self._content()}", "executorId": chat.admin}
            return "rename", body
        return "delete", {**base, "executorId": chat.admin}

    def applied(self, command: str, body: dict[str, Any], response: dict[str, Any]) -> None:
        """Learn the effect of an acknowledged command."""
        if command == "create":
            admin = body["executorId"]
            self.chats[response["groupChatId"]] = _Chat(admin=admin, members={admin})
            return
        chat = self.chats.get(body["groupChatId"])
        if chat is None:
            return
        if command == "post-message":
            chat.messages[response["messageId"]] = body["executorId"]
        elif command == "delete-message":
            chat.messages.pop(body["messageId"], None)
        elif command == "add-member":
            chat.members.add(body["userAccountId"])
        elif command == "remove-member":
            # Their messages stay, but only an administrator could delete them now: forget them.
            gone = body["userAccountId"]
            chat.members.discard(gone)
            chat.messages = {m: s for m, s in chat.messages.items() if s != gone}
        elif command == "delete":
            del self.chats[body["groupChatId"]]


class Load:
    """`clients` scripts sending commands concurrently to the command service at `base_url`."""

    def __init__(
        self,
        base_url: str,
        *,
        clients: int,
        seed: int,
        posts_only: bool = False,
        timeout: float = 30.0,
        pause_after_failure: float = 0.1,
    ) -> None:
        self.base_url = f"{base_url}/v1/group-chats"
        self.scripts = [Script(n, seed, posts_only=posts_only) for n in range(clients)]
        self.timeout = timeout
        self.pause_after_failure = pause_after_failure
        self.outcomes: list[Outcome] = []
        self.phase = ""
        """A label copied into each outcome at send time (e.g. "before", "down", "after")."""
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Make every client stop after its current command."""
        self._stop.set()

    def run(
        self,
        total: int,
        on_issued: Callable[[int], None] | None = None,
        *,
        max_seconds: float = 300.0,
    ) -> list[Outcome]:
        """Send commands until `total` were answered (or `stop()`, or `max_seconds` passed).

        A command without an answer does not count: the client pauses, then sends its next
        command, so a stream survives the death of the service. So does a 5xx, after a pause.
        Returns every outcome, unanswered ones included.
        """
        budget = iter(range(total))
        start = threading.Barrier(len(self.scripts))
        deadline = time.monotonic() + max_seconds

        def take() -> int | None:
            with self._lock:
                return next(budget, None)

        def running() -> bool:
            return not self._stop.is_set() and time.monotonic() < deadline

        def client(script: Script) -> None:
            with httpx2.Client(base_url=self.base_url, timeout=self.timeout) as http:
                start.wait()
                while running() and take() is not None:
                    while running():
                        outcome = self._send(http, script)
                        with self._lock:
                            self.outcomes.append(outcome)
                            issued = len(self.outcomes)
                        if on_issued is not None:
                            on_issued(issued)
                        if outcome.status is not None and outcome.status < 500:
                            break
                        time.sleep(self.pause_after_failure)

        threads = [threading.Thread(target=client, args=(s,), daemon=True) for s in self.scripts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.outcomes

    def _send(self, http: httpx2.Client, script: Script) -> Outcome:
        command, body = script.next()
        phase = self.phase
        try:
            response = http.post(f"/{command}", json=body)
        except httpx2.TransportError as error:
            return Outcome(script.client, command, body, None, None, type(error).__name__, phase)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        outcome = Outcome(script.client, command, body, response.status_code, payload, None, phase)
        if outcome.acknowledged and isinstance(payload, dict):
            script.applied(command, body, payload)
        return outcome

    def statuses(self) -> Counter[str]:
        """How many outcomes per status (`"none"`: no answer)."""
        return Counter(str(o.status) if o.status is not None else "none" for o in self.outcomes)
