"""The ASGI side: who the caller of a request is (`Authenticator`, `AuthenticationMiddleware`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from auth._core import (
    AuthError,
    AuthSettings,
    AuthUnavailableError,
    JwtVerifier,
    Principal,
    SubjectParser,
)

__all__ = [
    "SCOPE_KEY",
    "AuthState",
    "AuthenticationMiddleware",
    "Authenticator",
    "Protection",
    "aws_authorizer_claims",
    "require_principal",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY: Final = "cqrs_es.auth"
"""Where the middleware leaves its `AuthState` in the ASGI scope."""

Protection = Literal["required", "optional", "public"]
"""How a path is guarded:

- `required`: a request without an acceptable token is refused (401) before the app sees it;
- `optional`: a bad token is refused, a missing one is not (the app decides per operation:
  GraphQL answers `{ __typename }` without a token, but not a mutation);
- `public`: never authenticated (health checks, the OpenAPI document).
"""


def _identity(subject: str) -> str:
    return subject


@dataclass(frozen=True, slots=True)
class AuthState:
    """The outcome of authenticating one request: a principal, or the error to report."""

    principal: Principal | None
    error: AuthError | None = None


def aws_authorizer_claims(scope: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The claims API Gateway's JWT authorizer verified, when the request came through one.

    Mangum puts the Lambda event in `scope["aws.event"]`; an HTTP API (payload 2.0) with a JWT
    authorizer puts the token's claims in `requestContext.authorizer.jwt.claims`. Only API
    Gateway can produce that event: a client cannot forge it through HTTP.
    """
    event = scope.get("aws.event")
    if not isinstance(event, Mapping):
        return None
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    jwt_part = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    claims = jwt_part.get("claims") if isinstance(jwt_part, Mapping) else None
    return claims if isinstance(claims, Mapping) else None


def _bearer_token(scope: Mapping[str, Any]) -> str | None:
    """The token of an `Authorization: Bearer …` header; "" for another scheme or none given."""
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


class Authenticator:
    """Finds the caller of a request, per `AuthSettings`.

    In `jwt` mode the caller is the `sub` claim, turned into the service's canonical id by
    `subject_parser` (a subject it rejects is a 401): taken from API Gateway's authorizer when
    the request came through one (already verified there), else from a bearer token verified
    with the configured JWKS. In `none` mode (`enabled` is False) nobody is authenticated and
    the services trust the ids in the request, as before.
    """

    def __init__(
        self, settings: AuthSettings, *, subject_parser: SubjectParser = _identity
    ) -> None:
        self.settings = settings
        self._parse_subject = subject_parser
        self.verifier = (
            JwtVerifier.from_settings(settings)
            if settings.enabled and settings.verifies_locally
            else None
        )

    @property
    def enabled(self) -> bool:
        """Whether requests must be authenticated (`AUTH_MODE=jwt`)."""
        return self.settings.enabled

    def authenticate(self, scope: Mapping[str, Any]) -> Principal:
        """The caller of the request `scope` describes. Raises `AuthError` (401) or
        `AuthUnavailableError`. May block on network I/O when the JWKS comes from a URL."""
        claims = aws_authorizer_claims(scope)
        if claims is None:
            token = _bearer_token(scope)
            if token is None:
                raise AuthError.unauthorized(
                    "authentication required: send `Authorization: Bearer <token>`",
                    invalid_token=False,
                )
            if not token:
                raise AuthError.unauthorized("the Authorization header must be `Bearer <token>`")
            if self.verifier is None:
                raise AuthError.unauthorized(
                    "bearer tokens are not accepted here (no JWKS is configured)"
                )
            claims = self.verifier.verify(token)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError.unauthorized("the token has no subject (sub)")
        try:
            canonical = self._parse_subject(subject)
        except ValueError:
            raise AuthError.unauthorized(
                f"the token's subject {subject!r:.80} is not a user account id"
            ) from None
        return Principal(canonical, dict(claims))


def require_principal(scope: Mapping[str, Any]) -> Principal:
    """The authenticated caller of a request that went through `AuthenticationMiddleware`.

    Raises the `AuthError` recorded for it (401), and also when the middleware did not run:
    a service that enables authentication and forgot the middleware fails closed.
    """
    state = scope.get(SCOPE_KEY)
    if not isinstance(state, AuthState):
        raise AuthError.unauthorized("the request was not authenticated", invalid_token=False)
    if state.principal is None:
        raise state.error or AuthError.unauthorized("not authenticated", invalid_token=False)
    return state.principal


Render = Callable[[Exception, Scope], tuple[int, list[tuple[bytes, bytes]], bytes]]
"""Builds the response to an `AuthError` or `AuthUnavailableError`: status, headers, body."""


class AuthenticationMiddleware:
    """Authenticates each HTTP request before the app runs, per the path's `Protection`.

    Leaves an `AuthState` in `scope[SCOPE_KEY]` (read it with `require_principal`). Refused
    requests get the response `render` builds (the services answer in their own error format:
    problem+json for REST, a GraphQL `errors` document for GraphQL), and the body is not read.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        protection: Callable[[str], Protection],
        render: Render,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.protection = protection
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.authenticator.enabled:
            await self.app(scope, receive, send)
            return
        protection = self.protection(str(scope.get("path", "")))
        if protection == "public":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
            scope[SCOPE_KEY] = AuthState(principal)
        except AuthError as exc:
            sent_credentials = _bearer_token(scope) is not None
            if protection == "required" or sent_credentials:
                await self._refuse(exc, scope, send)
                return
            scope[SCOPE_KEY] = AuthState(None, exc)
        except AuthUnavailableError as exc:
            await self._refuse(exc, scope, send)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Principal:
        verifier = self.authenticator.verifier
        if verifier is not None and verifier.fetches_keys:
            # Fetching the JWKS blocks: keep it off the event loop. Imported here: the Lambda
            # fast paths use this module's framework-free parts, and asyncio costs ~20 ms there.
            import asyncio

            return await asyncio.to_thread(self.authenticator.authenticate, scope)
        return self.authenticator.authenticate(scope)

    async def _refuse(self, exc: Exception, scope: Scope, send: Send) -> None:
        status, headers, body = self.render(exc, scope)
        # The body was not read: the connection must not be reused for a next request.
        headers = [*headers, (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
