"""JSON log lines: fields, correlation ids, idempotent set-up."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from typing import Any

import pytest
import telemetry
from telemetry import TelemetrySettings
from telemetry.testing import OtlpReceiver


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_the_core_fields_when_logged() -> None:
    stream = io.StringIO()
    telemetry.configure_logging("command-service", "INFO", stream=stream)

    logging.getLogger("command_service.handlers").info("posted %s", "hello\nworld")

    [line] = _lines(stream)
    assert line["message"] == "posted hello\nworld"
    assert line["level"] == "INFO"
    assert line["logger"] == "command_service.handlers"
    assert line["service"] == "command-service"
    assert line["timestamp"].endswith("Z")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None
    assert "trace_id" not in line
    assert "request_id" not in line


def test_extra_fields_and_exceptions_are_included_when_given() -> None:
    stream = io.StringIO()
    telemetry.configure_logging("svc", stream=stream)

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed", extra={"aggregate_id": "g-1", "attempt": 2})

    [line] = _lines(stream)
    assert line["level"] == "ERROR"
    assert line["aggregate_id"] == "g-1"
    assert line["attempt"] == 2
    assert "RuntimeError: boom" in line["exception"]


def test_unserializable_extra_values_are_written_as_text_when_logged() -> None:
    stream = io.StringIO()
    telemetry.configure_logging("svc", stream=stream)

    logging.getLogger("x").info("with object", extra={"when": datetime(2024, 1, 2, 3, 4, 5)})

    assert _lines(stream)[0]["when"] == "2024-01-02 03:04:05"


def test_records_below_the_level_are_dropped_when_level_is_warning() -> None:
    stream = io.StringIO()
    telemetry.configure_logging("svc", "WARNING", stream=stream)

    logging.getLogger("x").info("quiet")
    logging.getLogger("x").warning("loud")

    assert [line["message"] for line in _lines(stream)] == ["loud"]


def test_handlers_are_not_duplicated_when_configured_twice() -> None:
    first, second = io.StringIO(), io.StringIO()
    telemetry.configure_logging("svc", stream=first)
    telemetry.configure_logging("svc-renamed", stream=second)

    logging.getLogger("x").warning("once")

    assert first.getvalue() == ""
    [line] = _lines(second)
    assert line["service"] == "svc-renamed"


def test_configure_twice_writes_each_line_once_to_stdout_when_called_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure("svc", TelemetrySettings())
    telemetry.configure("svc", TelemetrySettings(log_level="DEBUG"))

    logging.getLogger("x").debug("only once")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == ["only once"]


def test_lines_carry_the_bound_request_id_when_inside_bind_request_id() -> None:
    stream = io.StringIO()
    telemetry.configure_logging("svc", stream=stream)

    with telemetry.bind_request_id("req-42"):
        assert telemetry.current_request_id() == "req-42"
        logging.getLogger("x").info("inside")
    logging.getLogger("x").info("outside")

    inside, outside = _lines(stream)
    assert inside["request_id"] == "req-42"
    assert "request_id" not in outside
    assert telemetry.current_request_id() is None


def test_lines_carry_the_current_trace_and_span_ids_when_a_span_is_active(
    receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.configure("svc", TelemetrySettings(otlp_endpoint=receiver.endpoint))
    tracer = telemetry.get_tracer(__name__)

    with tracer.start_as_current_span("work") as span:
        logging.getLogger("x").info("in a span")
        context = span.get_span_context()

    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_service_name_in_log_lines_follows_otel_service_name_when_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = telemetry.configure("command-service", TelemetrySettings(service_name="CommandServer"))

    logging.getLogger("x").warning("named")

    assert handle.service_name == "CommandServer"
    assert json.loads(capsys.readouterr().out)["service"] == "CommandServer"
