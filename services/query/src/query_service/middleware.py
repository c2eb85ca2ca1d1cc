"""Request body limit of the query service (its only bodies are GraphQL requests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from query_service.problems import PROBLEM_MEDIA_TYPE

__all__ = ["BodySizeLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimitMiddleware:
    """Answers 413 `payload_too_large` to a request whose body exceeds `max_body_bytes`, and
    408 `request_timeout` to one whose body takes longer than `body_timeout_seconds`.

    A declared `Content-Length` over the limit is refused before any byte is read; otherwise
    the bytes actually received are counted (a chunked body, or a lying `Content-Length`,
    cannot get past the limit), and the body reaches the app in one piece only when it fits.
    The time limit covers the whole body: a client trickling bytes cannot hold a connection.
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
        for key, value in scope.get("headers", ()):
            if bytes(key).lower() == b"content-length":
                declared = bytes(value).strip()
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    await self._refuse(send, 413)
                    return
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                await self._refuse(send, 408)
                return
            if message["type"] != "http.request":  # http.disconnect: nobody to answer
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, status: int) -> None:
        if status == 413:
            code = "payload_too_large"
            detail = f"the request body exceeds the limit of {self.max_body_bytes} bytes"
        else:
            code = "request_timeout"
            detail = f"the request body did not arrive within {self.body_timeout_seconds:g} seconds"
        body = json.dumps(
            {
                "type": "about:blank",
                "title": HTTPStatus(status).phrase,
                "status": status,
                "detail": detail,
                "code": code,
            }
        ).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            # The unread body must not be taken for the next request on the connection.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
