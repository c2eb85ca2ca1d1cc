"""Pure ASGI middleware limiting request bodies: their size and the time they take to arrive."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from http_kit.problems import Problem, payload_too_large, request_timeout, send_problem

__all__ = ["BodyRefusedError", "BodySizeLimitMiddleware", "read_body"]

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


class BodyRefusedError(Exception):
    """The request body is refused (413 or 408); `problem` is the answer (close the connection:
    the unread rest of the body must not be taken for the next request)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


async def read_body(
    scope: Scope, receive: Receive, *, max_body_bytes: int, timeout_seconds: float
) -> bytes | None:
    """The whole body of the HTTP request `scope`, read from `receive` within the limits.

    Raises `BodyRefusedError` with 413 `payload_too_large` when a declared `Content-Length` is over
    `max_body_bytes` (before any byte is read) or the bytes received pass it (a chunked body or
    a lying `Content-Length` cannot get past), and with 408 `request_timeout` when the whole body
    takes longer than `timeout_seconds`. None when the client disconnected first.
    """
    declared = _content_length(scope)
    if declared is not None and declared > max_body_bytes:
        raise BodyRefusedError(payload_too_large(max_body_bytes))
    chunks: list[bytes] = []
    size = 0
    try:
        # One deadline for the whole body: a client trickling a byte at a time cannot hold a
        # connection (and a slot of the server's concurrency limit) for long.
        async with asyncio.timeout(timeout_seconds):
            while True:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect: nobody to answer
                    return None
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                if size > max_body_bytes:
                    raise BodyRefusedError(payload_too_large(max_body_bytes))
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyRefusedError(request_timeout(timeout_seconds)) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class BodySizeLimitMiddleware:
    """Answers 413 `payload_too_large` to a request whose body exceeds `max_body_bytes`, and
    408 `request_timeout` to one whose body takes longer than `body_timeout_seconds` to arrive.

    The body is read by `read_body` and handed to the application in one piece only when it
    fits. Buffering costs nothing extra here: the limit is small and the applications read whole
    JSON bodies anyway. Both refusals close the connection.
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
        try:
            whole = await read_body(
                scope,
                receive,
                max_body_bytes=self.max_body_bytes,
                timeout_seconds=self.body_timeout_seconds,
            )
        except BodyRefusedError as refused:
            await send_problem(send, refused.problem, close=True)
            return
        if whole is None:
            return

        body: Message | None = {"type": "http.request", "body": whole, "more_body": False}

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)
