"""The Lambda fast path answers every REST request exactly as the FastAPI app does.

Each case is a short scenario of requests, sent as real-shaped API Gateway HTTP API (payload
2.0) events (on a named stage and on `$default`) to:

- the reference: the FastAPI app behind Mangum with every request through its routes and
  middleware (`HttpApiHandler(lambda: create_app(fast_path=False))`, the Lambda path before the
  fast path existed);
- the candidate: `command_service.lambda_handler.handler`, whose router serves the REST
  endpoints without FastAPI and hands anything else to the same app.

Both run on their own in-memory event store from the same environment; status, headers and
body of every response must be equal, with generated ids replaced by placeholders in order of
appearance (the two sides generate different ids for the same request).
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from auth.testing import TokenIssuer, aws_jwt_event_context
from command_parity_scenarios import (
    BEARER_CASES,
    BODY_CASES,
    COMMAND_CASES,
    HEALTHCHECK,
    IDEMPOTENCY_CASES,
    NO_CALLER_CASES,
    ROUTING_CASES,
    WITH_MESSAGE,
    Step,
    create,
    filled,
    normalized,
    post,
)
from command_service import lambda_handler
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import ALICE, BOB, GROUP_CHATS
from http_kit.aws_lambda import HttpApiHandler
from telemetry.testing import OtlpReceiver, reset_telemetry

EventFactory = Callable[..., dict[str, Any]]

# The shared scenarios, and those only the Lambda edge has (API Gateway's stages, base64
# bodies, the JWT authorizer's claims; its body limit is the default 64 KiB).
CASES: dict[str, list[Step]] = {
    **ROUTING_CASES,
    "healthcheck with a query string": [Step("GET", f"{HEALTHCHECK}?verbose=1")],
    **BODY_CASES,
    "create, base64 body": [create(base64_body=True)],
    "not UTF-8": [post("create", b'{"name": "\xff", "executorId": "x"}', base64_body=True)],
    "nested too deep": [post("create", "[" * 50_000)],
    "body at the limit": [post("create", {"name": "x", "executorId": ALICE, "p": "y" * 65_490})],
    "body over the limit (413)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000})
    ],
    "declared length over the limit (413)": [
        create(headers={"content-length": "70000"}),
    ],
    **COMMAND_CASES,
    **IDEMPOTENCY_CASES,
}

JWT_CASES: dict[str, list[Step]] = {
    "authorizer's subject is the executor": [create(claims=ALICE)],
    "authorizer's subject is someone else (403)": [create(executor=BOB, claims=ALICE)],
    "no authorizer claims (401)": [create()],
    "garbage subject (401)": [create(claims="not-a-user")],
    "bearer token without a JWKS (401)": [create(headers={"authorization": "Bearer x.y.z"})],
    **NO_CALLER_CASES,
    "oversize body without a caller (401)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000})
    ],
    "oversize body with a caller (413)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000}, claims=ALICE)
    ],
    "bad body with a caller (400)": [post("create", "{", claims=ALICE)],
    "commands in a row": [replace(s, claims=ALICE) for s in WITH_MESSAGE],
}

JWKS_CASES: dict[str, list[Step]] = BEARER_CASES


# -- running -----------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Side:
    """One handler and the ids its answers gave so far."""

    handler: Handler
    ids: dict[str, str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        response = self.handler(copy.deepcopy(event), None)
        try:
            body = json.loads(response.get("body") or "null")
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key, name in (("groupChatId", "chat"), ("messageId", "message")):
                if key in body:
                    self.ids[name] = body[key]
        return response

    def comparable(self, response: dict[str, Any]) -> dict[str, Any]:
        """The response with ids replaced (the body decoded when it is base64)."""
        body = response.get("body", "")
        if response.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return {
            "statusCode": response["statusCode"],
            "headers": {k: normalized(v, self.seen) for k, v in response["headers"].items()},
            "body": normalized(body, self.seen),
            "isBase64Encoded": response.get("isBase64Encoded"),
        }


def event_for(
    step: Step, ids: dict[str, str], stage: str, make: EventFactory, issuer: TokenIssuer | None
) -> dict[str, Any]:
    body = step.body
    if isinstance(body, dict):
        body = json.dumps(filled(body, ids))
    headers = dict(step.headers)
    if step.token is not None:
        assert issuer is not None
        token = issuer.token(ALICE) if step.token == "valid" else "not.a.token"
        headers["authorization"] = f"Bearer {token}"
    path, _, query = step.path.partition("?")
    event = make(
        step.method,
        path,
        stage=stage,
        query=query,
        headers=headers,
        body=body,
        base64_body=step.base64_body,
    )
    if "content-length" in step.headers:
        event["headers"]["content-length"] = step.headers["content-length"]
    if step.claims is not None:
        event["requestContext"]["authorizer"] = aws_jwt_event_context(step.claims)
    event["requestContext"]["requestId"] = "apigw-request-id="
    return event


def reference_handler() -> HttpApiHandler:
    """The FastAPI app behind Mangum, configured from the environment."""
    return HttpApiHandler(lambda: create_app(Settings(), fast_path=False))


@pytest.fixture
def candidate() -> Iterator[Handler]:
    lambda_handler.reset()
    yield lambda_handler.handler
    lambda_handler.reset()


@pytest.fixture
def memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_STORE_URL", "memory://")


def run_both(
    steps: list[Step],
    stage: str,
    make: EventFactory,
    candidate: Handler,
    issuer: TokenIssuer | None = None,
) -> None:
    reference, fast = Side(reference_handler()), Side(candidate)
    for number, step in enumerate(steps):
        expected = reference.send(event_for(step, reference.ids, stage, make, issuer))
        actual = fast.send(event_for(step, fast.ids, stage, make, issuer))
        assert fast.comparable(actual) == reference.comparable(expected), f"step {number}: {step}"


@pytest.mark.usefixtures("memory_store")
@pytest.mark.parametrize("stage", ["Stage", "$default"])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_answers_as_the_app_when_auth_is_off(
    case: str, stage: str, http_api_event: EventFactory, candidate: Handler
) -> None:
    run_both(CASES[case], stage, http_api_event, candidate)


@pytest.mark.usefixtures("memory_store")
@pytest.mark.parametrize("case", list(JWT_CASES))
def test_fast_path_answers_as_the_app_behind_the_jwt_authorizer(
    case: str, http_api_event: EventFactory, candidate: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_MODE", "jwt")

    run_both(JWT_CASES[case], "Stage", http_api_event, candidate)


@pytest.mark.usefixtures("memory_store")
@pytest.mark.parametrize("case", list(JWKS_CASES))
def test_fast_path_answers_as_the_app_with_bearer_tokens(
    case: str,
    http_api_event: EventFactory,
    candidate: Handler,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    issuer = TokenIssuer(tmp_path)
    for name, value in issuer.environ().items():
        monkeypatch.setenv(name, value)

    run_both(JWKS_CASES[case], "$default", http_api_event, candidate, issuer)


def test_the_rest_endpoints_do_not_build_the_app(
    memory_store: None, http_api_event: EventFactory, candidate: Handler
) -> None:
    side = Side(candidate)
    for step in WITH_MESSAGE:
        assert side.send(event_for(step, side.ids, "Stage", http_api_event, None))[
            "statusCode"
        ] in (
            200,
            201,
        )
    side.send(http_api_event("GET", HEALTHCHECK))

    assert lambda_handler.handler.fast_path_built
    assert not lambda_handler.handler.built


def test_graphql_after_rest_runs_on_the_same_store(
    memory_store: None, http_api_event: EventFactory, candidate: Handler
) -> None:
    side = Side(candidate)
    side.send(event_for(create(), side.ids, "Stage", http_api_event, None))
    mutation = (
        f'mutation {{ renameGroupChat(input: {{groupChatId: "{side.ids["chat"]}", '
        f'name: "via graphql", executorId: "{ALICE}"}}) {{ groupChatId }} }}'
    )

    response = side.send(
        http_api_event(
            "POST",
            "/command/graphql",
            stage="Stage",
            headers={"content-type": "application/json"},
            body=json.dumps({"query": mutation}),
        )
    )

    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {
        "data": {"renameGroupChat": {"groupChatId": side.ids["chat"]}}
    }


def _access_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    keys = ("method", "path", "status", "apigw_request_id", "levelname", "request_id")
    return [
        {k: getattr(r, k, None) for k in keys} | {"message": r.getMessage()}
        for r in records
        if r.name == "telemetry.access"
    ]


def test_access_log_lines_are_the_apps(
    memory_store: None,
    http_api_event: EventFactory,
    candidate: Handler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = [create(), post("create", "{"), Step("GET", f"{GROUP_CHATS}/create")]
    lines = []
    for handler in (reference_handler(), candidate):
        side = Side(handler)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for step in steps:
                event = event_for(step, side.ids, "Stage", http_api_event, None)
                event["headers"]["x-request-id"] = "client-id"
                side.send(event)
        lines.append(_access_lines(caplog.records))

    assert lines[1] == lines[0]
    assert [line["status"] for line in lines[0]] == [201, 400, 405]


def test_server_spans_are_the_apps(
    memory_store: None,
    http_api_event: EventFactory,
    candidate: Handler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps = [create(), post("create", "{"), Step("GET", f"{GROUP_CHATS}/create")]
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    spans = []
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        for handler in (reference_handler(), candidate):
            receiver.clear()
            side = Side(handler)
            for step in steps:
                event = event_for(step, side.ids, "Stage", http_api_event, None)
                event["headers"]["traceparent"] = traceparent
                side.send(event)
            server = receiver.wait_until(
                lambda received: len([s for s in received if s.kind == "SERVER"]) == len(steps)
            )
            spans.append(
                [
                    (s.name, s.trace_id, s.parent_span_id, s.status_code, s.attributes)
                    for s in server
                    if s.kind == "SERVER"
                ]
            )
        reset_telemetry()

    assert spans[1] == spans[0]
    assert [name for name, *_ in spans[0]] == [
        "POST /command/v1/group-chats/create",
        "POST /command/v1/group-chats/create",
        "GET /command/v1/group-chats/create",
    ]


def test_the_shared_commands_are_the_apps_routes_and_models() -> None:
    # rest_commands names each command's fields in the order of its request model, so that the
    # fast path reports missing and mistyped fields in the app's order.
    from command_service import rest_commands

    document = create_app(Settings(event_store_url="memory://")).openapi()
    paths = {p: item for p, item in document["paths"].items() if p.startswith(GROUP_CHATS)}

    assert sorted(paths) == sorted(c.path for c in rest_commands.REST_COMMANDS)
    for command in rest_commands.REST_COMMANDS:
        body = paths[command.path]["post"]["requestBody"]["content"]["application/json"]
        model = body["schema"]["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][model]
        assert tuple(schema["properties"]) == command.fields, command.path
        assert sorted(schema["required"]) == sorted(command.fields), command.path
