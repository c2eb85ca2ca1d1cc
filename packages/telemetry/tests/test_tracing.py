"""Tracing: export over OTLP, X-Ray ids and propagation, event-metadata links, disabled mode."""

from __future__ import annotations

import time

import pytest
import telemetry
from opentelemetry import propagate, trace
from telemetry import TelemetrySettings
from telemetry.testing import OtlpReceiver

XRAY_TRACE_ID = "5759e988bd862e3fe1be46a994272793"
XRAY_PARENT_ID = "53995c3f42cd8ad8"
XRAY_HEADER = f"Root=1-5759e988-bd862e3fe1be46a994272793;Parent={XRAY_PARENT_ID};Sampled=1"


def _enabled(receiver: OtlpReceiver, **overrides: object) -> telemetry.Telemetry:
    settings = TelemetrySettings(otlp_endpoint=receiver.endpoint, **overrides)  # type: ignore[arg-type]
    return telemetry.configure("test-service", settings)


def test_spans_reach_the_otlp_endpoint_when_flushed(receiver: OtlpReceiver) -> None:
    handle = _enabled(receiver, resource_attributes={"deployment.environment": "test"})
    tracer = telemetry.get_tracer("tests.tracing")

    with tracer.start_as_current_span("parent", attributes={"chat.group_id": "g-1"}) as parent:
        with tracer.start_as_current_span("child"):
            pass
        parent.set_status(trace.Status(trace.StatusCode.ERROR, "bad"))

    assert handle.tracing_enabled
    assert telemetry.flush()
    spans = receiver.wait_until(lambda spans: len(spans) == 2)
    by_name = {s.name: s for s in spans}
    assert by_name["child"].parent_span_id == by_name["parent"].span_id
    assert by_name["child"].trace_id == by_name["parent"].trace_id
    assert by_name["parent"].attributes == {"chat.group_id": "g-1"}
    assert by_name["parent"].status_code == "ERROR"
    assert by_name["parent"].service_name == "test-service"
    assert by_name["parent"].resource_attributes["deployment.environment"] == "test"
    assert by_name["parent"].scope_name == "tests.tracing"


def test_trace_ids_start_with_the_epoch_seconds_when_generated_for_xray(
    receiver: OtlpReceiver,
) -> None:
    _enabled(receiver)
    before = int(time.time())
    with telemetry.get_tracer("t").start_as_current_span("root") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    after = int(time.time())

    assert before <= int(trace_id[:8], 16) <= after


def test_an_incoming_xray_header_is_continued_when_extracted(receiver: OtlpReceiver) -> None:
    _enabled(receiver)

    context = propagate.extract({"X-Amzn-Trace-Id": XRAY_HEADER})
    with telemetry.get_tracer("t").start_as_current_span("handler", context=context):
        pass

    telemetry.flush()
    span = receiver.wait_for(lambda s: s.name == "handler")
    assert span.trace_id == XRAY_TRACE_ID
    assert span.parent_span_id == XRAY_PARENT_ID


def test_an_incoming_traceparent_is_continued_when_extracted(receiver: OtlpReceiver) -> None:
    _enabled(receiver)
    traceparent = f"00-{XRAY_TRACE_ID}-{XRAY_PARENT_ID}-01"

    context = propagate.extract({"traceparent": traceparent})
    with telemetry.get_tracer("t").start_as_current_span("handler", context=context):
        pass

    telemetry.flush()
    span = receiver.wait_for(lambda s: s.name == "handler")
    assert (span.trace_id, span.parent_span_id) == (XRAY_TRACE_ID, XRAY_PARENT_ID)


def test_the_xray_header_is_ignored_when_propagators_exclude_it(receiver: OtlpReceiver) -> None:
    _enabled(receiver, propagators=("tracecontext",))

    context = propagate.extract({"X-Amzn-Trace-Id": XRAY_HEADER})
    with telemetry.get_tracer("t").start_as_current_span("handler", context=context):
        pass

    telemetry.flush()
    span = receiver.wait_for(lambda s: s.name == "handler")
    assert span.trace_id != XRAY_TRACE_ID
    assert span.parent_span_id is None


def test_injected_context_carries_both_formats_when_a_span_is_current(
    receiver: OtlpReceiver,
) -> None:
    # OTEL_PROPAGATORS only governs HTTP headers: stored metadata always has both formats.
    _enabled(receiver, propagators=("xray",))

    with telemetry.get_tracer("t").start_as_current_span("command") as span:
        metadata = telemetry.inject_context()
        ids = span.get_span_context()

    trace_hex, span_hex = format(ids.trace_id, "032x"), format(ids.span_id, "016x")
    assert metadata["traceparent"] == f"00-{trace_hex}-{span_hex}-01"
    assert metadata["X-Amzn-Trace-Id"] == (
        f"Root=1-{trace_hex[:8]}-{trace_hex[8:]};Parent={span_hex};Sampled=1"
    )


def test_nothing_is_injected_when_no_span_is_current(receiver: OtlpReceiver) -> None:
    _enabled(receiver)

    assert telemetry.inject_context() == {}


def test_extracted_context_parents_a_span_when_round_tripped(receiver: OtlpReceiver) -> None:
    _enabled(receiver)
    tracer = telemetry.get_tracer("t")
    with tracer.start_as_current_span("command"):
        metadata = telemetry.inject_context()

    with tracer.start_as_current_span("continued", context=telemetry.extract_context(metadata)):
        pass

    telemetry.flush()
    spans = receiver.wait_until(lambda spans: len(spans) == 2)
    by_name = {s.name: s for s in spans}
    assert by_name["continued"].trace_id == by_name["command"].trace_id
    assert by_name["continued"].parent_span_id == by_name["command"].span_id


