"""Test helpers: a token issuer with its own keys, its JWKS file, and tokens to send.

    issuer = TokenIssuer(tmp_path)                     # RSA and EC keys, JWKS at issuer.jwks_file
    settings = issuer.settings()                       # AuthSettings(mode="jwt", …) using them
    token = issuer.token("UserAccount-01H…")           # RS256, valid for 5 minutes
    headers = {"Authorization": f"Bearer {token}"}

Keys are made with `cryptography` for each issuer (a second issuer's tokens do not verify
against the first one's JWKS). Not for production use.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from auth._core import AuthSettings

__all__ = ["AUDIENCE", "ISSUER", "TokenIssuer", "aws_jwt_event_context"]

ISSUER = "https://issuer.example.test/"
AUDIENCE = "cqrs-es-api"


class TokenIssuer:
    """An identity provider for tests: an RSA key (`rsa`) and an EC P-256 key (`ec`)."""

    def __init__(self, directory: Path, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._ec = ec.generate_private_key(ec.SECP256R1())
        self.kids = {"rsa": f"rsa-{uuid.uuid4().hex[:8]}", "ec": f"ec-{uuid.uuid4().hex[:8]}"}
        keys = [
            {
                **json.loads(RSAAlgorithm.to_jwk(self._rsa.public_key())),
                "kid": self.kids["rsa"],
                "use": "sig",
                "alg": "RS256",
            },
            {
                **json.loads(ECAlgorithm.to_jwk(self._ec.public_key())),
                "kid": self.kids["ec"],
                "use": "sig",
                "alg": "ES256",
            },
        ]
        self.jwks_file = directory / f"jwks-{uuid.uuid4().hex[:8]}.json"
        self.jwks_file.write_text(json.dumps({"keys": keys}), encoding="utf-8")

    def settings(self, **overrides: Any) -> AuthSettings:
        """`AuthSettings` in jwt mode that accept this issuer's tokens."""
        values: dict[str, Any] = {
            "mode": "jwt",
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks_file": str(self.jwks_file),
        }
        return AuthSettings(**(values | overrides))

    def environ(self) -> dict[str, str]:
        """The `AUTH_*` variables that configure the same as `settings()`."""
        return {
            "AUTH_MODE": "jwt",
            "AUTH_ISSUER": self.issuer,
            "AUTH_AUDIENCE": self.audience,
            "AUTH_JWKS_FILE": str(self.jwks_file),
        }

    def token(
        self,
        subject: str | None,
        *,
        key: str = "rsa",
        expires_in: int = 300,
        kid: str | None = "default",
        **claims: Any,
    ) -> str:
        """A signed token for `subject` (None: no `sub`); `claims` override the defaults.

        `key` is `rsa` (RS256) or `ec` (ES256); `kid` "default" names that key, None leaves
        the header without a `kid`.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + expires_in,
        }
        if subject is not None:
            payload["sub"] = subject
        payload.update(claims)
        headers = {} if kid is None else {"kid": self.kids[key] if kid == "default" else kid}
        private = self._rsa if key == "rsa" else self._ec
        algorithm = "RS256" if key == "rsa" else "ES256"
        return jwt.encode(payload, private, algorithm=algorithm, headers=headers)


def aws_jwt_event_context(subject: str, **claims: str) -> dict[str, Any]:
    """The `requestContext.authorizer` part of an HTTP API event after a JWT authorizer."""
    return {
        "jwt": {
            "claims": {"sub": subject, "iss": ISSUER, **claims},
            "scopes": None,
        }
    }
