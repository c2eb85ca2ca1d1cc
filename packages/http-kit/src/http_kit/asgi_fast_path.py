"""The framework-free REST endpoints (`http_kit.lambda_http`) served by an ASGI server too.

A service's REST endpoints are plain functions behind a `lambda_http.FastPath`; on Lambda the
handler serves them straight from the API Gateway event. `FastPathMiddleware` serves the same
`FastPath` under uvicorn: it sits in front of the service's FastAPI app (`http_kit.fast_path_app`;
with tracing on, as the app's outermost middleware), answers the requests its router routes and
hands every other request (GraphQL, the OpenAPI document and docs, unknown paths) to the app
unchanged.

Why: per request, FastAPI's routing, dependency injection, pydantic validation and the
`BaseHTTPMiddleware`-free but still layered middleware stack cost several times what a command
itself costs (`bench/http.py` prints CPU per command by process). The answers do not change: the
endpoints are the ones the Lambda parity tests compare with the FastAPI routes, and around them
this middleware gives what the app's middleware gives, in the same order:

1. the request id (`x-request-id`), bound for the log lines and echoed, and one access log line
   (logger `telemetry.access`, same fields as `telemetry.AccessLogMiddleware`);
2. the `FastPath`'s guard (authentication), before the body is read; off the event loop when
   `guard_blocks` (a JWKS fetch);
3. the body limits of `http_kit.limits`: a declared `Content-Length` over `max_body_bytes` is
   refused before reading (413), the bytes actually received count too (413), and a body that
   takes longer than `body_timeout_seconds` to arrive gets 408; these close the connection;
4. 405 with `Allow` for a routed path asked with another method;
5. the endpoint, run in a thread of this middleware's pool (`http_kit.loop_threads`; the
   endpoints block on their database) with the request's context (request id, current span);
   an unexpected exception is logged and answered with the 500 `internal_error` problem.

Tracing: with tracing on, the middleware is inside the app and OpenTelemetry's FastAPI
instrumentation wraps the app's whole middleware stack, this middleware included, so its server
span (named by the app's matching route) encloses these requests as it encloses the others; no
span is made here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from typing import Any, Final

import telemetry

from http_kit.lambda_http import (
    REQUEST_ID_HEADER,
    FastPath,
    Match,
    Request,
    Response,
    log_access,
    request_id_for,
)
from http_kit.limits import BodyRefusedError, read_body
from http_kit.loop_threads import LoopThreads
from http_kit.problems import internal_error

__all__ = ["DEFAULT_MAX_WORKERS", "FastPathMiddleware", "request_from_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_WORKERS: Final = 40
"""Threads that run endpoints at once: as many as FastAPI's pool for synchronous routes."""

_log = logging.getLogger(__name__)


