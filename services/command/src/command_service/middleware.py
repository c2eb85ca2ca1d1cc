"""Pure ASGI middleware of the command service: the last-resort 500, and the body limits.

`BodySizeLimitMiddleware` and `send_problem` are `http_kit`'s (shared with the query service),
re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from http_kit.limits import BodySizeLimitMiddleware
from http_kit.problems import internal_error, send_problem

__all__ = ["BodySizeLimitMiddleware", "UnhandledErrorMiddleware", "send_problem"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_log = logging.getLogger(__name__)


class UnhandledErrorMiddleware:
    """Turns an exception that escaped every handler into a 500 `internal_error` problem.

    The exception is logged here, with its traceback and while the request id is still bound
    (install it inside the access-log middleware), and not re-raised: the server would only log
    it a second time. The client gets a generic detail, never internals.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a problem document: let the server drop the connection
            await send_problem(send, internal_error())
