"""`http_kit.lambda_http`: requests, responses, the router and the fast path around endpoints."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import telemetry
from http_kit.aws_lambda import HttpApiHandler, strip_stage
from http_kit.lambda_http import FastPath, Request, Response, Router
from http_kit.problems import Problem
from telemetry.testing import OtlpReceiver, reset_telemetry

HOST = "abcdefghij.execute-api.us-east-1.amazonaws.com"


def event(
    method: str,
    path: str,
    *,
    stage: str = "$default",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    base64_body: bool = False,
    query: str = "",
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as Lambda receives it on `stage`."""
    full_path = path if stage == "$default" else f"/{stage}{path}"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abcdefghij",
        "domainName": HOST,
        "http": {
            "method": method,
            "path": full_path,
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "apigw-id-1=",
        "routeKey": "ANY /svc/{proxy+}",
        "stage": stage,
        "time": "12/Mar/2026:19:03:58 +0000",
        "timeEpoch": 1_773_342_238_390,
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    result: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /svc/{proxy+}",
        "rawPath": full_path,
        "rawQueryString": query,
        "headers": {
            "host": HOST,
            "user-agent": "curl/8.5.0",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": context,
        "isBase64Encoded": base64_body,
    }
    if query:
        result["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        result["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
        result["headers"]["content-length"] = str(len(body))
    return result


def echo(request: Request) -> Response:
    return Response.json(
        {
            "method": request.method,
            "path": request.path,
            "params": dict(request.path_params),
            "body": request.body.decode(),
        }
    )


def router() -> Router:
    routes = Router()
    routes.add("POST", "/svc/v1/things/create", echo)
    routes.add("GET", "/svc/v1/things/{thing_id}/parts/{part_id}", echo)
    routes.add("GET", "/svc/v1/healthcheck", lambda _request: Response.text("OK"))
    return routes


# -- Request, Response -------------------------------------------------------------------------


def test_request_reads_the_event_when_built_from_a_stage_stripped_one() -> None:
    raw = event(
        "POST",
        "/svc/v1/things/create",
        stage="Stage",
        headers={"Content-Type": "application/json", "X-Custom": "a,b"},
        body="héllo".encode(),
        base64_body=True,
        query="a=1&b=two",
        claims={"sub": "alice"},
    )
    raw["cookies"] = ["c1=1", "c2=2"]

    request = Request.from_event(strip_stage(raw))

    assert (request.method, request.path) == ("POST", "/svc/v1/things/create")
    assert request.body == "héllo".encode()
    assert request.header("content-type") == "application/json"
    assert request.headers["x-custom"] == "a,b"
    assert request.headers["cookie"] == "c1=1; c2=2"
    assert dict(request.query) == {"a": "1", "b": "two"}
    assert request.raw_query == "a=1&b=two"
    assert request.claims == {"sub": "alice"}
    assert request.apigw_request_id == "apigw-id-1="
    assert request.scope["path"] == "/svc/v1/things/create"
    assert (b"content-type", b"application/json") in request.scope["headers"]
    assert request.scope["aws.event"]["requestContext"]["authorizer"]["jwt"]["claims"] == {
        "sub": "alice"
    }


def test_request_is_refused_when_the_event_is_not_an_http_api_v2_one() -> None:
    with pytest.raises(ValueError, match=r"payload 2\.0"):
        Request.from_event({"Records": []})


def test_response_result_is_text_for_json_and_base64_for_binary() -> None:
    as_json = Response.json({"name": "é"}, status=201, headers={"X-Extra": "1"}).to_result()
    binary = Response(200, b"\x00\xff", {"content-type": "application/octet-stream"}).to_result()

    assert as_json == {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-extra": "1", "content-length": "13"},
        "body": '{"name":"é"}',
        "isBase64Encoded": False,
    }
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\xff"


def test_problem_response_carries_the_problem_and_its_headers() -> None:
    problem = Problem(503, "service_unavailable", "retry later", headers={"Retry-After": "1"})

    response = Response.problem(problem, close=True)

    assert response.status == 503
    assert json.loads(response.body) == problem.to_dict()
    assert response.header("content-type") == "application/problem+json"
    assert response.header("retry-after") == "1"
    assert response.header("connection") == "close"


# -- Router ------------------------------------------------------------------------------------


def test_router_matches_templates_with_parameters_when_the_method_fits() -> None:
    match = router().match("get", "/svc/v1/things/t-1/parts/p-2")

    assert match is not None
    assert match.endpoint is echo
    assert match.template == "/svc/v1/things/{thing_id}/parts/{part_id}"
    assert dict(match.params) == {"thing_id": "t-1", "part_id": "p-2"}


def test_router_reports_the_allowed_methods_when_only_others_are_routed() -> None:
    routes = router()
    routes.add("PUT", "/svc/v1/things/create", echo)

    match = routes.match("GET", "/svc/v1/things/create")

    assert match is not None
    assert match.endpoint is None
    assert match.allowed == ("POST", "PUT")


@pytest.mark.parametrize(
    "path",
    [
        "/svc/v1/things/create/",
        "/svc/v1/things//parts/p",
        "/svc/v1/things/a/b/parts/p",
        "/svc/v1/other",
        "/svc/graphql",
    ],
)
def test_router_does_not_match_when_the_path_is_not_routed(path: str) -> None:
    assert router().match("GET", path) is None
    assert router().match("POST", path) is None


def test_router_refuses_a_template_without_a_leading_slash() -> None:
    with pytest.raises(ValueError, match="starts with"):
        Router().add("GET", "svc", echo)


# -- FastPath ----------------------------------------------------------------------------------


def serve(fast_path: FastPath, raw: dict[str, Any]) -> dict[str, Any]:
    result = fast_path.serve(strip_stage(raw))
    assert result is not None
    return result


def test_routed_request_is_served_with_its_params_when_on_a_named_stage() -> None:
    fast_path = FastPath(router(), max_body_bytes=1024)

    result = serve(fast_path, event("GET", "/svc/v1/things/t/parts/p", stage="Stage"))

    assert result["statusCode"] == 200
    assert json.loads(result["body"])["params"] == {"thing_id": "t", "part_id": "p"}
    assert json.loads(result["body"])["path"] == "/svc/v1/things/t/parts/p"


def test_unrouted_request_is_left_to_the_caller() -> None:
    fast_path = FastPath(router(), max_body_bytes=1024)

    assert fast_path.serve(event("POST", "/svc/graphql", body=b"{}")) is None
    assert fast_path.serve({"Records": []}) is None


def test_request_id_is_the_clients_when_valid_else_api_gateways() -> None:
    fast_path = FastPath(router(), max_body_bytes=1024)

    mine = serve(fast_path, event("GET", "/svc/v1/healthcheck", headers={"x-request-id": "r-1"}))
    invalid = serve(fast_path, event("GET", "/svc/v1/healthcheck", headers={"x-request-id": "a b"}))

    assert mine["headers"]["x-request-id"] == "r-1"
    assert invalid["headers"]["x-request-id"] == "apigw-id-1="
    assert invalid["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_access_log_line_has_the_asgi_fields_when_a_request_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast_path = FastPath(router(), max_body_bytes=1024)

    with caplog.at_level(logging.INFO, logger="telemetry.access"):
        serve(fast_path, event("GET", "/svc/v1/healthcheck", headers={"x-request-id": "r-1"}))

    (record,) = [r for r in caplog.records if r.name == "telemetry.access"]
    assert record.getMessage() == "GET /svc/v1/healthcheck 200"
    assert record.levelno == logging.INFO
    fields = record.__dict__
    assert (fields["method"], fields["path"], fields["status"]) == (
        "GET",
        "/svc/v1/healthcheck",
        200,
    )
    assert fields["apigw_request_id"] == "apigw-id-1="
    assert fields["duration_ms"] >= 0


@pytest.mark.parametrize("declared", [True, False])
def test_body_over_the_limit_answers_413_when_posted(declared: bool) -> None:
    fast_path = FastPath(router(), max_body_bytes=10)
    raw = event("POST", "/svc/v1/things/create", body=b"x" * 11)
    if not declared:
        del raw["headers"]["content-length"]

    result = serve(fast_path, raw)

    assert result["statusCode"] == 413
    assert json.loads(result["body"])["code"] == "payload_too_large"
    assert result["headers"]["connection"] == "close"


def test_guard_refusal_answers_before_the_body_limit() -> None:
    refusal = Response.problem(
        Problem(401, "unauthorized", "no", headers={"WWW-Authenticate": "B"})
    )
    seen: list[str] = []

    def guard(request: Request) -> Response | None:
        seen.append(request.path)
        return refusal if request.claims is None else None

    fast_path = FastPath(router(), max_body_bytes=10, guard=guard)

    refused = serve(fast_path, event("POST", "/svc/v1/things/create", body=b"x" * 11))
    let_through = serve(
        fast_path, event("POST", "/svc/v1/things/create", body=b"{}", claims={"sub": "a"})
    )

    assert refused["statusCode"] == 401
    assert refused["headers"]["www-authenticate"] == "B"
    assert refused["headers"]["connection"] == "close"
    assert let_through["statusCode"] == 200
    assert seen == ["/svc/v1/things/create", "/svc/v1/things/create"]


def test_wrong_method_answers_405_with_allow_when_the_path_is_routed() -> None:
    fast_path = FastPath(router(), max_body_bytes=1024)

    result = serve(fast_path, event("GET", "/svc/v1/things/create"))

    assert result["statusCode"] == 405
    assert result["headers"]["allow"] == "POST"
    assert json.loads(result["body"]) == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "GET is not allowed on /svc/v1/things/create",
        "code": "method_not_allowed",
    }


def test_unexpected_exception_answers_500_without_internals_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = Router()

    @routes.route("POST", "/svc/boom")
    def boom(_request: Request) -> Response:
        raise RuntimeError("secret connection string")

    fast_path = FastPath(routes, max_body_bytes=1024)

    with caplog.at_level(logging.INFO):
        result = serve(fast_path, event("POST", "/svc/boom", body=b"{}"))

    assert result["statusCode"] == 500
    assert "secret" not in result["body"]
    assert json.loads(result["body"])["code"] == "internal_error"
    assert any(r.exc_info and "secret" in str(r.exc_info[1]) for r in caplog.records)
    access = [r for r in caplog.records if r.name == "telemetry.access"]
    assert [r.levelno for r in access] == [logging.ERROR]


# -- HttpApiHandler with a fast path -----------------------------------------------------------


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"asgi": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def test_handler_serves_routed_requests_without_building_the_app() -> None:
    apps: list[int] = []
    fast_paths: list[int] = []

    def build_fast_path() -> FastPath:
        fast_paths.append(1)
        return FastPath(router(), max_body_bytes=1024)

    handler = HttpApiHandler(lambda: apps.append(1) or asgi_app, fast_path=build_fast_path)

    first = handler(event("GET", "/svc/v1/healthcheck", stage="Stage"), None)
    second = handler(event("POST", "/svc/v1/things/create", body=b"{}"), None)

    assert (first["statusCode"], first["body"]) == (200, "OK")
    assert second["statusCode"] == 200
    assert (apps, fast_paths) == ([], [1])
    assert handler.fast_path_built
    assert not handler.built


def test_handler_hands_unrouted_requests_to_the_app_built_on_first_need() -> None:
    apps: list[int] = []
    handler = HttpApiHandler(
        lambda: apps.append(1) or asgi_app,
        fast_path=lambda: FastPath(router(), max_body_bytes=1024),
    )

    graphql = handler(event("POST", "/svc/graphql", stage="Stage", body=b"{}"), None)
    handler(event("GET", "/svc/v1/nothing"), None)
    handler.reset()

    assert json.loads(graphql["body"]) == {"asgi": "/svc/graphql"}
    assert apps == [1]
    assert not handler.built
    assert not handler.fast_path_built


def test_failed_fast_path_build_is_retried_when_the_next_event_comes() -> None:
    attempts: list[int] = []

    def build_fast_path() -> FastPath:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("bad settings")
        return FastPath(router(), max_body_bytes=1024)

    handler = HttpApiHandler(lambda: asgi_app, fast_path=build_fast_path)

    with pytest.raises(RuntimeError):
        handler(event("GET", "/svc/v1/healthcheck"), None)
    assert handler(event("GET", "/svc/v1/healthcheck"), None)["statusCode"] == 200


# -- tracing -----------------------------------------------------------------------------------


@pytest.fixture
def tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    for name in ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"):
        monkeypatch.delenv(name, raising=False)
    with OtlpReceiver() as receiver:
        settings = telemetry.TelemetrySettings(
            otlp_traces_endpoint=receiver.traces_endpoint, traces_exporter=("otlp",)
        )
        telemetry.configure("svc", settings)
        try:
            yield receiver
        finally:
            reset_telemetry()


def test_server_span_continues_the_incoming_trace_when_tracing_is_on(
    tracing: OtlpReceiver,
) -> None:
    handler = HttpApiHandler(
        lambda: asgi_app, fast_path=lambda: FastPath(router(), max_body_bytes=1024)
    )
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    handler(
        event(
            "GET",
            "/svc/v1/things/t/parts/p",
            stage="Stage",
            query="a=%2F",
            headers={"traceparent": parent},
        ),
        None,
    )

    span = tracing.wait_for(lambda s: s.kind == "SERVER")
    assert span.name == "GET /svc/v1/things/{thing_id}/parts/{part_id}"
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id == "b7ad6b7169203331"
    assert span.attributes == {
        "http.flavor": "1.1",
        "http.host": f"{HOST}:443",
        "http.method": "GET",
        "http.route": "/svc/v1/things/{thing_id}/parts/{part_id}",
        "http.scheme": "https",
        "http.server_name": HOST,
        "http.status_code": 200,
        "http.target": "/svc/v1/things/t/parts/p",
        "http.url": f"https://{HOST}/svc/v1/things/t/parts/p?a=/",
        "http.user_agent": "curl/8.5.0",
        "net.host.port": 443,
        "net.peer.ip": "192.0.2.1",
    }


def test_server_span_is_an_error_when_the_answer_is_a_5xx(tracing: OtlpReceiver) -> None:
    routes = Router()
    routes.add("POST", "/svc/boom", lambda _r: Response.problem(Problem(503, "down", "down")))
    fast_path = FastPath(routes, max_body_bytes=1024)

    fast_path.serve(event("POST", "/svc/boom", body=b"{}"))
    telemetry.flush()

    span = tracing.wait_for(lambda s: s.kind == "SERVER")
    assert span.status_code == "ERROR"
    assert span.attributes["http.status_code"] == 503


def test_no_span_is_recorded_when_the_url_is_excluded(
    tracing: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "healthcheck")
    fast_path = FastPath(router(), max_body_bytes=1024)

    fast_path.serve(event("GET", "/svc/v1/healthcheck"))
    fast_path.serve(event("POST", "/svc/v1/things/create", body=b"{}"))
    telemetry.flush()

    span = tracing.wait_for(lambda s: s.kind == "SERVER")
    assert span.name == "POST /svc/v1/things/create"
    assert [s.name for s in tracing.spans if s.kind == "SERVER"] == [span.name]