def request_from_scope(scope: Scope, path_params: dict[str, str], body: bytes = b"") -> Request:
    """The `lambda_http.Request` of an ASGI HTTP `scope` (its body read separately).

    Header names are lower-cased. Of a repeated header the first value is kept, the one the
    app reads (Starlette's `Headers.get`, hence FastAPI's `Header()` parameters and body
    parsing, `telemetry.AccessLogMiddleware`, `auth`): a request with two `Content-Type`,
    `Idempotency-Key` or `X-Request-ID` lines is answered as the app answers it. Cookies are
    the exception: their lines are joined with `; ` (RFC 9113 §8.2.3), as on Lambda.
    (Behind API Gateway the repeated headers arrive already joined with commas, for both.)
    `raw_query` is the query string as text whose UTF-8 encoding is the bytes sent, as on
    Lambda (API Gateway's `rawQueryString`, which Mangum encodes so); one that is not UTF-8 is
    decoded as latin-1 (`FastPathMiddleware` leaves such requests to the app).
    `scope` is the request's own ASGI scope: the guard leaves per-request state in it.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).decode("latin-1").lower()
        if name not in headers:
            headers[name] = bytes(raw_value).decode("latin-1")
        elif name == "cookie":
            headers[name] = f"{headers[name]}; {bytes(raw_value).decode('latin-1')}"
    client = scope.get("client")
    # Behind Mangum (a Lambda event the handler's own fast path did not take), the event is in
    # the scope: its API Gateway request id is the request's id, as for the access log.
    event = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    apigw_request_id = context.get("requestId") if isinstance(context, dict) else None
    return Request(
        method=str(scope["method"]).upper(),
        path=str(scope["path"]),
        headers=headers,
        body=body,
        raw_query=_query_text(scope) or bytes(scope.get("query_string", b"")).decode("latin-1"),
        path_params=path_params,
        apigw_request_id=apigw_request_id if isinstance(apigw_request_id, str) else None,
        source_ip=str(client[0]) if client else None,
        event=event if isinstance(event, dict) else {},
        scope=scope,  # type: ignore[arg-type]
    )


class FastPathMiddleware:
    """Serve `fast_path`'s routes in front of the ASGI `app` (see the module docstring).

    `guard_blocks`: the guard may block (it fetches keys), so it runs in the pool rather than on
    the event loop. `max_workers`: threads running endpoints at once.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        fast_path: FastPath,
        body_timeout_seconds: float,
        guard_blocks: bool = False,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        if body_timeout_seconds <= 0:
            raise ValueError("body_timeout_seconds must be > 0")
        self.app = app
        self.fast_path = fast_path
        self.body_timeout_seconds = body_timeout_seconds
        self.guard_blocks = guard_blocks
        self._pool = LoopThreads(max_workers, name="fast-path")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                send = self._closing_at_shutdown(send)
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        # Methods are case-sensitive (RFC 9110): the router's are upper case, and the app does
        # not take "post" for POST (a server such as h11 passes it on as sent).
        match = self.fast_path.router.match(method, scope["path"]) if method.isupper() else None
        if match is None or _query_text(scope) is None:
            # Not routed here; or a query string that is not UTF-8, which a `Request` cannot
            # carry (see `request_from_scope`): the app answers it as it always did.
            await self.app(scope, receive, send)
            return
        request = request_from_scope(scope, dict(match.params))
        request_id = request_id_for(request)
        started = time.perf_counter()
        status: int | None = None
        error: BaseException | None = None
        with telemetry.bind_request_id(request_id):
            try:
                response, error = await self._respond(request, match, receive)
                if response is None:  # the client left before its body arrived: nobody to answer
                    return
                response = response.with_headers({REQUEST_ID_HEADER: request_id})
                status = response.status
                await _send(send, response)
            except BaseException as exc:  # cancelled (the server gave up on it), or send failed
                error = exc
                raise
            finally:
                log_access(request, status, started, request_id, error)

    async def _respond(
        self, request: Request, match: Match, receive: Receive
    ) -> tuple[Response | None, Exception | None]:
        fast_path = self.fast_path
        try:
            guard = fast_path.guard
            if guard is not None:
                refusal = await self._run(guard, request) if self.guard_blocks else guard(request)
                if refusal is not None:
                    return refusal.with_headers({"connection": "close"}), None
            try:
                body = await read_body(
                    request.scope,
                    receive,
                    max_body_bytes=fast_path.max_body_bytes,
                    timeout_seconds=self.body_timeout_seconds,
                )
            except BodyRefusedError as refused:
                return Response.problem(refused.problem, close=True), None
            if body is None:
                return None, None
            if match.endpoint is None:
                answer = fast_path.method_not_allowed(request, match.allowed)
                return answer.with_headers({"allow": ", ".join(match.allowed)}), None
            request = replace(request, body=body)
            return await self._run(match.endpoint, request), None
        except Exception as exc:
            _log.exception("unhandled error in %s %s", request.method, request.path)
            return Response.problem(internal_error()), exc

    def _closing_at_shutdown(self, send: Send) -> Send:
        # The app's shutdown is the end of the requests: the pool's threads go with it, once
        # the calls they run are done (a cancelled request's commit still finishes).
        async def send_then_close(message: Message) -> None:
            await send(message)
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self._pool.shutdown(wait=True)

        return send_then_close

    async def _run(
        self, function: Callable[[Request], Response | None], request: Request
    ) -> Response | None:
        # The request's context goes along: its request id for the log lines, and with tracing
        # on the server span, so that the event store's spans are its children.
        return await self._pool.run(function, request)


def _query_text(scope: Scope) -> str | None:
    """The query string as UTF-8 text (None: not UTF-8)."""
    query = bytes(scope.get("query_string", b""))
    if query.isascii():
        return query.decode("ascii")
    try:
        return query.decode()
    except UnicodeDecodeError:
        return None


async def _send(send: Send, response: Response) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
