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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from auth.testing import TokenIssuer, aws_jwt_event_context
from command_service import lambda_handler
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import ALICE, BOB, CAROL, GROUP_CHATS
from http_kit.aws_lambda import HttpApiHandler
from telemetry.testing import OtlpReceiver, reset_telemetry

HEALTHCHECK = "/command/v1/healthcheck"
UNKNOWN_CHAT = "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z"
EventFactory = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Step:
    """One request. `body`: a dict (JSON, with "{chat}"/"{message}" standing for the ids of
    earlier answers), a str or bytes (sent as is). `claims`: the JWT authorizer's subject."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    claims: str | None = None
    base64_body: bool = False
    token: str | None = None  # "valid" / "invalid": an Authorization header from the issuer


def post(name: str, body: Any, **kwargs: Any) -> Step:
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return Step("POST", f"{GROUP_CHATS}/{name}", body, headers=headers, **kwargs)


def create(executor: str = ALICE, name: str = "developers", **kwargs: Any) -> Step:
    return post("create", {"name": name, "executorId": executor}, **kwargs)


CHAT = {"groupChatId": "{chat}", "executorId": ALICE}
WITH_BOB = [create(), post("add-member", {**CHAT, "userAccountId": BOB, "role": "member"})]
WITH_MESSAGE = [*WITH_BOB, post("post-message", {**CHAT, "content": "hello"})]
MESSAGE = {**CHAT, "messageId": "{message}"}

CASES: dict[str, list[Step]] = {
    # -- health check, routing --------------------------------------------------------------
    "healthcheck": [Step("GET", HEALTHCHECK)],
    "healthcheck with a query string": [Step("GET", f"{HEALTHCHECK}?verbose=1")],
    "healthcheck posted (405)": [Step("POST", HEALTHCHECK, "{}")],
    "healthcheck HEAD": [Step("HEAD", HEALTHCHECK)],
    "command with GET (405)": [Step("GET", f"{GROUP_CHATS}/create")],
    "command with PUT (405)": [Step("PUT", f"{GROUP_CHATS}/create", "{}")],
    "unknown command (404)": [post("unknown", {})],
    "unknown path (404)": [Step("GET", "/command/v1/nothing")],
    "trailing slash (redirect)": [post("create/", {"name": "x", "executorId": ALICE})],
    "graphql (falls through)": [
        Step(
            "POST",
            "/command/graphql",
            {"query": "{ __typename }"},
            headers={"content-type": "application/json"},
        )
    ],
    "openapi document (falls through)": [Step("GET", "/command/openapi.json")],
    # -- create: good and bad bodies -----------------------------------------------------------
    "create": [create()],
    "create, extra fields ignored": [post("create", {"name": "x", "executorId": ALICE, "x": 1})],
    "create, base64 body": [create(base64_body=True)],
    "create, client request id": [create(headers={"x-request-id": "client-id-1"})],
    "create, unusable client request id": [create(headers={"x-request-id": "bad id!"})],
    "invalid JSON": [post("create", "{not json")],
    "truncated JSON": [post("create", '{"name": "x", "executorId": ')],
    "empty body": [post("create", "")],
    "JSON null": [post("create", "null")],
    "JSON array": [post("create", "[]")],
    "JSON string": [post("create", '"x"')],
    "JSON number": [post("create", "42")],
    "not UTF-8": [post("create", b'{"name": "\xff", "executorId": "x"}', base64_body=True)],
    "lone surrogate": [post("create", '{"name": "\\ud800", "executorId": "' + ALICE + '"}')],
    "nested too deep": [post("create", "[" * 50_000)],
    "no content type": [Step("POST", f"{GROUP_CHATS}/create", {"name": "x", "executorId": ALICE})],
    "text/plain content type": [create(headers={"content-type": "text/plain"})],
    "+json content type": [create(headers={"content-type": "application/merge-patch+json"})],
    "json with charset": [create(headers={"content-type": "application/json; charset=utf-8"})],
    "missing fields": [post("create", {})],
    "one missing field": [post("create", {"name": "x"})],
    "number for a string": [post("create", {"name": 1, "executorId": ALICE})],
    "null for a string": [post("create", {"name": None, "executorId": ALICE})],
    "object for a string": [post("create", {"name": {"a": 1}, "executorId": ALICE})],
    "wrong type and missing": [post("create", {"name": True})],
    "garbage executor id": [create(executor="nope")],
    "bare ULID executor id": [create(executor=ALICE.removeprefix("UserAccount-"))],
    "empty name": [create(name="")],
    "name too long": [create(name="x" * 101)],
    "body at the limit": [post("create", {"name": "x", "executorId": ALICE, "p": "y" * 65_490})],
    "body over the limit (413)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000})
    ],
    "declared length over the limit (413)": [
        create(headers={"content-length": "70000"}),
    ],
    # -- the other commands ----------------------------------------------------------------------
    "rename": [create(), post("rename", {**CHAT, "name": "renamed"})],
    "rename, same name (422)": [create(), post("rename", {**CHAT, "name": "developers"})],
    "rename by a non-member (422)": [
        create(),
        post("rename", {**CHAT, "executorId": BOB, "name": "x"}),
    ],
    "rename an unknown chat (404)": [
        post("rename", {"groupChatId": UNKNOWN_CHAT, "name": "x", "executorId": ALICE})
    ],
    "rename a garbage chat id (400)": [
        post("rename", {"groupChatId": "GroupChat-nope", "name": "x", "executorId": ALICE})
    ],
    "delete, then delete again (422)": [create(), post("delete", CHAT), post("delete", CHAT)],
    "add member, then again (422)": [*WITH_BOB, WITH_BOB[1]],
    "add member with a bad role (400)": [
        create(),
        post("add-member", {**CHAT, "userAccountId": BOB, "role": "owner"}),
    ],
    "remove member": [*WITH_BOB, post("remove-member", {**CHAT, "userAccountId": BOB})],
    "remove a non-member (422)": [
        create(),
        post("remove-member", {**CHAT, "userAccountId": CAROL}),
    ],
    "post, edit and delete a message": [
        *WITH_MESSAGE,
        post("edit-message", {**MESSAGE, "content": "edited"}),
        post("delete-message", MESSAGE),
        post("delete-message", MESSAGE),
    ],
    "edit someone else's message (422)": [
        *WITH_MESSAGE,
        post("edit-message", {**MESSAGE, "executorId": BOB, "content": "x"}),
    ],
    "post a blank message (400)": [create(), post("post-message", {**CHAT, "content": "  "})],
    "garbage message id (400)": [
        create(),
        post("delete-message", {**CHAT, "messageId": "nope"}),
    ],
    "edit-message, missing fields": [post("edit-message", {"groupChatId": 1})],
    # -- idempotency -----------------------------------------------------------------------------
    "idempotent replay, then key reuse (422)": [
        create(headers={"idempotency-key": "key-1"}),
        create(headers={"idempotency-key": "key-1"}),
        create(name="other", headers={"idempotency-key": "key-1"}),
    ],
    "idempotent post-message replay": [
        create(),
        post("post-message", {**CHAT, "content": "hi"}, headers={"idempotency-key": "k"}),
        post("post-message", {**CHAT, "content": "hi"}, headers={"idempotency-key": "k"}),
    ],
    "empty idempotency key (400)": [create(headers={"idempotency-key": ""})],
    "idempotency key too long (400)": [create(headers={"idempotency-key": "k" * 256})],
    "idempotency key with a bad body (400 body first)": [
        post("create", {}, headers={"idempotency-key": "k"})
    ],
}

JWT_CASES: dict[str, list[Step]] = {
    "authorizer's subject is the executor": [create(claims=ALICE)],
    "authorizer's subject is someone else (403)": [create(executor=BOB, claims=ALICE)],
    "no authorizer claims (401)": [create()],
    "garbage subject (401)": [create(claims="not-a-user")],
    "bearer token without a JWKS (401)": [create(headers={"authorization": "Bearer x.y.z"})],
    "healthcheck needs no caller": [Step("GET", HEALTHCHECK)],
    "wrong method without a caller (401)": [Step("GET", f"{GROUP_CHATS}/create")],
    "oversize body without a caller (401)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000})
    ],
    "oversize body with a caller (413)": [
        post("create", {"name": "x", "executorId": ALICE, "p": "y" * 70_000}, claims=ALICE)
    ],
    "bad body with a caller (400)": [post("create", "{", claims=ALICE)],
    "commands in a row": [*[Step(**{**s.__dict__, "claims": ALICE}) for s in WITH_MESSAGE]],
}

JWKS_CASES: dict[str, list[Step]] = {
    "valid bearer token": [create(token="valid")],
    "invalid bearer token (401)": [create(token="invalid")],
    "not a bearer scheme (401)": [create(headers={"authorization": "Basic abc"})],
    "valid token for someone else (403)": [create(executor=BOB, token="valid")],
}


# -- running -----------------------------------------------------------------------------------

_ID = re.compile(r"(?:GroupChat-|UserAccount-)?[0-9A-HJKMNP-TV-Z]{26}")
_FIXED = {ALICE, BOB, CAROL, UNKNOWN_CHAT}


def normalized(text: str, seen: dict[str, str]) -> str:
    """`text` with generated ids replaced by `<id N>` (N: order of first appearance)."""

    def placeholder(found: re.Match[str]) -> str:
        value = found.group(0)
        if value in _FIXED:
            return value
        return seen.setdefault(value, f"<id {len(seen)}>")

    return _ID.sub(placeholder, text)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value in ("{chat}", "{message}"):
        return ids[value.strip("{}")]
    return value


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
        body = json.dumps(_fill(body, ids))
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
