"""Settings, errors, principals, and JWT verification (framework-free)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import jwt

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "AuthError",
    "AuthSettings",
    "AuthUnavailableError",
    "JwtVerifier",
    "Principal",
]

_log = logging.getLogger(__name__)

AuthMode = Literal["none", "jwt"]

ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""What `AUTH_ALGORITHMS` may name. Never `none` nor an HMAC algorithm: with a shared secret,
anyone who can verify tokens can also mint them, and the JWKS is public."""
DEFAULT_ALGORITHMS: Final = ("RS256", "ES256")
DEFAULT_LEEWAY_SECONDS: Final = 30
REALM: Final = "cqrs-es"


class AuthError(Exception):
    """The request is not authenticated (401 `unauthorized`) or not allowed (403 `forbidden`).

    `headers` go on the HTTP response: a 401 carries `WWW-Authenticate: Bearer …` (RFC 6750),
    with `error="invalid_token"` when a token was sent but cannot be accepted.
    """

    def __init__(
        self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers: Mapping[str, str] = dict(headers or {})

    @classmethod
    def unauthorized(cls, detail: str, *, invalid_token: bool = True) -> AuthError:
        """401: no usable bearer token. `invalid_token=False` when none was sent at all."""
        challenge = f'Bearer realm="{REALM}"'
        if invalid_token:
            description = detail.replace("\\", "\\\\").replace('"', "'")
            challenge += f', error="invalid_token", error_description="{description}"'
        return cls(401, "unauthorized", detail, {"WWW-Authenticate": challenge})

    @classmethod
    def forbidden(cls, detail: str) -> AuthError:
        """403: authenticated, but acting for someone else."""
        return cls(403, "forbidden", detail)


class AuthUnavailableError(Exception):
    """The keys to verify tokens cannot be fetched right now (a 503 at the edge, retryable)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: `subject` (normalized by the service) and the token's claims."""

    subject: str
    claims: Mapping[str, Any] = field(default_factory=dict)


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How requests are authenticated. `from_env()` reads the `AUTH_*` variables.

    - `mode`: `none` (default; the body's `executorId` / the `userAccountId` parameter is
      trusted, as in local development) or `jwt` (the caller is the `sub` of a verified JWT).
    - `issuer`, `audience`: the `iss` and `aud` a token must have (required, with a JWKS).
    - `jwks_file` or `jwks_url`: where the issuer's public keys are (a JWKS document). Without
      either, only claims that API Gateway's JWT authorizer has verified are accepted (AWS).
    - `algorithms`: accepted signature algorithms, asymmetric ones only (RS256, ES256).
    - `leeway_seconds`: clock skew tolerated on `exp`, `nbf` and `iat`.
    """

    mode: AuthMode = "none"
    issuer: str | None = None
    audience: str | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS

    def __post_init__(self) -> None:
        if self.mode not in ("none", "jwt"):
            raise ValueError(f"AUTH_MODE must be 'none' or 'jwt', got {self.mode!r}")
        if not self.algorithms or not set(self.algorithms) <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                f"AUTH_ALGORITHMS must name asymmetric algorithms among "
                f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))}; got {', '.join(self.algorithms)!r}"
            )
        if self.leeway_seconds < 0:
            raise ValueError("AUTH_LEEWAY_SECONDS must not be negative")
        if self.jwks_file and self.jwks_url:
            raise ValueError("set AUTH_JWKS_FILE or AUTH_JWKS_URL, not both")
        if self.mode == "jwt" and self.verifies_locally and not (self.issuer and self.audience):
            raise ValueError(
                "AUTH_MODE=jwt with a JWKS needs AUTH_ISSUER and AUTH_AUDIENCE: a token is only "
                "accepted from the configured issuer, for this API"
            )

    @property
    def enabled(self) -> bool:
        """Whether requests must be authenticated."""
        return self.mode == "jwt"

    @property
    def verifies_locally(self) -> bool:
        """Whether bearer tokens are verified here (a JWKS is configured)."""
        return bool(self.jwks_file or self.jwks_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        """Read `AUTH_MODE`, `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_JWKS_FILE`, `AUTH_JWKS_URL`,
        `AUTH_ALGORITHMS` (comma-separated) and `AUTH_LEEWAY_SECONDS`. Raises ValueError."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        leeway = get("AUTH_LEEWAY_SECONDS")
        if leeway is not None and not leeway.isdigit():
            raise ValueError(f"AUTH_LEEWAY_SECONDS must be a whole number, got {leeway!r}")
        mode = (get("AUTH_MODE") or "none").lower()
        return cls(
            mode=mode,  # type: ignore[arg-type]  # checked in __post_init__
            issuer=get("AUTH_ISSUER"),
            audience=get("AUTH_AUDIENCE"),
            jwks_file=get("AUTH_JWKS_FILE"),
            jwks_url=get("AUTH_JWKS_URL"),
            algorithms=_split(get("AUTH_ALGORITHMS") or ",".join(DEFAULT_ALGORITHMS)),
            leeway_seconds=int(leeway) if leeway is not None else DEFAULT_LEEWAY_SECONDS,
        )


class JwtVerifier:
    """Verifies bearer tokens: signature (a key of the JWKS), `iss`, `aud`, `exp`, `sub`.

    The JWKS comes from a file (read once, here) or a URL (fetched on first use and cached by
    PyJWT's `PyJWKClient`; an unknown `kid` refetches it, so key rotation works).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        jwks_file: str | os.PathLike[str] | None = None,
        jwks_url: str | None = None,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        if (jwks_file is None) == (jwks_url is None):
            raise ValueError("give exactly one of jwks_file and jwks_url")
        # PyJWT (and cryptography under it) is imported here, not with the package: a Lambda
        # behind API Gateway's JWT authorizer never verifies a token itself, and would pay some
        # 40 ms of cold start for nothing.
        import jwt

        self.issuer = issuer
        self.audience = audience
        self.algorithms = list(algorithms)
        self.leeway_seconds = leeway_seconds
        self._keys: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if jwks_file is not None:
            self._keys = _load_jwks_file(Path(jwks_file))
        else:
            assert jwks_url is not None
            self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> JwtVerifier:
        """The verifier `settings` describe (they must name a JWKS)."""
        if not settings.verifies_locally or not settings.issuer or not settings.audience:
            raise ValueError("local verification needs AUTH_ISSUER, AUTH_AUDIENCE and a JWKS")
        return cls(
            issuer=settings.issuer,
            audience=settings.audience,
            algorithms=settings.algorithms,
            jwks_file=settings.jwks_file,
            jwks_url=settings.jwks_url,
            leeway_seconds=settings.leeway_seconds,
        )

    @property
    def fetches_keys(self) -> bool:
        """Whether `verify` may do network I/O (a JWKS URL): call it off the event loop."""
        return self._client is not None

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of `token` once verified. Raises `AuthError` (401) or
        `AuthUnavailableError` (the JWKS URL cannot be reached)."""
        import jwt

        try:
            key = self._signing_key(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError.unauthorized("the token has expired") from None
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthUnavailableError(f"cannot fetch the JWKS: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise AuthError.unauthorized(f"the token is not valid: {exc}") from None
        return claims

    def _signing_key(self, token: str) -> Any:
        import jwt

        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if kid is None:
            keys = [k for k in self._keys.keys if k.public_key_use in (None, "sig")]
            if len(keys) != 1:
                raise jwt.InvalidTokenError("the token names no key (kid) and the JWKS has several")
            return keys[0].key
        try:
            return self._keys[kid].key
        except KeyError:
            raise jwt.InvalidTokenError(f"no key {kid!r} in the JWKS") from None


def _load_jwks_file(path: Path) -> jwt.PyJWKSet:
    import jwt

    try:
        return jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"AUTH_JWKS_FILE {str(path)!r} cannot be read: {exc}") from exc
    except (jwt.PyJWKSetError, jwt.PyJWKError, json.JSONDecodeError) as exc:
        raise ValueError(f"AUTH_JWKS_FILE {str(path)!r} is not a usable JWKS: {exc}") from exc


SubjectParser = Callable[[str], str]
"""Turns a token's `sub` into the service's canonical caller id; raises ValueError if it is none."""
