"""Who may run a command: with `AUTH_MODE=jwt`, only the executor itself.

The caller is authenticated by the shared `auth` package (a verified JWT's `sub`, a user
account id with or without its prefix). This module decides what that means here:

- the REST commands (`/command/v1/group-chats/…`) require a caller: without an acceptable
  token the request is refused with 401 `unauthorized` (and `WWW-Authenticate: Bearer`)
  before its body is read;
- GraphQL (`/command/graphql`) refuses a bad token with HTTP 401 as well, but lets a request
  without one through, so that `{ __typename }` and `healthCheck` still answer; a mutation
  without a caller then fails with `extensions.code` `"401"`;
- a command whose `executorId` is not the caller is refused with 403 `forbidden` (GraphQL:
  `"403"`);
- the health check and the OpenAPI document stay public.

With `AUTH_MODE=none` (the default) nothing is checked and `executorId` is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from auth import (
    AuthenticationMiddleware,
    Authenticator,
    AuthSettings,
    Protection,
    check_subject,
    require_principal,
)
from chat_domain import UserAccountId, ValidationError

from command_service.problems import PROBLEM_MEDIA_TYPE, internal_error, problem_for

__all__ = [
    "AuthenticationMiddleware",
    "authenticator_for",
    "authorize_executor",
    "executor_check",
    "protection_for",
    "refusal_renderer",
    "user_account_subject",
]


def user_account_subject(subject: str) -> str:
    """A token's `sub` as a `UserAccount-<ULID>` id; ValueError when it is not one."""
    try:
        return str(UserAccountId.parse(subject, field="sub"))
    except ValidationError as exc:
        raise ValueError(exc.message) from None


def authenticator_for(settings: AuthSettings) -> Authenticator:
    """The command service's authenticator: subjects are user account ids."""
    return Authenticator(settings, subject_parser=user_account_subject)


def protection_for(*, commands_prefix: str, graphql_path: str) -> Callable[[str], Protection]:
    """How each path is guarded (see the module docstring): REST commands under
    `commands_prefix` require a caller, GraphQL at `graphql_path` may go without."""

    def protection(path: str) -> Protection:
        if path.startswith(f"{commands_prefix}/"):
            return "required"
        if path.rstrip("/") == graphql_path:
            return "optional"
        return "public"

    return protection


def refusal_renderer(
    graphql_path: str,
) -> Callable[[Exception, Any], tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """Renders a refusal as problem+json, or in GraphQL's shape for `graphql_path`."""

    def render(exc: Exception, scope: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        problem = problem_for(exc) or internal_error()
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()
        ]
        if str(scope.get("path", "")).rstrip("/") == graphql_path:
            code = "500" if problem.status >= 500 else str(problem.status)
            error = {
                "message": problem.detail,
                "extensions": {"code": code, "reason": problem.code},
            }
            body = json.dumps({"errors": [error]}).encode()
            return problem.status, [(b"content-type", b"application/json"), *headers], body
        media_type = PROBLEM_MEDIA_TYPE.encode()
        return problem.status, [(b"content-type", media_type), *headers], problem.to_json()

    return render


def authorize_executor(
    authenticator: Authenticator, scope: Mapping[str, Any], executor_id: UserAccountId
) -> None:
    """Allow the command only if `executor_id` is the authenticated caller (when auth is on).

    Raises `auth.AuthError`: 401 when the request has no caller, 403 when the executor is
    someone else.
    """
    if not authenticator.enabled:
        return
    check_subject(require_principal(scope), str(executor_id), field="executorId")


def executor_check(
    authenticator: Authenticator, scope: Mapping[str, Any]
) -> Callable[[UserAccountId], None]:
    """`authorize_executor` bound to one request (what the GraphQL resolvers get)."""
    return lambda executor_id: authorize_executor(authenticator, scope, executor_id)
