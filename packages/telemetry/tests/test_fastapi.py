"""A FastAPI app wired the way the services do it: server spans and access logs."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx2
import pytest
import telemetry
from fastapi import FastAPI
from telemetry import TelemetrySettings
from telemetry.testing import OtlpReceiver

XRAY_TRACE_ID = "5759e988bd862e3fe1be46a994272793"
XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def get_thing(thing_id: str) -> dict[str, Any]:
        logging.getLogger("handler").info("looking up %s", thing_id)
        return {"id": thing_id, "request_id": telemetry.current_request_id()}

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("handler bug")

    app.add_middleware(telemetry.AccessLogMiddleware)
    return telemetry.instrument_fastapi(app)


def _get(
    app: FastAPI, path: str, headers: dict[str, str] | None = None, *, raise_errors: bool = True
) -> httpx2.Response:
    async def call() -> httpx2.Response:
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


def _log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [line for line in lines if line["logger"] in ("handler", "telemetry.access")]


def test_the_server_span_continues_the_xray_trace_when_the_header_is_sent(
    receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.configure("query-service", TelemetrySettings(otlp_endpoint=receiver.endpoint))
    response = _get(
        _app(), "/things/42", {"X-Amzn-Trace-Id": XRAY_HEADER, "x-request-id": "client-1"}
    )

    assert response.status_code == 200
    assert response.json() == {"id": "42", "request_id": "client-1"}
    assert response.headers["x-request-id"] == "client-1"
    telemetry.flush()
    server = receiver.wait_for(lambda s: s.kind == "SERVER")
    # One server span: FastAPI's own telemetry steps aside for the instrumentation, and the
    # per-message send/receive spans are left out.
    assert [s.name for s in receiver.spans] == ["GET /things/{thing_id}"]
    assert server.trace_id == XRAY_TRACE_ID
    assert server.parent_span_id == "53995c3f42cd8ad8"
    assert server.name == "GET /things/{thing_id}"
    assert server.service_name == "query-service"

    handler_line, access_line = _log_lines(capsys)
    assert handler_line["message"] == "looking up 42"
    assert handler_line["trace_id"] == XRAY_TRACE_ID
    assert handler_line["request_id"] == "client-1"
    assert access_line["logger"] == "telemetry.access"
    assert access_line["message"] == "GET /things/42 200"
    assert (access_line["method"], access_line["path"], access_line["status"]) == (
        "GET",
        "/things/42",
        200,
    )
    assert access_line["duration_ms"] >= 0
    assert access_line["request_id"] == "client-1"
    assert access_line["trace_id"] == XRAY_TRACE_ID
    assert access_line["span_id"] == server.span_id


def test_an_unhandled_error_is_logged_as_a_500_and_the_span_fails_when_the_handler_raises(
    receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.configure("query-service", TelemetrySettings(otlp_endpoint=receiver.endpoint))
    response = _get(_app(), "/broken", raise_errors=False)

    assert response.status_code == 500
    telemetry.flush()
    server = receiver.wait_for(lambda s: s.kind == "SERVER")
    assert server.status_code == "ERROR"
    access_line = next(
        line for line in _log_lines(capsys) if line.get("logger") == "telemetry.access"
    )
    assert access_line["status"] == 500
    assert access_line["level"] == "ERROR"
    assert access_line["error"] == "RuntimeError"
    assert access_line["trace_id"] == server.trace_id


def test_requests_are_served_and_logged_without_spans_when_tracing_is_off(
    receiver: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.configure("query-service", TelemetrySettings())
    response = _get(_app(), "/things/7", {"X-Amzn-Trace-Id": XRAY_HEADER})

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [_, access_line] = _log_lines(capsys)
    assert access_line["request_id"] == request_id
    telemetry.flush()
    assert receiver.requests == []
