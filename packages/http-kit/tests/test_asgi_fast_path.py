"""`http_kit.asgi_fast_path.FastPathMiddleware` on a tiny router, driven by raw ASGI calls.

The wrapped app is a recorder: a request the router does not route must reach it untouched;
the routed ones must be answered without it, with the request id, access log line, guard, body
limits, 405 and 500 the module docstring promises.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
import telemetry
from http_kit.asgi_fast_path import FastPathMiddleware, request_from_scope
from http_kit.lambda_http import FastPath, Request, Response, Router

Message = dict[str, Any]
LIMIT = 100
_outer: contextvars.ContextVar[str | None] = contextvars.ContextVar("outer", default=None)
_endpoint_log = logging.getLogger("tests.asgi_fast_path.endpoint")


# -- the router and the wrapped app --------------------------------------------------------------


@dataclass
class Seen:
    """What the endpoints and the guard saw, and in which threads they ran."""

    requests: list[Request] = field(default_factory=list)
    endpoint_threads: list[threading.Thread] = field(default_factory=list)
    guard_threads: list[threading.Thread] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    outer_values: list[str | None] = field(default_factory=list)


def build_router(seen: Seen) -> Router:
    def echo(request: Request) -> Response:
        seen.requests.append(request)
        seen.endpoint_threads.append(threading.current_thread())
        seen.request_ids.append(telemetry.current_request_id())
        seen.outer_values.append(_outer.get())
        _endpoint_log.info("inside the endpoint")
        return Response.json(
            {
                "method": request.method,
                "path": request.path,
                "params": dict(request.path_params),
                "query": request.raw_query,
                "body": request.body.decode(),
                "user": request.scope.get("test.user"),
            },
            headers={"x-endpoint": "echo"},
        )

    def boom(request: Request) -> Response:
        raise RuntimeError("secret internals: password=hunter2")

    router = Router()
    router.add("GET", "/items/{item_id}", echo)
    router.add("DELETE", "/items/{item_id}", echo)
    router.add("POST", "/items", echo)
    router.add("GET", "/boom", boom)
    return router


@dataclass
class Inner:
    """The wrapped ASGI app: records its calls, answers 418."""

    calls: list[tuple[Any, Any, Any]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append((scope, receive, send))
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b"inner"})


def guard(seen: Seen) -> Any:
    """Refuses a request without `authorization` (401); else leaves the caller in the scope."""

    def check(request: Request) -> Response | None:
        seen.guard_threads.append(threading.current_thread())
        token = request.header("authorization")
        if token is None:
            return Response.json({"refused": True}, status=401, headers={"www-authenticate": "x"})
        request.scope["test.user"] = token
        return None

    return check


def middleware(
    seen: Seen,
    inner: Inner | None = None,
    *,
    with_guard: bool = False,
    guard_blocks: bool = False,
    timeout: float = 5.0,
) -> FastPathMiddleware:
    fast_path = FastPath(
        build_router(seen), max_body_bytes=LIMIT, guard=guard(seen) if with_guard else None
    )
    return FastPathMiddleware(
        inner or Inner(),
        fast_path=fast_path,
        body_timeout_seconds=timeout,
        guard_blocks=guard_blocks,
    )


# -- raw ASGI calls ------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request through the middleware: what was sent back and how the body was read."""

    sent: list[Message]
    receives: int
    loop_thread: threading.Thread

    @property
    def status(self) -> int:
        start = self.sent[0]
        assert start["type"] == "http.response.start"
        return int(start["status"])

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.sent[0]["headers"]]

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, values
        return values[0] if values else None

    @property
    def body(self) -> bytes:
        assert [m["type"] for m in self.sent] == ["http.response.start", "http.response.body"]
        assert self.sent[1].get("more_body", False) is False
        return bytes(self.sent[1]["body"])

    def json(self) -> Any:
        return json.loads(self.body)


def scope(
    method: str = "GET",
    path: str = "/items/42",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers or [],
        "client": ("192.0.2.7", 50000),
        "server": ("testserver", 80),
        **extra,
    }


def body_messages(*chunks: bytes) -> list[Message]:
    last = len(chunks) - 1
    return [
        {"type": "http.request", "body": chunk, "more_body": number < last}
        for number, chunk in enumerate(chunks or (b"",))
    ]


