"""Access-log middleware: one JSON log line per HTTP request (pure ASGI, no framework needed)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from telemetry._logging import _request_id

__all__ = ["REQUEST_ID_HEADER", "AccessLogMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode()
# A client-supplied id is echoed in a response header and written to logs: accept only short,
# plain tokens and mint a fresh id for anything else.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _api_gateway_request_id(scope: Scope) -> str | None:
    # Mangum puts the Lambda event in the scope; API Gateway (REST and HTTP API) puts its own
    # request id in requestContext.
    event = scope.get("aws.event")
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id if isinstance(request_id, str) and request_id else None


class AccessLogMiddleware:
    """Logs each HTTP request once, when it ends, and makes its request id available.

    The request id is the client's ``x-request-id`` header when it is a plain token, else API
    Gateway's ``requestContext.requestId`` (when Mangum put the Lambda event in the scope), else a
    fresh random id. It is bound for the duration of the request, so every log line written while
    handling it carries ``request_id``, and it is echoed in the ``x-request-id`` response header.

    The line (logger ``telemetry.access``) has ``method``, ``path``, ``status``, ``duration_ms``
    and, behind API Gateway when it differs, ``apigw_request_id``. It is written at INFO, or ERROR
    for 5xx and unhandled exceptions (logged as status 500 with ``error``; the traceback is
    left to the server, which logs it anyway).

    Add it with ``app.add_middleware(AccessLogMiddleware)``; with ``instrument_fastapi`` the
    server span encloses it, so the line also carries the request's ``trace_id``.
    """

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger("telemetry.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        apigw_request_id = _api_gateway_request_id(scope)
        client_request_id = _header(scope, _REQUEST_ID_HEADER_BYTES)
        if client_request_id is not None and _VALID_REQUEST_ID.match(client_request_id):
            request_id = client_request_id
        else:
            request_id = apigw_request_id or uuid.uuid4().hex
        status: int | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                if not any(bytes(k).lower() == _REQUEST_ID_HEADER_BYTES for k, _ in headers):
                    headers.append((_REQUEST_ID_HEADER_BYTES, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        token = _request_id.set(request_id)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_request_id)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                self._log(scope, status, error, started, request_id, apigw_request_id)
            finally:
                _request_id.reset(token)

    def _log(
        self,
        scope: Scope,
        status: int | None,
        error: BaseException | None,
        started: float,
        request_id: str,
        apigw_request_id: str | None,
    ) -> None:
        if isinstance(error, Exception) and status is None:
            status = 500  # what the server will answer
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if apigw_request_id is not None and apigw_request_id != request_id:
            fields["apigw_request_id"] = apigw_request_id
        if error is not None:
            fields["error"] = type(error).__name__
        if isinstance(error, Exception) or (status is not None and status >= 500):
            level = logging.ERROR
        elif status is None or error is not None:
            level = logging.WARNING  # no response, or cancelled: the client went away
        else:
            level = logging.INFO
        self.logger.log(level, "%s %s %s", fields["method"], fields["path"], status, extra=fields)
