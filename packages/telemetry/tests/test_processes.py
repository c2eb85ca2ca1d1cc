"""Whole-process behaviour: import cost when tracing is off, environment-driven set-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from telemetry.testing import OtlpReceiver


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.slow
def test_no_opentelemetry_sdk_is_imported_when_tracing_is_off() -> None:
    script = """
        import json, logging, sys

        def loaded():
            prefixes = ("opentelemetry", "google.protobuf", "requests", "botocore", "fastapi")
            return sorted(m for m in sys.modules if m.startswith(prefixes))

        import telemetry
        after_import = loaded()
        handle = telemetry.configure("svc")
        after_configure = loaded()

        tracer = telemetry.get_tracer("svc")
        with tracer.start_as_current_span("noop"):
            logging.getLogger("svc").info("hello")
            carrier = telemetry.inject_context()
        telemetry.link_from({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
        app = object()
        same_app = telemetry.instrument_fastapi(app) is app
        telemetry.flush()
        print(json.dumps({
            "enabled": handle.tracing_enabled,
            "after_import": after_import,
            "after_configure": after_configure,
            "after_use": loaded(),
            "carrier": carrier,
            "same_app": same_app,
        }))
    """
    output = _run(script, {}).stdout.splitlines()

    result = json.loads(output[-1])
    assert result["enabled"] is False
    assert result["after_import"] == []
    assert result["after_configure"] == []
    heavy = [
        m
        for m in result["after_use"]
        if not m.startswith(("opentelemetry.trace", "opentelemetry.context", "opentelemetry.util"))
        and m
        not in {"opentelemetry", "opentelemetry.attributes", "opentelemetry.environment_variables"}
    ]
    assert heavy == []
    assert result["carrier"] == {}
    assert result["same_app"] is True
    assert json.loads(output[0])["message"] == "hello"


@pytest.mark.slow
def test_spans_are_exported_at_exit_when_configured_from_the_environment(
    receiver: OtlpReceiver,
) -> None:
    script = """
        import telemetry

        handle = telemetry.configure("default-name")
        with telemetry.get_tracer("proc").start_as_current_span("unflushed-work"):
            pass
        print(handle.service_name)
        # No flush: the SDK's exit hook must export what is still buffered.
    """
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=CommandServer,deployment.environment=e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    }
    completed = _run(script, env)

    span = receiver.wait_for(lambda s: s.name == "unflushed-work")
    assert completed.stdout.strip() == "CommandServer"
    assert span.service_name == "CommandServer"
    assert span.resource_attributes["deployment.environment"] == "e2e"
