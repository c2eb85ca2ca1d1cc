"""`http_kit.fast_path_app.FastPathApp`: the fast path served before FastAPI (tracing off), or
inside the app under OpenTelemetry's server span (tracing on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import telemetry
from fastapi.testclient import TestClient
from http_kit.fast_path_app import FastPathApp
from http_kit.lambda_http import FastPath, Request, Response, Router
from http_kit.testing import fall_throughs
from telemetry.testing import OtlpReceiver, tracing_to_receiver


class Recorder:
    """App middleware that notes the paths of the HTTP requests that reach the app's stack."""

    seen: list[str]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            Recorder.seen.append(scope["path"])
        await self.app(scope, receive, send)


def _app() -> FastPathApp:
    Recorder.seen = []
    app = FastPathApp()

    @app.get("/slow/{item}")
    def slow(item: str) -> dict[str, str]:
        return {"via": "fastapi", "item": item}

    app.add_middleware(Recorder)
    router = Router()
    router.add("GET", "/fast/{item}", lambda r: Response.json({"via": "fast", **r.path_params}))
    router.add("POST", "/fast/{item}", _echo_body)
    app.serve_fast_path(fast_path=FastPath(router, max_body_bytes=10), body_timeout_seconds=5)
    return telemetry.instrument_fastapi(app)


def _echo_body(request: Request) -> Response:
    return Response.json({"body": request.body.decode()})


def test_with_tracing_off_routed_requests_are_answered_before_fastapi_and_the_rest_reach_it() -> (
    None
):
    app = _app()
    assert app.fast_path_front is not None
    fell_through = fall_throughs(app)

    with TestClient(app) as client:
        fast = client.get("/fast/1")
        too_big = client.post("/fast/1", content=b"x" * 11)
        slow = client.get("/slow/2")
        missing = client.get("/nowhere")
        docs = client.get("/openapi.json")

    assert (fast.status_code, fast.json()) == (200, {"via": "fast", "item": "1"})
    assert fast.headers["x-request-id"]
    assert too_big.status_code == 413  # the fast path's own limit, answered before FastAPI
    assert (slow.status_code, slow.json()) == (200, {"via": "fastapi", "item": "2"})
    assert missing.status_code == 404
    assert docs.status_code == 200
    assert Recorder.seen == ["/slow/2", "/nowhere", "/openapi.json"]
    assert fell_through == ["/slow/2", "/nowhere", "/openapi.json"]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with tracing_to_receiver("fast-path-app") as started:
        yield started


def test_with_tracing_on_the_fast_path_is_inside_the_app_under_its_server_span(
    receiver: OtlpReceiver,
) -> None:
    app = _app()
    assert app.fast_path_front is None

    with TestClient(app) as client:
        fast = client.get("/fast/7")
    telemetry.flush()

    assert fast.json() == {"via": "fast", "item": "7"}
    assert Recorder.seen == []  # the fast path is outermost among the app's own middleware
    spans = receiver.wait_until(lambda spans: any(s.kind == "SERVER" for s in spans))
    [server] = [s for s in spans if s.kind == "SERVER"]
    assert server.name.startswith("GET")
    assert server.attributes["http.status_code"] == 200
