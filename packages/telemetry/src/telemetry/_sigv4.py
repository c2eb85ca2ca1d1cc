"""AWS SigV4 signing for OTLP/HTTP requests to the X-Ray OTLP endpoint.

The X-Ray OTLP endpoint (``https://xray.<region>.amazonaws.com/v1/traces``) accepts only
SigV4-signed requests. The AWS distro for OpenTelemetry ships a signing exporter, but its package
pins exact versions of the SDK and some fifty instrumentation packages, so instead the stock OTLP
exporter is handed a ``requests`` session whose auth hook signs each request.

The signature itself is computed here with ``hmac`` and ``hashlib`` (the algorithm is small and
fixed; the tests check it against botocore's signer). Importing botocore and building its
session would cost a Lambda cold start some 80-150 ms for nothing: Lambda hands the function's
role credentials over in environment variables, which are read here directly. Only when they are
absent (a container or instance role, a shared profile) are credentials taken from botocore's
default chain, imported then, which refreshes expiring ones.

Imported only when a signing region is selected.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from telemetry._settings import TelemetryConfigError

try:
    import requests
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise TelemetryConfigError(
        f"the OTLP endpoint needs AWS SigV4 signing, which needs requests; "
        f"depend on telemetry[otel] ({exc})"
    ) from exc

__all__ = ["AwsCredentials", "AwsSigV4Auth", "sigv4_headers", "sigv4_session"]

ALGORITHM = "AWS4-HMAC-SHA256"
# Only these request headers are signed (plus host and the x-amz-* headers added here): headers
# like Connection or User-Agent may be rewritten on the way and would break the signature.
_SIGNED_HEADERS = ("content-type", "content-encoding")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An access key pair, with the session token of temporary (role) credentials."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials(access_key={self.access_key!r}, secret_key=..., token=...)"


def environment_credentials(environ: Mapping[str, str] | None = None) -> AwsCredentials | None:
    """Credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``.

    These come first in every AWS SDK's chain, and are how Lambda passes the role's credentials.
    """
    env = os.environ if environ is None else environ
    access_key = env.get("AWS_ACCESS_KEY_ID")
    secret_key = env.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        return None
    return AwsCredentials(access_key, secret_key, env.get("AWS_SESSION_TOKEN") or None)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def sigv4_headers(
    method: str,
    url: str,
    headers: Mapping[str, str | bytes],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign a request with SigV4: ``Authorization``, ``X-Amz-Date`` and, for
    temporary credentials, ``X-Amz-Security-Token``.

    ``headers`` are the request's own; of them only ``Content-Type`` and ``Content-Encoding`` are
    signed (names matched case-insensitively), with ``host`` taken from ``url``.
    """
    timestamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    day = timestamp[:8]
    added = {"X-Amz-Date": timestamp}
    if credentials.token:
        added["X-Amz-Security-Token"] = credentials.token

    lowered = {
        k.lower(): v.decode("latin-1") if isinstance(v, bytes) else v for k, v in headers.items()
    }
    to_sign = {name: lowered[name] for name in _SIGNED_HEADERS if name in lowered}
    to_sign["host"] = _host(url)
    to_sign.update((k.lower(), v) for k, v in added.items())
    names = sorted(to_sign)
    canonical_headers = "".join(f"{n}:{' '.join(str(to_sign[n]).split())}\n" for n in names)
    signed_headers = ";".join(names)

    parts = urlsplit(url)
    canonical_request = "\n".join(
        (
            method.upper(),
            quote(parts.path or "/", safe="/~"),
            _canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    key = _hmac(("AWS4" + credentials.secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added


class AwsSigV4Auth(requests.auth.AuthBase):
    """``requests`` auth hook that signs the final request (body included) with SigV4.

    Credentials are read from the environment on every request (cheap, and a rotated key is
    picked up); without them, botocore's default chain (container or instance role, shared
    config) is built once, on the first request, and refreshes expiring credentials itself.
    """

    def __init__(self, region: str, service: str = "xray", botocore_session: Any = None) -> None:
        self.region = region
        self.service = service
        self._botocore_session = botocore_session
        self._botocore_credentials: Any = None
        self._lock = threading.Lock()

    def _credentials(self) -> AwsCredentials:
        if self._botocore_session is None and (found := environment_credentials()) is not None:
            return found
        return self._from_botocore()

    def _from_botocore(self) -> AwsCredentials:
        if self._botocore_credentials is None:
            with self._lock:
                if self._botocore_credentials is None:
                    session = self._botocore_session or _botocore_session()
                    # Not cached when absent, so a transient failure (IMDS timeout) heals.
                    self._botocore_credentials = session.get_credentials()
        if self._botocore_credentials is None:
            raise TelemetryConfigError(
                "no AWS credentials found to sign OTLP requests to the X-Ray endpoint"
            )
        frozen = self._botocore_credentials.get_frozen_credentials()
        return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):  # a streamed body: its hash cannot be known up front
            raise TypeError("SigV4 signing needs the whole request body as bytes")
        request.headers.update(
            sigv4_headers(
                request.method or "POST",
                request.url or "",
                request.headers,
                body,
                self._credentials(),
                self.region,
                self.service,
            )
        )
        return request


def _botocore_session() -> Any:
    try:
        from botocore.session import Session
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise TelemetryConfigError(
            "no AWS credentials in the environment to sign OTLP requests to the X-Ray endpoint, "
            f"and botocore (for the other credential sources) is not installed ({exc})"
        ) from exc
    return Session()


def sigv4_session(region: str, service: str = "xray") -> requests.Session:
    """A ``requests`` session that SigV4-signs every request for ``service`` in ``region``."""
    session = requests.Session()
    session.auth = AwsSigV4Auth(region, service)
    return session
