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

The REST app renders them as `application/problem+json`; the GraphQL layer uses the same
`problem_for` to pick a status. `Problem` and the generic problems (500, 408, 413, 400) are
`http_kit.problems`'s, re-exported here. `type` is `about:blank`, so `title` is the status phrase
(as in the query service): `status` says what kind of problem it is, `code` which one.
"""

from __future__ import annotations

from auth import AuthError, AuthUnavailableError
from chat_domain import DomainError, ValidationError
from event_store import ConcurrencyError, EventStoreUnavailableError
from http_kit.problems import (
    PROBLEM_MEDIA_TYPE,
    RETRY_AFTER_SECONDS,
    Problem,
    internal_error,
    payload_too_large,
    request_timeout,
    validation_error,
)

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
