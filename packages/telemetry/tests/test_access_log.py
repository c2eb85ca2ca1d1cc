"""AccessLogMiddleware on raw ASGI apps: request ids, echoed header, one line per request."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
import telemetry
from telemetry import AccessLogMiddleware

Message = dict[str, Any]


def _scope(headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/command/group-chats",
        "query_string": b"secret=1",
        "headers": headers or [],
        **extra,
    }


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": telemetry.current_request_id().encode()})


def _call(app: Any, scope: dict[str, Any]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(AccessLogMiddleware(app)(scope, receive, send))
    return sent


@pytest.fixture
def log() -> io.StringIO:
    stream = io.StringIO()
    telemetry.configure_logging("command-service", stream=stream)
    return stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_client_request_id_is_bound_echoed_and_logged_when_sent(log: io.StringIO) -> None:
    sent = _call(_ok, _scope([(b"X-Request-ID", b"abc-123")]))

    start, body = sent
    assert start["status"] == 201
    assert (b"x-request-id", b"abc-123") in start["headers"]
    assert body["body"] == b"abc-123"
    [line] = _lines(log)
    assert line == {
        **line,
        "message": "POST /command/group-chats 201",
        "level": "INFO",
        "logger": "telemetry.access",
        "method": "POST",
        "path": "/command/group-chats",
        "status": 201,
        "request_id": "abc-123",
    }
    assert isinstance(line["duration_ms"], float)
    assert "secret" not in json.dumps(line)


def test_api_gateway_request_id_is_used_when_the_client_sends_none(log: io.StringIO) -> None:
    event = {"requestContext": {"requestId": "Kx9ZlhBtNjMEMfQ="}}

    [start, _] = _call(_ok, _scope(**{"aws.event": event}))

    assert (b"x-request-id", b"Kx9ZlhBtNjMEMfQ=") in start["headers"]
    [line] = _lines(log)
    assert line["request_id"] == "Kx9ZlhBtNjMEMfQ="
    assert "apigw_request_id" not in line


def test_both_ids_are_logged_when_the_client_id_differs_from_api_gateways(
    log: io.StringIO,
) -> None:
    event = {"requestContext": {"requestId": "gw-1"}}

    _call(_ok, _scope([(b"x-request-id", b"client-1")], **{"aws.event": event}))

    [line] = _lines(log)
    assert (line["request_id"], line["apigw_request_id"]) == ("client-1", "gw-1")


@pytest.mark.parametrize("bad", [b"", b"has space", b"x" * 129, b"new\nline", "é".encode()])
def test_a_fresh_request_id_is_minted_when_the_client_id_is_not_a_plain_token(
    log: io.StringIO, bad: bytes
) -> None:
    [start, body] = _call(_ok, _scope([(b"x-request-id", bad)]))

    minted = body["body"].decode()
    assert len(minted) == 32
    assert (b"x-request-id", minted.encode()) in start["headers"]
    assert _lines(log)[0]["request_id"] == minted


def test_the_apps_own_request_id_header_is_kept_when_it_sets_one(log: io.StringIO) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"X-Request-Id", b"own")]}
        )
        await send({"type": "http.response.body", "body": b""})

    [start, _] = _call(app, _scope([(b"x-request-id", b"client")]))

    assert [v for k, v in start["headers"] if k.lower() == b"x-request-id"] == [b"own"]


def test_an_error_line_with_status_500_is_written_when_the_app_raises(log: io.StringIO) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        _call(app, _scope())

    [line] = _lines(log)
    assert (line["level"], line["status"], line["error"]) == ("ERROR", 500, "ValueError")
    assert telemetry.current_request_id() is None


def test_server_errors_are_logged_at_error_level_when_the_app_answers_5xx(
    log: io.StringIO,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    _call(app, _scope())

    assert _lines(log)[0]["level"] == "ERROR"


def test_a_warning_without_status_is_logged_when_the_app_never_responds(log: io.StringIO) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    _call(app, _scope())

    [line] = _lines(log)
    assert (line["level"], line["status"]) == ("WARNING", None)


def test_non_http_scopes_pass_through_unlogged_when_received(log: io.StringIO) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    _call(app, {"type": "lifespan"})

    assert seen == ["lifespan"]
    assert log.getvalue() == ""
