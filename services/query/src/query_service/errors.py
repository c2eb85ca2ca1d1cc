"""The query service's problems, framework-free: what `query_service.problems` renders.

`ProblemError` is raised by the REST operations (`query_service.rest`), the FastAPI
dependencies and the GraphQL resolvers alike; each edge turns it into its own response (a
problem+json document, a GraphQL error). Nothing here imports a web framework, so that the
Lambda fast path can raise and render these without FastAPI.
"""

from __future__ import annotations

import logging

from auth import AuthError, AuthUnavailableError
from http_kit.problems import RETRY_AFTER_SECONDS, Problem
from read_model import ReadModelUnavailableError

__all__ = [
    "ProblemError",
    "group_chat_not_found",
    "member_not_found",
    "message_not_found",
    "method_not_allowed",
    "problem_for",
]

_log = logging.getLogger("query_service.problems")


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers

    @classmethod
    def validation(cls, field: str, message: str) -> ProblemError:
        """400 `validation_error` about `field`; the detail reads `<field>: <message>`."""
        return cls(400, "validation_error", f"{field}: {message}", field=field)

    @classmethod
    def not_found(cls, code: str, detail: str) -> ProblemError:
        """404 with a specific `code` (e.g. `group_chat_not_found`)."""
        return cls(404, code, detail)

    def problem(self) -> Problem:
        """The problem document this error answers with."""
        return Problem(
            self.status, self.code, self.detail, field=self.field, headers=self.headers or {}
        )


def group_chat_not_found(group_chat_id: str) -> ProblemError:
    """404 `group_chat_not_found` (also when the caller may not see the chat)."""
    return ProblemError.not_found(
        "group_chat_not_found", f"no group chat {group_chat_id} visible to the caller"
    )


def member_not_found(member_user_account_id: str, group_chat_id: str) -> ProblemError:
    """404 `member_not_found`: the chat is visible, the user account is not a member of it."""
    return ProblemError.not_found(
        "member_not_found",
        f"{member_user_account_id} is not a member of group chat {group_chat_id}",
    )


def message_not_found(message_id: str) -> ProblemError:
    """404 `message_not_found` (also when the caller may not see the message's chat)."""
    return ProblemError.not_found(
        "message_not_found", f"no message {message_id} visible to the caller"
    )


def method_not_allowed(method: str) -> Problem:
    """405 `method_not_allowed` (the response also needs `Allow`)."""
    return Problem(405, "method_not_allowed", f"{method} is not allowed here")


def problem_for(exc: Exception) -> Problem | None:
    """The problem `exc` answers with, when it is one of the errors a request may end in:
    `ProblemError`, `auth.AuthError` (401/403), `ReadModelUnavailableError` (503, logged as a
    warning) or `auth.AuthUnavailableError` (503, logged). None for anything else: a bug,
    answered with a 500 `internal_error` by each edge."""
    if isinstance(exc, ProblemError):
        return exc.problem()
    if isinstance(exc, AuthError):
        return Problem(exc.status, exc.code, exc.detail, headers=dict(exc.headers))
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, ReadModelUnavailableError):
        _log.warning("read model unavailable: %s", exc, exc_info=exc)
        detail = "the read model is temporarily unavailable; retry later"
        return Problem(503, "service_unavailable", detail, headers=retry)
    if isinstance(exc, AuthUnavailableError):
        _log.warning("token keys unavailable: %s", exc)
        detail = "the keys to verify tokens cannot be fetched right now; retry later"
        return Problem(503, "service_unavailable", detail, headers=retry)
    return None