def test_a_span_links_to_the_stored_command_when_given_event_metadata(
    receiver: OtlpReceiver,
) -> None:
    _enabled(receiver)
    tracer = telemetry.get_tracer("t")
    with tracer.start_as_current_span("command"):
        # Stored metadata may come back with other key casing (or other, non-string entries).
        metadata = {k.lower(): v for k, v in telemetry.inject_context().items()}
    metadata_with_noise: dict[str, object] = {**metadata, "schema_version": 2}

    links = telemetry.link_from(metadata_with_noise, attributes={"event.type": "MessagePosted"})
    with tracer.start_as_current_span("project", kind=trace.SpanKind.CONSUMER, links=links):
        pass

    telemetry.flush()
    spans = receiver.wait_until(lambda spans: len(spans) == 2)
    by_name = {s.name: s for s in spans}
    project, command = by_name["project"], by_name["command"]
    assert project.trace_id != command.trace_id
    assert project.kind == "CONSUMER"
    [link] = project.links
    assert (link.trace_id, link.span_id) == (command.trace_id, command.span_id)
    assert link.attributes == {"event.type": "MessagePosted"}


def test_no_link_is_made_when_metadata_has_no_trace_context(receiver: OtlpReceiver) -> None:
    _enabled(receiver)

    assert telemetry.link_from({}) == []
    assert telemetry.link_from({"traceparent": "garbage"}) == []


def test_a_tracer_obtained_before_configure_records_when_tracing_is_enabled_later(
    receiver: OtlpReceiver,
) -> None:
    early = telemetry.get_tracer("imported.early")
    with early.start_as_current_span("before") as span:
        assert not span.is_recording()

    _enabled(receiver)
    with early.start_as_current_span("after"):
        pass

    telemetry.flush()
    assert [s.name for s in receiver.wait_until(lambda spans: len(spans) == 1)] == ["after"]


def test_spans_follow_the_latest_configuration_when_configured_again(
    receiver: OtlpReceiver,
) -> None:
    tracer = telemetry.get_tracer("t")
    with OtlpReceiver() as first:
        telemetry.configure("first", TelemetrySettings(otlp_endpoint=first.endpoint))
        with tracer.start_as_current_span("to-first"):
            pass
        _enabled(receiver)  # shuts the first pipeline down, flushing it
        assert [s.name for s in first.spans] == ["to-first"]

    with tracer.start_as_current_span("to-second"):
        pass

    telemetry.flush()
    span = receiver.wait_for(lambda s: s.name == "to-second")
    assert span.service_name == "test-service"


def test_nothing_is_recorded_or_exported_when_tracing_is_off(receiver: OtlpReceiver) -> None:
    # The receiver is up, but no endpoint is configured: tracing stays off.
    handle = telemetry.configure("svc", TelemetrySettings())

    with telemetry.get_tracer("t").start_as_current_span("ignored") as span:
        assert not span.is_recording()
        assert telemetry.inject_context() == {}

    assert not handle.tracing_enabled
    assert not telemetry.tracing_enabled()
    assert telemetry.flush()
    assert handle.flush()
    assert telemetry.link_from({"traceparent": f"00-{XRAY_TRACE_ID}-{XRAY_PARENT_ID}-01"}) == []
    assert not trace.get_current_span(telemetry.extract_context({})).get_span_context().is_valid
    assert receiver.requests == []


def test_tracing_stops_when_shut_down(receiver: OtlpReceiver) -> None:
    _enabled(receiver)
    with telemetry.get_tracer("t").start_as_current_span("last"):
        pass

    telemetry.shutdown()

    assert [s.name for s in receiver.spans] == ["last"]
    with telemetry.get_tracer("t").start_as_current_span("after") as span:
        assert not span.is_recording()


def test_configure_fails_clearly_when_settings_are_invalid() -> None:
    with pytest.raises(telemetry.TelemetryConfigError, match="OTEL_PROPAGATORS"):
        telemetry.configure("svc", TelemetrySettings(propagators=("jaeger",)))


def test_spans_are_printed_to_stderr_when_the_console_exporter_is_chosen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure("svc", TelemetrySettings(traces_exporter=("console",)))

    with telemetry.get_tracer("t").start_as_current_span("debug-me"):
        pass

    captured = capsys.readouterr()
    assert '"name": "debug-me"' in captured.err
    assert "debug-me" not in captured.out  # standard output stays JSON log lines only


def test_lambda_attributes_are_added_to_the_resource_when_running_in_lambda(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    lambda_runtime_env = {
        "AWS_LAMBDA_FUNCTION_NAME": "command-server-function",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]abc",
        "AWS_REGION": "ap-northeast-1",
    }
    for name, value in lambda_runtime_env.items():
        monkeypatch.setenv(name, value)
    _enabled(receiver)

    with telemetry.get_tracer("t").start_as_current_span("invocation"):
        pass

    telemetry.flush()
    span = receiver.wait_for(lambda s: s.name == "invocation")
    assert span.resource_attributes["faas.name"] == "command-server-function"
    assert span.resource_attributes["cloud.provider"] == "aws"
    assert span.service_name == "test-service"