def call(
    app: Any,
    request_scope: dict[str, Any],
    messages: list[Message] | None = None,
    *,
    delay: float = 0.0,
) -> Exchange:
    """`app(request_scope, receive, send)`; `receive` gives `messages` (each after `delay`),
    then waits as a server does until the client leaves (never, here)."""
    queue = list(body_messages() if messages is None else messages)
    sent: list[Message] = []
    receives = 0

    async def receive() -> Message:
        nonlocal receives
        receives += 1
        if not queue:
            await asyncio.Event().wait()  # the client is still there, sending nothing
        if delay:
            await asyncio.sleep(delay)
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> threading.Thread:
        await asyncio.wait_for(app(request_scope, receive, send), timeout=10)
        return threading.current_thread()

    loop_thread = asyncio.run(main())
    return Exchange(sent, receives, loop_thread)


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO):
        yield caplog


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "telemetry.access"]


# -- routing -------------------------------------------------------------------------------------


def test_a_routed_request_is_answered_without_the_wrapped_app() -> None:
    seen, inner = Seen(), Inner()

    exchange = call(middleware(seen, inner), scope("GET", "/items/42", query=b"a=1&a=2&b=%20x"))

    assert inner.calls == []
    assert exchange.status == 200
    assert exchange.json() == {
        "method": "GET",
        "path": "/items/42",
        "params": {"item_id": "42"},
        "query": "a=1&a=2&b=%20x",
        "body": "",
        "user": None,
    }
    assert exchange.header("content-type") == "application/json"
    assert exchange.header("content-length") == str(len(exchange.body))
    assert exchange.header("x-endpoint") == "echo"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/items/42/x"), ("GET", "/items/42/"), ("GET", "/other"), ("POST", "/items/")],
)
def test_an_unrouted_request_reaches_the_wrapped_app_untouched(method: str, path: str) -> None:
    seen, inner = Seen(), Inner()
    request_scope = scope(method, path)
    queue = body_messages(b"body")
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(seen, inner)(request_scope, receive, send))

    assert len(inner.calls) == 1
    passed_scope, passed_receive, passed_send = inner.calls[0]
    assert passed_scope is request_scope
    assert passed_scope == scope(method, path)
    assert (passed_receive, passed_send) == (receive, send)
    assert queue == body_messages(b"body")  # the body is left for the app
    assert sent[0]["status"] == 418
    assert seen.requests == []


def test_a_method_not_in_upper_case_reaches_the_wrapped_app() -> None:
    seen, inner = Seen(), Inner()

    exchange = call(middleware(seen, inner), scope("get", "/items/42"))

    assert exchange.status == 418
    assert [call_scope["method"] for call_scope, _, _ in inner.calls] == ["get"]
    assert seen.requests == []


@pytest.mark.parametrize(
    "other_scope",
    [{"type": "websocket", "path": "/items/42", "headers": [], "query_string": b""}],
    ids=["websocket on a routed path"],
)
def test_non_http_scopes_reach_the_wrapped_app_untouched(other_scope: dict[str, Any]) -> None:
    seen, inner = Seen(), Inner()

    async def receive() -> Message:
        raise AssertionError("the middleware must not receive")  # pragma: no cover

    async def send(message: Message) -> None:
        raise AssertionError("the middleware must not send")  # pragma: no cover

    asyncio.run(middleware(seen, inner)(other_scope, receive, send))

    assert inner.calls == [(other_scope, receive, send)]
    assert seen.requests == []


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fast-path")]


