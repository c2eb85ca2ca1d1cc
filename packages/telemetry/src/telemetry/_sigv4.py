"""AWS SigV4 signing for OTLP/HTTP requests to the X-Ray OTLP endpoint.

The X-Ray OTLP endpoint (``https://xray.<region>.amazonaws.com/v1/traces``) accepts only
SigV4-signed requests. The AWS distro for OpenTelemetry ships a signing exporter, but its package
pins exact versions of the SDK and some fifty instrumentation packages, so instead the stock OTLP
exporter is handed a ``requests`` session whose auth hook signs each request with botocore (the
credential chain and signer every AWS SDK for Python uses, already present in Lambda).

Imported only when a signing region is selected.
"""

from __future__ import annotations

import threading
from typing import Any

from telemetry._settings import TelemetryConfigError

try:
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import Session as BotocoreSession
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise TelemetryConfigError(
        "the OTLP endpoint needs AWS SigV4 signing, which needs botocore; "
        f"depend on telemetry[otel,aws] ({exc})"
    ) from exc

__all__ = ["AwsSigV4Auth", "sigv4_session"]

# Only these request headers are signed (plus host and the x-amz-* headers the signer adds):
# headers like Connection or User-Agent may be rewritten on the way and would break the signature.
_SIGNED_HEADERS = ("Content-Type", "Content-Encoding")
_AUTH_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


class AwsSigV4Auth(requests.auth.AuthBase):
    """``requests`` auth hook that signs the final request (body included) with SigV4.

    Credentials come from botocore's default chain (environment, shared config, container or
    instance role) and are resolved on the first request; botocore refreshes expiring ones.
    """

    def __init__(self, region: str, service: str = "xray", botocore_session: Any = None) -> None:
        self.region = region
        self.service = service
        self._botocore_session = botocore_session
        self._credentials: Any = None
        self._lock = threading.Lock()

    def _resolve_credentials(self) -> Any:
        if self._credentials is None:
            with self._lock:
                if self._credentials is None:
                    session = self._botocore_session or BotocoreSession()
                    # Not cached when absent, so a transient failure (IMDS timeout) heals.
                    self._credentials = session.get_credentials()
        if self._credentials is None:
            raise TelemetryConfigError(
                "no AWS credentials found to sign OTLP requests to the X-Ray endpoint"
            )
        return self._credentials

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credentials = self._resolve_credentials().get_frozen_credentials()
        aws_request = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body,
            headers={h: request.headers[h] for h in _SIGNED_HEADERS if h in request.headers},
        )
        SigV4Auth(credentials, self.service, self.region).add_auth(aws_request)
        for header in _AUTH_HEADERS:
            if header in aws_request.headers:
                request.headers[header] = aws_request.headers[header]
        return request


def sigv4_session(region: str, service: str = "xray") -> requests.Session:
    """A ``requests`` session that SigV4-signs every request for ``service`` in ``region``."""
    session = requests.Session()
    session.auth = AwsSigV4Auth(region, service)
    return session
