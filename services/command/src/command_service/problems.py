"""Errors as RFC 9457 problem details, independent of any web framework.

Every error the command side reports has a `status` and a stable machine-readable `code`:

| error | status | code |
| --- | --- | --- |
| `chat_domain.ValidationError` (bad id, name, content, role) | 400 | `validation_error` |
| malformed request (invalid JSON, missing field, wrong type) | 400 | `validation_error` |
| `GroupChatNotFoundError` | 404 | `group_chat_not_found` |
| `GroupChatAlreadyExistsError` | 409 | `group_chat_already_exists` |
| `CommandConflictError` (concurrent writers, after the retries) | 409 | `conflict` |
| `IdempotencyInProgressError` (same key, concurrently) | 409 | `idempotency_in_progress` |
| `IdempotencyKeyReusedError` (same key, other request) | 422 | `idempotency_key_reused` |
| other `DomainError`s (broken rules) | 422 | their code, e.g. `not_an_administrator` |
| request body over the limit | 413 | `payload_too_large` |
| request body slower than the limit | 408 | `request_timeout` |
| `auth.AuthError`: no or a bad bearer token (`AUTH_MODE=jwt`) | 401 | `unauthorized` |
| `auth.AuthError`: `executorId` is not the caller | 403 | `forbidden` |
| `EventStoreUnavailableError`, `auth.AuthUnavailableError` | 503 | `service_unavailable` |
| unknown route / wrong method | 404 / 405 | `not_found` / `method_not_allowed` |
| anything else | 500 | `internal_error` (generic detail; the exception is logged) |

The REST app renders them as `application/problem+json`; the GraphQL and Lambda layers use the
same `problem_for` to pick a status. `type` is `about:blank`, so `title` is the status phrase
(as in the query service): `status` says what kind of problem it is, `code` which one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from http import HTTPStatus
from typing import Final

from auth import AuthError, AuthUnavailableError
from chat_domain import DomainError, ValidationError
from event_store import ConcurrencyError, EventStoreUnavailableError

from command_service.handlers import CommandConflictError
from command_service.idempotency import IdempotencyInProgressError, IdempotencyKeyReusedError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "RETRY_AFTER_SECONDS",
    "Problem",
    "internal_error",
    "payload_too_large",
    "problem_for",
    "request_timeout",
    "validation_error",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
RETRY_AFTER_SECONDS: Final = 1
"""How long a client should wait before retrying after a 503 (the store is usually back soon)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: what the client gets as `application/problem+json`.

    `field` names the offending input field of a `validation_error` when there is exactly one
    (an RFC 9457 extension member, omitted otherwise). `headers` go on the HTTP response.
    """

    status: int
    code: str
    detail: str
    field: str | None = None
    headers: Mapping[str, str] = dataclass_field(default_factory=dict)
    type: str = "about:blank"

    @property
    def title(self) -> str:
        """The HTTP status phrase (RFC 9457 §4.2.1: the title of `about:blank`)."""
        return HTTPStatus(self.status).phrase

    def to_dict(self) -> dict[str, object]:
        """The JSON body: `type`, `title`, `status`, `detail`, `code` (and `field`)."""
        body: dict[str, object] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        return body

    def to_json(self) -> bytes:
        """The JSON body as UTF-8 bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def problem_for(exc: BaseException) -> Problem | None:
    """The problem an expected error stands for, or None for an unexpected one (a 500).

    Expected: `DomainError` (with its own status and code), `CommandConflictError` (409),
    the idempotency errors (409, 422), `auth.AuthError` (401, 403),
    `EventStoreUnavailableError` and `auth.AuthUnavailableError` (503). A bare
    `ConcurrencyError` also maps to 409 `conflict`, for callers that append without the
    handler's retries.
    """
    if isinstance(exc, ValidationError):
        return Problem(exc.status, str(exc.code), exc.message, field=exc.field)
    if isinstance(exc, DomainError):
        return Problem(exc.status, str(exc.code), exc.message)
    if isinstance(
        exc, CommandConflictError | IdempotencyInProgressError | IdempotencyKeyReusedError
    ):
        return Problem(exc.status, exc.code, exc.message)
    if isinstance(exc, ConcurrencyError):
        return Problem(409, CommandConflictError.code, "the group chat was modified concurrently")
    if isinstance(exc, AuthError):
        return Problem(exc.status, exc.code, exc.detail, headers=exc.headers)
    if isinstance(exc, EventStoreUnavailableError):
        return Problem(
            503,
            "service_unavailable",
            "the event store is temporarily unavailable; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, AuthUnavailableError):
        return Problem(
            503,
            "service_unavailable",
            "the keys to verify tokens cannot be fetched right now; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return None


def internal_error() -> Problem:
    """The 500 problem: a generic detail, so that no internals leak to the client."""
    return Problem(500, "internal_error", "an unexpected error occurred")


def validation_error(detail: str, field: str | None = None) -> Problem:
    """A 400 `validation_error`; `detail` starts with the offending field's name."""
    return Problem(400, "validation_error", detail, field=field)


def request_timeout(seconds: float) -> Problem:
    """The 408 problem for a request body that did not arrive within `seconds`."""
    return Problem(
        408, "request_timeout", f"the request body did not arrive within {seconds:g} seconds"
    )


def payload_too_large(limit: int) -> Problem:
    """The 413 problem for a request body over `limit` bytes."""
    return Problem(413, "payload_too_large", f"the request body exceeds the limit of {limit} bytes")
