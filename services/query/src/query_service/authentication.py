"""Who may read what: with `AUTH_MODE=jwt`, a caller reads only as itself.

The caller is authenticated by the shared `auth` package (a verified JWT's `sub`, a user
account id with or without its prefix). Here:

- the REST reads (`/query/v1/group-chats…`, `/query/v1/messages…`) require a caller: without
  an acceptable token they are refused with 401 `unauthorized` (`WWW-Authenticate: Bearer`);
- GraphQL (`/query/graphql`) refuses a bad token with HTTP 401, but lets a request without one
  through so that `{ __typename }` answers; a query field without a caller fails with
  `extensions.code` `"401"`;
- a `userAccountId` (the caller parameter) that is not the token's subject is 403
  `forbidden` (GraphQL: `"403"`): nobody reads someone else's chats;
- the health checks and the OpenAPI document stay public.

With `AUTH_MODE=none` (the default) nothing is checked and `userAccountId` is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from auth import (
    AuthenticationMiddleware,
    Authenticator,
    AuthError,
    AuthSettings,
    AuthUnavailableError,
    Protection,
    check_subject,
    require_principal,
)
from chat_domain.errors import ValidationError
from chat_domain.ids import UserAccountId
from http_kit.problems import PROBLEM_MEDIA_TYPE, RETRY_AFTER_SECONDS

__all__ = [
    "AuthenticationMiddleware",
    "authenticator_for",
    "authorize_caller",
    "caller_check",
    "protection_for",
    "refusal_renderer",
    "user_account_subject",
]

_REST_PREFIXES = ("/query/v1/group-chats", "/query/v1/messages")


def user_account_subject(subject: str) -> str:
    """A token's `sub` as a `UserAccount-<ULID>` id; ValueError when it is not one."""
    try:
        return str(UserAccountId.parse(subject, field="sub"))
    except ValidationError as exc:
        raise ValueError(exc.message) from None


def authenticator_for(settings: AuthSettings) -> Authenticator:
    """The query service's authenticator: subjects are user account ids."""
    return Authenticator(settings, subject_parser=user_account_subject)


def protection_for(graphql_path: str) -> Callable[[str], Protection]:
    """How each path is guarded (see the module docstring)."""

    def protection(path: str) -> Protection:
        if path.startswith(_REST_PREFIXES):
            return "required"
        if path.rstrip("/") == graphql_path:
            return "optional"
        return "public"

    return protection


def _problem(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    if isinstance(exc, AuthError):
        return exc.status, exc.code, exc.detail, dict(exc.headers)
    if isinstance(exc, AuthUnavailableError):
        detail = "the keys to verify tokens cannot be fetched right now; retry later"
        return 503, "service_unavailable", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return 500, "internal_error", "an unexpected error occurred", {}


def refusal_renderer(
    graphql_path: str,
) -> Callable[[Exception, Any], tuple[int, list[tuple[bytes, bytes]], bytes]]:
    """Renders a refusal as problem+json, or in GraphQL's shape for `graphql_path`."""

    def render(exc: Exception, scope: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        status, code, detail, extra = _problem(exc)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        if str(scope.get("path", "")).rstrip("/") == graphql_path:
            graphql_code = "500" if status >= 500 else str(status)
            error = {"message": detail, "extensions": {"code": graphql_code, "reason": code}}
            body = json.dumps({"errors": [error]}).encode()
            return status, [(b"content-type", b"application/json"), *headers], body
        problem = {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
        }
        media_type = PROBLEM_MEDIA_TYPE.encode()
        return status, [(b"content-type", media_type), *headers], json.dumps(problem).encode()

    return render


def authorize_caller(
    authenticator: Authenticator, scope: Mapping[str, Any], caller: UserAccountId | str
) -> None:
    """Allow the read only if `caller` (`userAccountId`) is the authenticated caller.

    A no-op with authentication off. Raises `auth.AuthError`: 401 without a caller, 403 when
    `caller` is someone else.
    """
    if not authenticator.enabled:
        return
    check_subject(require_principal(scope), str(caller), field="userAccountId")


def caller_check(authenticator: Authenticator, scope: Mapping[str, Any]) -> Callable[[str], None]:
    """`authorize_caller` bound to one request (what the GraphQL resolvers get)."""
    return lambda caller: authorize_caller(authenticator, scope, caller)
