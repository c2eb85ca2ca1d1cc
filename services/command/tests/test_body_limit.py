"""Request bodies over MAX_BODY_BYTES get 413, however they are sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from command_service.middleware import BodySizeLimitMiddleware
from command_test_support import ALICE, GROUP_CHATS
from fastapi.testclient import TestClient

LIMIT = 1024


@pytest.fixture
def small_client(make_client: Any, backend: str) -> TestClient:
    client: TestClient = make_client(backend, max_body_bytes=LIMIT)
    return client


def padded_create_body(size: int) -> bytes:
    """A valid `create` body of exactly `size` bytes (padding in an ignored field)."""
    base = {"name": "n", "executorId": ALICE, "pad": ""}
    overhead = len(json.dumps(base).encode())
    return json.dumps({**base, "pad": "x" * (size - overhead)}).encode()


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_413(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"


def test_accepts_a_body_of_exactly_the_limit(small_client: TestClient) -> None:
    body = padded_create_body(LIMIT)

    response = small_client.post(
        f"{GROUP_CHATS}/create", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 201


def test_returns_413_when_content_length_exceeds_the_limit(small_client: TestClient) -> None:
    body = padded_create_body(LIMIT + 1)

    response = small_client.post(
        f"{GROUP_CHATS}/create", content=body, headers={"content-type": "application/json"}
    )

    assert_413(response)


def test_returns_413_when_a_chunked_body_exceeds_the_limit(small_client: TestClient) -> None:
    body = padded_create_body(LIMIT + 1)

    response = small_client.post(
        f"{GROUP_CHATS}/create",
        content=chunks(body),  # a generator: sent chunked, without Content-Length
        headers={"content-type": "application/json"},
    )

    assert_413(response)


def test_accepts_a_chunked_body_within_the_limit(small_client: TestClient) -> None:
    response = small_client.post(
        f"{GROUP_CHATS}/create",
        content=chunks(padded_create_body(LIMIT)),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 201


def test_returns_413_when_the_default_64_kib_limit_is_exceeded(client: TestClient) -> None:
    response = client.post(
        f"{GROUP_CHATS}/create",
        content=padded_create_body(65536 + 1),
        headers={"content-type": "application/json"},
    )

    assert_413(response)


def run_middleware(
    messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]], limit: int
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Feed `messages` to the middleware around an echo app; return (sent, bodies the app read)."""
    received: list[bytes] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> None:
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
        await BodySizeLimitMiddleware(app, max_body_bytes=limit)(scope, receive, send)

    asyncio.run(main())
    return sent, received


def test_refuses_without_calling_the_app_when_streamed_chunks_add_up_past_the_limit() -> None:
    messages = [
        {"type": "http.request", "body": b"x" * 40, "more_body": True},
        {"type": "http.request", "body": b"x" * 40, "more_body": True},
        {"type": "http.request", "body": b"x" * 40, "more_body": False},
    ]

    sent, received = run_middleware(messages, [], limit=100)

    assert received == []
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


def test_refuses_when_the_body_is_longer_than_a_small_declared_content_length() -> None:
    messages = [
        {"type": "http.request", "body": b"x" * 80, "more_body": True},
        {"type": "http.request", "body": b"x" * 80, "more_body": False},
    ]

    sent, received = run_middleware(messages, [(b"content-length", b"10")], limit=100)

    assert received == []
    assert sent[0]["status"] == 413


def test_hands_the_whole_body_to_the_app_in_one_message_when_chunks_fit() -> None:
    messages = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    ]

    sent, received = run_middleware(messages, [], limit=100)

    assert received == [b"abcd"]
    assert sent[0]["status"] == 200


def test_does_not_answer_when_the_client_disconnects_while_sending() -> None:
    messages = [{"type": "http.request", "body": b"ab", "more_body": True}]

    sent, received = run_middleware(messages, [], limit=100)

    assert (sent, received) == ([], [])


def test_returns_408_without_calling_the_app_when_the_body_stops_arriving() -> None:
    called: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    async def main() -> None:
        stalled = asyncio.Event()  # never set: the client sent one chunk, then nothing
        first = [{"type": "http.request", "body": b"{", "more_body": True}]

        async def receive() -> dict[str, Any]:
            if first:
                return first.pop()
            await stalled.wait()
            return {"type": "http.disconnect"}  # pragma: no cover - never reached

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        middleware = BodySizeLimitMiddleware(app, max_body_bytes=100, body_timeout_seconds=0.05)
        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await middleware(scope, receive, send)

    asyncio.run(main())

    assert called == []
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["code"] == "request_timeout"


def test_reads_the_body_time_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from command_service.settings import Settings

    monkeypatch.setenv("BODY_TIMEOUT_SECONDS", "2.5")

    assert Settings().body_timeout_seconds == 2.5