def test_the_lifespan_reaches_the_app_and_its_shutdown_ends_the_endpoint_threads() -> None:
    seen = Seen()
    before = set(_pool_threads())
    lifespan_sent: list[Message] = []

    class LifespanApp(Inner):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await super().__call__(scope, receive, send)
            if scope["type"] == "lifespan":
                for event in ("startup", "shutdown"):
                    assert (await receive())["type"] == f"lifespan.{event}"
                    await send({"type": f"lifespan.{event}.complete"})

    inner = LifespanApp()
    app = middleware(seen, inner)
    assert call(app, scope("GET", "/items/1")).status == 200
    assert set(_pool_threads()) - before  # the endpoint ran in a thread of the pool

    async def serve_lifespan() -> None:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> Message:
            return next(messages)

        async def send(message: Message) -> None:
            lifespan_sent.append(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    asyncio.run(serve_lifespan())

    assert [m["type"] for m in lifespan_sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert [c[0]["type"] for c in inner.calls] == ["lifespan"]
    deadline = time.monotonic() + 10
    while set(_pool_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(_pool_threads()) - before


def test_path_parameters_are_taken_from_the_decoded_path() -> None:
    seen = Seen()

    # An ASGI server percent-decodes `path` (`raw_path` keeps the bytes): the route sees "a b".
    exchange = call(
        middleware(seen), scope("DELETE", "/items/a b", raw_path=b"/items/a%20b", query=b"x=%2F")
    )

    assert exchange.status == 200
    assert exchange.json()["params"] == {"item_id": "a b"}
    assert exchange.json()["query"] == "x=%2F"
    assert seen.requests[0].path == "/items/a b"


def test_405_names_the_allowed_methods_when_the_path_is_routed_for_others() -> None:
    seen, inner = Seen(), Inner()

    exchange = call(middleware(seen, inner), scope("PUT", "/items/42"), body_messages(b"{}"))

    assert exchange.status == 405
    assert exchange.header("allow") == "GET, DELETE"
    assert exchange.header("content-type") == "application/problem+json"
    assert exchange.json() == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "PUT is not allowed on /items/42",
        "code": "method_not_allowed",
    }
    assert exchange.header("x-request-id") is not None
    assert (inner.calls, seen.requests) == ([], [])


# -- the request ---------------------------------------------------------------------------------


def test_of_repeated_headers_the_first_is_kept_and_cookies_are_joined() -> None:
    seen = Seen()
    headers = [
        (b"Cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"X-Tag", b"one"),
        (b"x-tag", b"two"),
        (b"Content-Type", b"application/json"),
        (b"X-Request-ID", b"first"),
        (b"x-request-id", b"second"),
    ]

    exchange = call(middleware(seen), scope(headers=headers))

    request = seen.requests[0]
    assert request.headers["cookie"] == "a=1; b=2"
    assert request.headers["x-tag"] == "one"  # as Starlette's Headers.get reads it
    assert request.header("Content-Type") == "application/json"
    assert all(name == name.lower() for name in request.headers)
    assert exchange.header("x-request-id") == "first"


def test_request_from_scope_reads_the_client_and_api_gateways_request_id() -> None:
    event = {"requestContext": {"requestId": "apigw-1="}, "rawPath": "/items/1"}

    request = request_from_scope(
        scope("GET", "/items/1", **{"aws.event": event}), {"item_id": "1"}, b"x"
    )

    assert (request.method, request.path, request.body) == ("GET", "/items/1", b"x")
    assert dict(request.path_params) == {"item_id": "1"}
    assert request.source_ip == "192.0.2.7"
    assert request.apigw_request_id == "apigw-1="
    assert request.event == event


def test_a_raw_utf8_query_string_is_text_as_on_lambda() -> None:
    seen = Seen()

    # As Lambda's rawQueryString: the text whose UTF-8 encoding is the query sent.
    exchange = call(middleware(seen), scope(query="a=é&b=%C3%A9".encode()))

    assert exchange.status == 200
    assert seen.requests[0].raw_query == "a=é&b=%C3%A9"


def test_a_query_string_that_is_not_utf8_reaches_the_wrapped_app() -> None:
    seen, inner = Seen(), Inner()

    exchange = call(middleware(seen, inner), scope(query=b"a=\xff"))

    assert exchange.status == 418
    assert len(inner.calls) == 1
    assert seen.requests == []


def test_a_body_in_chunks_reaches_the_endpoint_whole() -> None:
    seen = Seen()

    exchange = call(middleware(seen), scope("POST", "/items"), body_messages(b'{"a":', b"1}"))

    assert exchange.status == 200
    assert exchange.json()["body"] == '{"a":1}'


# -- request id and logs -------------------------------------------------------------------------


@pytest.fixture
def endpoint_log() -> Iterator[io.StringIO]:
    """The JSON lines the endpoints write (formatted in the thread that writes them)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(telemetry.JsonFormatter("test"))
    _endpoint_log.addHandler(handler)
    _endpoint_log.setLevel(logging.INFO)
    yield stream
    _endpoint_log.removeHandler(handler)


def test_a_valid_client_request_id_is_echoed_and_bound_in_the_endpoints_log_lines(
    endpoint_log: io.StringIO,
) -> None:
    seen = Seen()

    exchange = call(middleware(seen), scope(headers=[(b"X-Request-ID", b"client-id.1")]))

    assert exchange.header("x-request-id") == "client-id.1"
    assert seen.request_ids == ["client-id.1"]
    line = json.loads(endpoint_log.getvalue())
    assert (line["message"], line["request_id"]) == ("inside the endpoint", "client-id.1")
    assert telemetry.current_request_id() is None  # unbound after the request


@pytest.mark.parametrize("client_id", [b"bad id!", b"", b"x" * 129, "é".encode()])
def test_an_invalid_client_request_id_is_replaced(
    client_id: bytes, endpoint_log: io.StringIO
) -> None:
    seen = Seen()

    exchange = call(middleware(seen), scope(headers=[(b"x-request-id", client_id)]))

    request_id = exchange.header("x-request-id")
    assert request_id is not None
    assert request_id != client_id.decode("latin-1")
    assert len(request_id) == 32
    int(request_id, 16)
    assert seen.request_ids == [request_id]
    assert json.loads(endpoint_log.getvalue())["request_id"] == request_id


def test_each_request_gets_its_own_fresh_id() -> None:
    app = middleware(Seen())

    ids = {call(app, scope()).header("x-request-id") for _ in range(3)}

    assert len(ids) == 3


def test_api_gateways_request_id_is_the_request_id_behind_mangum() -> None:
    seen = Seen()
    event = {"requestContext": {"requestId": "apigw-1="}}

    exchange = call(middleware(seen), scope(**{"aws.event": event}))

    assert exchange.header("x-request-id") == "apigw-1="
    assert seen.request_ids == ["apigw-1="]


def test_the_endpoint_runs_in_a_pool_thread_with_the_callers_context_variables() -> None:
    seen = Seen()
    fast = middleware(seen)

    async def outer(request_scope: Any, receive: Any, send: Any) -> None:
        token = _outer.set("set outside")
        try:
            await fast(request_scope, receive, send)
        finally:
            _outer.reset(token)

    exchange = call(outer, scope())

    assert exchange.status == 200
    assert seen.outer_values == ["set outside"]
    assert seen.endpoint_threads[0] is not exchange.loop_thread
    assert seen.endpoint_threads[0].name.startswith("fast-path")


def test_the_access_log_line_has_the_apps_fields_at_info(
    access_log: pytest.LogCaptureFixture,
) -> None:
    call(
        middleware(Seen()),
        scope("GET", "/items/7", headers=[(b"x-request-id", b"rid-1")], query=b"secret=1"),
    )

    [line] = access_lines(access_log)
    assert line.levelno == logging.INFO
    assert line.getMessage() == "GET /items/7 200"
    fields = {k: getattr(line, k, None) for k in ("method", "path", "status", "error")}
    assert fields == {"method": "GET", "path": "/items/7", "status": 200, "error": None}
    assert isinstance(line.duration_ms, float)
    assert line.duration_ms >= 0
    assert not hasattr(line, "apigw_request_id")


def test_the_access_log_line_names_api_gateways_id_when_the_client_sent_its_own(
    access_log: pytest.LogCaptureFixture,
) -> None:
    event = {"requestContext": {"requestId": "apigw-1="}}

    call(middleware(Seen()), scope(headers=[(b"x-request-id", b"mine")], **{"aws.event": event}))

    [line] = access_lines(access_log)
    assert line.apigw_request_id == "apigw-1="


def test_an_exception_is_a_500_problem_without_internals_and_an_error_line(
    access_log: pytest.LogCaptureFixture,
) -> None:
    exchange = call(middleware(Seen()), scope("GET", "/boom"))

    assert exchange.status == 500
    assert exchange.header("content-type") == "application/problem+json"
    assert exchange.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "an unexpected error occurred",
        "code": "internal_error",
    }
    assert b"secret" not in exchange.body
    assert exchange.header("x-request-id") is not None
    [line] = access_lines(access_log)
    assert (line.levelno, line.status, line.error) == (logging.ERROR, 500, "RuntimeError")
    traced = [r for r in access_log.records if r.exc_info is not None]
    assert [r.exc_info[0] for r in traced if r.exc_info] == [RuntimeError]


def test_a_client_leaving_before_its_body_arrived_gets_no_answer_and_a_warning(
    access_log: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()
    messages = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.disconnect"},
    ]

    exchange = call(middleware(seen), scope("POST", "/items"), messages)

    assert (exchange.sent, seen.requests) == ([], [])
    [line] = access_lines(access_log)
    assert (line.levelno, line.status, line.getMessage()) == (
        logging.WARNING,
        None,
        "POST /items None",
    )


def test_a_request_cancelled_by_the_server_is_logged_as_the_apps_access_log_logs_it(
    access_log: pytest.LogCaptureFixture,
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        started.set()
        release.wait(5)
        return Response.text("late")

    router = Router()
    router.add("GET", "/slow", slow)
    fast = FastPathMiddleware(
        Inner(), fast_path=FastPath(router, max_body_bytes=LIMIT), body_timeout_seconds=5
    )

    async def slow_app(request_scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    def cancelled_line(app: Any) -> tuple[Any, ...]:
        started.clear()
        release.clear()
        access_log.clear()

        async def main() -> None:
            async def receive() -> Message:
                return body_messages()[0]

            async def send(message: Message) -> None:
                raise AssertionError("nothing is sent")  # pragma: no cover

            task = asyncio.create_task(app(scope("GET", "/slow"), receive, send))
            while not started.is_set():
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        release.set()
        [line] = access_lines(access_log)
        return (line.levelname, line.getMessage(), line.status, line.error)

    expected = cancelled_line(telemetry.AccessLogMiddleware(slow_app))

    assert cancelled_line(fast) == expected
    assert expected == ("WARNING", "GET /slow None", None, "CancelledError")


def test_a_failed_send_is_logged_with_the_status_and_the_error(
    access_log: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async def receive() -> Message:
            return body_messages()[0]

        async def send(message: Message) -> None:
            raise OSError("connection reset")

        await middleware(Seen())(scope(), receive, send)

    with pytest.raises(OSError, match="connection reset"):
        asyncio.run(main())

    [line] = access_lines(access_log)
    assert (line.levelname, line.status, line.error) == ("ERROR", 200, "OSError")


# -- guard ---------------------------------------------------------------------------------------


def test_a_guard_refusal_is_answered_before_the_body_is_read_and_closes(
    access_log: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()

    exchange = call(
        middleware(seen, with_guard=True),
        scope("POST", "/items", headers=[(b"content-length", b"2")]),
        body_messages(b"{}"),
    )

    assert exchange.receives == 0
    assert exchange.status == 401
    assert exchange.json() == {"refused": True}
    assert exchange.header("connection") == "close"
    assert exchange.header("www-authenticate") == "x"
    assert exchange.header("x-request-id") is not None
    assert seen.requests == []
    assert [line.status for line in access_lines(access_log)] == [401]


def test_a_guard_refusal_comes_before_the_size_limit_and_405() -> None:
    app = middleware(Seen(), with_guard=True)
    oversize = scope("POST", "/items", headers=[(b"content-length", b"1000")])

    assert call(app, oversize).status == 401
    assert call(app, scope("PUT", "/items/1")).status == 401


def test_a_guards_state_in_the_scope_reaches_the_endpoint() -> None:
    seen = Seen()

    exchange = call(
        middleware(seen, with_guard=True), scope(headers=[(b"authorization", b"alice")])
    )

    assert exchange.status == 200
    assert exchange.json()["user"] == "alice"


@pytest.mark.parametrize("guard_blocks", [False, True])
def test_a_blocking_guard_runs_off_the_event_loop_thread(guard_blocks: bool) -> None:
    seen = Seen()

    exchange = call(
        middleware(seen, with_guard=True, guard_blocks=guard_blocks),
        scope(headers=[(b"authorization", b"alice")]),
    )

    assert exchange.status == 200
    assert (seen.guard_threads[0] is exchange.loop_thread) is not guard_blocks


def test_a_guard_that_raises_is_a_500() -> None:
    def broken(request: Request) -> Response | None:
        raise ValueError("no keys")

    fast_path = FastPath(build_router(Seen()), max_body_bytes=LIMIT, guard=broken)
    app = FastPathMiddleware(Inner(), fast_path=fast_path, body_timeout_seconds=5)

    exchange = call(app, scope())

    assert exchange.status == 500
    assert exchange.json()["code"] == "internal_error"


# -- body limits ---------------------------------------------------------------------------------


def assert_refused(exchange: Exchange, status: int, code: str) -> None:
    assert exchange.status == status
    assert exchange.header("content-type") == "application/problem+json"
    assert exchange.header("connection") == "close"
    assert exchange.header("x-request-id") is not None
    assert exchange.json()["code"] == code
    assert exchange.header("content-length") == str(len(exchange.body))


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    seen = Seen()
    headers = [(b"content-length", str(LIMIT + 1).encode())]

    exchange = call(
        middleware(seen), scope("POST", "/items", headers), body_messages(b"x" * (LIMIT + 1))
    )

    assert_refused(exchange, 413, "payload_too_large")
    assert exchange.receives == 0
    assert exchange.json()["detail"] == f"the request body exceeds the limit of {LIMIT} bytes"
    assert seen.requests == []


def test_a_body_at_the_limit_is_served() -> None:
    headers = [(b"content-length", str(LIMIT).encode())]

    exchange = call(
        middleware(Seen()), scope("POST", "/items", headers), body_messages(b"x" * LIMIT)
    )

    assert exchange.status == 200


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    seen = Seen()
    chunks = [b"x" * 40] * 3

    exchange = call(middleware(seen), scope("POST", "/items"), body_messages(*chunks))

    assert_refused(exchange, 413, "payload_too_large")
    assert seen.requests == []


def test_a_body_longer_than_its_declared_length_is_refused() -> None:
    seen = Seen()
    headers = [(b"content-length", b"5")]

    exchange = call(
        middleware(seen), scope("POST", "/items", headers), body_messages(b"x" * 80, b"x" * 80)
    )

    assert_refused(exchange, 413, "payload_too_large")
    assert seen.requests == []


def test_a_body_trickling_past_the_timeout_is_a_408() -> None:
    seen = Seen()
    chunks = [b"x"] * 20  # one byte every 20 ms: 0.4 s for the whole body

    exchange = call(
        middleware(seen, timeout=0.1), scope("POST", "/items"), body_messages(*chunks), delay=0.02
    )

    assert_refused(exchange, 408, "request_timeout")
    assert exchange.json()["detail"] == "the request body did not arrive within 0.1 seconds"
    assert 2 <= exchange.receives < 20
    assert seen.requests == []


def test_a_stalled_body_is_a_408() -> None:
    exchange = call(
        middleware(Seen(), timeout=0.05),
        scope("POST", "/items"),
        [{"type": "http.request", "body": b"{", "more_body": True}],
    )

    assert_refused(exchange, 408, "request_timeout")


def test_the_timeout_must_be_positive() -> None:
    fast_path = FastPath(Router(), max_body_bytes=LIMIT)

    with pytest.raises(ValueError, match="body_timeout_seconds"):
        FastPathMiddleware(Inner(), fast_path=fast_path, body_timeout_seconds=0)


# -- through an HTTP client ----------------------------------------------------------------------


def test_an_http_client_sees_the_fast_path_and_the_app_side_by_side() -> None:
    inner = Inner()
    app = middleware(Seen(), inner)

    async def main() -> list[httpx2.Response]:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.post("/items", content=b'{"x":1}', headers={"x-request-id": "r1"}),
                await client.get("/elsewhere"),
                await client.delete("/items/9?q=1"),
            ]

    routed, unrouted, deleted = asyncio.run(main())

    assert (routed.status_code, routed.json()["body"]) == (200, '{"x":1}')
    assert routed.headers["x-request-id"] == "r1"
    assert (unrouted.status_code, unrouted.text) == (418, "inner")
    assert "x-request-id" not in unrouted.headers  # the app's own middleware adds it
    assert deleted.json()["params"] == {"item_id": "9"}
    assert deleted.json()["query"] == "q=1"
    assert len(inner.calls) == 1
