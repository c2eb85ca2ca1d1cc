"""Bearer-token (JWT) authentication shared by the command and query services.

One place for verifying who the caller is; the services only decide what the caller may do.

    from auth import AuthSettings, Authenticator, AuthenticationMiddleware, require_principal

    settings = AuthSettings.from_env()          # AUTH_MODE=none|jwt, AUTH_ISSUER, AUTH_AUDIENCE,
                                                # AUTH_JWKS_FILE or AUTH_JWKS_URL, AUTH_ALGORITHMS
    authenticator = Authenticator(settings, subject_parser=to_user_account_id)
    app.add_middleware(AuthenticationMiddleware, authenticator=authenticator,
                       protection=lambda path: "required", render=render_problem)
    principal = require_principal(request.scope)   # in a route, when authenticator.enabled

In `jwt` mode the caller is the token's `sub`: on AWS, API Gateway's HTTP API JWT authorizer
has verified the token and put its claims in the Lambda event (Mangum's `scope["aws.event"]`);
elsewhere the `Authorization: Bearer` token is verified here with PyJWT against the configured
JWKS, issuer and audience (RS256/ES256 by default, never `none` or HMAC). Errors: `AuthError`
(401 `unauthorized` with `WWW-Authenticate: Bearer`, 403 `forbidden`), `AuthUnavailableError`
(the JWKS URL is unreachable: 503). `auth.testing` makes keys, a JWKS file and tokens for tests.
Depends on PyJWT only; no web framework.
"""

from auth._asgi import (
    SCOPE_KEY,
    AuthenticationMiddleware,
    Authenticator,
    AuthState,
    Protection,
    aws_authorizer_claims,
    require_principal,
)
from auth._core import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    AuthError,
    AuthSettings,
    AuthUnavailableError,
    JwtVerifier,
    Principal,
    SubjectParser,
)

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "SCOPE_KEY",
    "AuthError",
    "AuthSettings",
    "AuthState",
    "AuthUnavailableError",
    "AuthenticationMiddleware",
    "Authenticator",
    "JwtVerifier",
    "Principal",
    "Protection",
    "SubjectParser",
    "aws_authorizer_claims",
    "check_subject",
    "require_principal",
]


def check_subject(principal: Principal, claimed: str, *, field: str) -> None:
    """Raise `AuthError.forbidden` (403) unless `claimed` (canonical) is the caller's subject.

    `field` names the request field that claimed it (`executorId`, `userAccountId`).
    """
    if claimed != principal.subject:
        raise AuthError.forbidden(
            f"{field} {claimed} is not the authenticated caller ({principal.subject})"
        )
