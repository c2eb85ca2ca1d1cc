"""SigV4 signing of OTLP exports (as the X-Ray OTLP endpoint requires), checked offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import telemetry
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from telemetry import TelemetrySettings
from telemetry.testing import OtlpReceiver

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "session-token-example"
REGION = "ap-northeast-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Environment credentials come first in botocore's chain, so nothing looks further (no IMDS).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


def _expected_signature(url: str, headers: dict[str, str], body: bytes) -> str:
    """Recompute the signature over what the receiver actually got."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": headers["content-type"],
            "X-Amz-Date": headers["x-amz-date"],
            "X-Amz-Security-Token": headers["x-amz-security-token"],
        },
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "xray", REGION)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)


@pytest.mark.usefixtures("aws_credentials")
def test_exports_carry_a_valid_sigv4_signature_when_a_signing_region_is_set(
    receiver: OtlpReceiver,
) -> None:
    telemetry.configure(
        "command-service",
        TelemetrySettings(otlp_traces_endpoint=receiver.traces_endpoint, sigv4_region=REGION),
    )
    with telemetry.get_tracer("t").start_as_current_span("signed"):
        pass

    assert telemetry.flush()
    receiver.wait_for(lambda s: s.name == "signed")
    [request] = receiver.requests
    authorization = request.headers["authorization"]
    date = request.headers["x-amz-date"][:8]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{date}/{REGION}/xray/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )
    assert request.headers["x-amz-security-token"] == SESSION_TOKEN
    signature = authorization.rsplit("Signature=", 1)[1]
    assert signature == _expected_signature(receiver.traces_endpoint, request.headers, request.body)


def test_exports_are_unsigned_when_the_endpoint_is_not_aws(receiver: OtlpReceiver) -> None:
    telemetry.configure("svc", TelemetrySettings(otlp_endpoint=receiver.endpoint))
    with telemetry.get_tracer("t").start_as_current_span("plain"):
        pass

    telemetry.flush()
    receiver.wait_for(lambda s: s.name == "plain")
    assert "authorization" not in receiver.requests[0].headers


@pytest.mark.usefixtures("aws_credentials")
def test_the_xray_endpoint_is_accepted_without_network_access_when_configured() -> None:
    # Building the pipeline for the real endpoint resolves nothing remotely; only an export
    # (none happens here: no span is recorded) would.
    handle = telemetry.configure(
        "svc",
        TelemetrySettings.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://xray.{REGION}.amazonaws.com"}
        ),
    )

    assert handle.tracing_enabled
    assert handle.settings.signing_region == REGION


def _botocore_authorization(
    url: str, headers: dict[str, str], body: bytes, credentials: ReadOnlyCredentials, date: str
) -> str:
    """botocore's Authorization header for the request, signed at ``date``."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    request.headers["X-Amz-Date"] = date
    if credentials.token:
        request.headers["X-Amz-Security-Token"] = credentials.token
    request.context["timestamp"] = date
    signer = SigV4Auth(credentials, "xray", REGION)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    scope = f"{date[:8]}/{REGION}/xray/aws4_request"
    signed = signer.signed_headers(signer.headers_to_sign(request))
    return (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


@pytest.mark.parametrize(
    ("url", "headers", "body", "token"),
    [
        (
            "https://xray.ap-northeast-1.amazonaws.com/v1/traces",
            {"Content-Type": "application/x-protobuf"},
            b"\x0a\x03abc",
            SESSION_TOKEN,
        ),
        (
            "http://127.0.0.1:4318/v1/traces?b=2&a=x%20y&a=1",
            {"content-type": "application/x-protobuf", "Content-Encoding": "gzip"},
            b"",
            None,
        ),
        (
            "https://example.com:443/a path/~x",
            {"Content-Type": "  text/plain;   charset=utf-8 "},
            "é".encode(),
            SESSION_TOKEN,
        ),
    ],
)
def test_signature_matches_botocores_when_signing_a_request(
    url: str, headers: dict[str, str], body: bytes, token: str | None
) -> None:
    from datetime import UTC, datetime

    from telemetry._sigv4 import AwsCredentials, sigv4_headers

    now = datetime(2026, 3, 12, 19, 3, 58, tzinfo=UTC)
    ours = sigv4_headers(
        "POST",
        url,
        headers,
        body,
        AwsCredentials(ACCESS_KEY, SECRET_KEY, token),
        REGION,
        "xray",
        now,
    )

    theirs = _botocore_authorization(
        url, headers, body, ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, token), "20260312T190358Z"
    )
    assert ours["Authorization"] == theirs
    assert ours["X-Amz-Date"] == "20260312T190358Z"
    assert ours.get("X-Amz-Security-Token") == token


def test_credentials_come_from_botocores_chain_when_the_environment_has_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from telemetry._sigv4 import AwsSigV4Auth

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "credentials"
    shared.write_text(
        f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    request = requests.Request(
        "POST", "https://xray.ap-northeast-1.amazonaws.com/v1/traces", data=b"x"
    ).prepare()

    AwsSigV4Auth(REGION)(request)

    assert request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "X-Amz-Security-Token" not in request.headers
