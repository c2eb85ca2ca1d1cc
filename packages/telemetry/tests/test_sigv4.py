"""SigV4 signing of OTLP exports (as the X-Ray OTLP endpoint requires), checked offline."""

from __future__ import annotations

import pytest
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
