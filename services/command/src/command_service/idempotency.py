"""Idempotent commands: the same request sent twice with one `Idempotency-Key` takes effect once.

A client that got no answer (timeout, dropped connection, a 503 while committing) cannot know
whether its command was applied. With an idempotency key it simply sends the same request
again: if the first one was applied, the retry gets the first answer (same status, same body,
same new ids) and nothing is appended a second time.

- The key is the client's (`Idempotency-Key` header, or the GraphQL inputs' `idempotencyKey`):
  1 to 255 printable ASCII characters, no leading or trailing space (`parse_client_key`).
- It is scoped by the executor and the command (`<executor>/<Command>/<key>`), so two users,
  or two commands of one user, never share a key by accident.
- The request's fingerprint is a SHA-256 of the command name and its input fields as the
  client sent them (the REST body's fields, the GraphQL input's fields: the same names, so a
  retry may even switch API). A key reused with a different request is refused:
  `IdempotencyKeyReusedError` (422 `idempotency_key_reused`).
- The answer is stored with the command's event, in the same transaction
  (`event_store.IdempotencyRecord`), and kept `IDEMPOTENCY_TTL_SECONDS` (24 h by default).
  Only successful commands are recorded: a refused one appended nothing, so its retry is
  simply decided again.
- Concurrent requests with one key: one appends; the other loses (on the aggregate's version
  or on the key itself), re-reads the key and answers with the winner's response. If it still
  finds no record after the handler's retries it gets `IdempotencyInProgressError` (409
  `idempotency_in_progress`): send the request again later.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from chat_domain import (
    Command,
    CreateGroupChat,
    EditMessage,
    PostMessage,
    UserAccountId,
    ValidationError,
)

__all__ = [
    "DEFAULT_IDEMPOTENCY_TTL_SECONDS",
    "IDEMPOTENCY_KEY_HEADER",
    "IDEMPOTENT_REPLAYED_HEADER",
    "MAX_CLIENT_KEY_LENGTH",
    "CommandResponse",
    "IdempotencyInProgressError",
    "IdempotencyKey",
    "IdempotencyKeyReusedError",
    "parse_client_key",
    "response_for",
]

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
IDEMPOTENT_REPLAYED_HEADER: Final = "Idempotent-Replayed"
"""Response header, `true` on an answer replayed from an idempotency record."""
MAX_CLIENT_KEY_LENGTH: Final = 255
DEFAULT_IDEMPOTENCY_TTL_SECONDS: Final = 24 * 60 * 60

# Printable ASCII; the first and last character not a space (HTTP strips those from headers).
# {0,253}: MAX_CLIENT_KEY_LENGTH minus the first and the last character.
_CLIENT_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


class IdempotencyKeyReusedError(Exception):
    """The idempotency key was already used for a different request (422)."""

    code = "idempotency_key_reused"
    status = 422

    def __init__(self, key: str) -> None:
        self.key = key
        self.message = (
            f"the idempotency key {key!r} was already used for a different request; "
            "use a new key for a new request"
        )
        super().__init__(self.message)


class IdempotencyInProgressError(Exception):
    """A concurrent request with the same key holds it, and its outcome is not known yet (409)."""

    code = "idempotency_in_progress"
    status = 409

    def __init__(self, key: str) -> None:
        self.key = key
        self.message = (
            f"a request with the idempotency key {key!r} is still in progress; "
            "send the request again later"
        )
        super().__init__(self.message)


def parse_client_key(raw: object, *, field: str = IDEMPOTENCY_KEY_HEADER) -> str:
    """The client's key, checked: 1-255 printable ASCII characters, else `ValidationError`."""
    if not isinstance(raw, str) or _CLIENT_KEY.fullmatch(raw) is None:
        raise ValidationError(
            field,
            f"must be 1 to {MAX_CLIENT_KEY_LENGTH} printable ASCII characters "
            "(no leading or trailing space)",
        )
    return raw


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client key scoped to an executor and a command, with the request's fingerprint."""

    client_key: str
    scoped: str
    """What the event store records it under: `<executor>/<Command>/<client key>`."""
    fingerprint: str
    """SHA-256 (hex) of the command name and the request's input fields."""

    @classmethod
    def of(
        cls,
        client_key: str,
        command: Command,
        fields: Mapping[str, object],
        *,
        executor: UserAccountId | None = None,
    ) -> IdempotencyKey:
        """The key of `command`, sent with the input `fields` (wire names, as received).

        `executor` scopes the key (default: the command's executor, which the authentication
        layer has checked against the caller when it is on).
        """
        name = type(command).__name__
        owner = executor if executor is not None else command.executor_id
        canonical = json.dumps(
            {"command": name, "input": dict(fields)},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return cls(
            client_key=client_key,
            scoped=f"{owner}/{name}/{client_key}",
            fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        )


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """What the API answers for a successful command: an HTTP status and a JSON body of ids.

    `replayed` is True when it comes from an idempotency record (the answer of an earlier
    request with the same key) rather than from running the command now.
    """

    status: int
    body: Mapping[str, str]
    replayed: bool = field(default=False, compare=False)

    def to_bytes(self) -> bytes:
        """The form stored in an idempotency record."""
        return json.dumps(
            {"status": self.status, "body": dict(self.body)}, separators=(",", ":")
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CommandResponse:
        """A response read back from an idempotency record (`replayed=True`)."""
        decoded = json.loads(data)
        return cls(status=int(decoded["status"]), body=dict(decoded["body"]), replayed=True)


def response_for(command: Command) -> CommandResponse:
    """The answer to `command` once it has been applied (a pure function of the command).

    201 `{groupChatId}` for a create, 201 `{groupChatId, messageId}` for a post, 200
    `{groupChatId, messageId}` for an edit and 200 `{groupChatId}` for the others. Known
    before the command runs, so that it can be stored in the same transaction as its event.
    """
    group_chat_id = str(command.group_chat_id)
    if isinstance(command, PostMessage):
        return CommandResponse(
            201, {"groupChatId": group_chat_id, "messageId": str(command.message_id)}
        )
    if isinstance(command, EditMessage):
        return CommandResponse(
            200, {"groupChatId": group_chat_id, "messageId": str(command.message_id)}
        )
    if isinstance(command, CreateGroupChat):
        return CommandResponse(201, {"groupChatId": group_chat_id})
    return CommandResponse(200, {"groupChatId": group_chat_id})
