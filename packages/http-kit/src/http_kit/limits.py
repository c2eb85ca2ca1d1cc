"""Pure ASGI middleware limiting request bodies: their size and the time they take to arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from http_kit.problems import payload_too_large, request_timeout, send_problem

__all__ = ["BodySizeLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == b"content-length":
            try:
                return int(bytes(value))
            except ValueError:
                return None  # the server rejects it; if not, the byte count below still applies
    return None


class BodySizeLimitMiddleware:
    """Answers 413 `payload_too_large` to a request whose body exceeds `max_body_bytes`, and
    408 `request_timeout` to one whose body takes longer than `body_timeout_seconds` to arrive.

    A declared `Content-Length` over the limit is refused before any byte is read. Otherwise the
    body is read (counting the bytes actually received, so that a chunked body or a lying
    `Content-Length` cannot get past the limit) and handed to the application in one piece only
    when it fits. Buffering costs nothing extra here: the limit is small and the applications
    read whole JSON bodies anyway. The time limit covers the whole body, so a client trickling
    a byte at a time cannot hold a connection (and a slot of the server's concurrency limit)
    for long. Both refusals close the connection: the unread body must not be taken for the
    next request.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float = 10.0
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        if body_timeout_seconds <= 0:
            raise ValueError("body_timeout_seconds must be > 0")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await send_problem(send, payload_too_large(self.max_body_bytes), close=True)
            return

        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                await send_problem(send, request_timeout(self.body_timeout_seconds), close=True)
                return
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_problem(send, payload_too_large(self.max_body_bytes), close=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)
