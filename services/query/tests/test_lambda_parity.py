"""The Lambda fast path answers every request exactly as the FastAPI app does.

One table of requests (every REST endpoint, good and bad; health checks; other methods; unknown
paths; GraphQL and the OpenAPI document, which fall through to the app) is sent as API Gateway
HTTP API events, on a named stage and on `$default`, to two handlers over the same read model:

- the reference: the FastAPI app behind Mangum with every request through its routes and
  middleware (`HttpApiHandler(lambda: create_app(fast_path=False))`), which is how the Lambda
  served every request before the fast path;
- `query_service.lambda_handler.handler`, the fast path with the app behind it.

Status, body (byte for byte), headers and the access log line must be the same (`Allow` as a
set: Starlette lists the methods of a `set`; `Content-Length`, which the app's authentication
refusals lack, is checked on the fast path's answers instead). The routed requests must not
have built the FastAPI app: the comparison is of the fast path, not of the app with itself.
With `AUTH_MODE=jwt`, the table also runs with and without the claims of API Gateway's JWT
authorizer, and with bearer tokens verified against a local JWKS. A bug (500) is the one
answer that differs, in two details (see its test).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from auth.testing import TokenIssuer, aws_jwt_event_context
from http_kit.aws_lambda import HttpApiHandler
from query_parity_scenarios import (
    CHATS,
    JSON_TYPE,
    V1,
    Case,
    World,
    bearer,
    bearer_cases,
    rest_cases,
    seed_world,
    ulid_of,
)
from query_service import graphql, lambda_handler, rest
from query_service.app import create_app
from query_service.lambda_rest import GRAPHQL_PATH, SERVICE_NAME
from query_service.settings import Settings
from read_model import create_engine_for
from telemetry.testing import reset_telemetry


def _rest_cases(w: World) -> list[Case]:
    """The shared cases, and those only the Lambda edge has."""
    a, chat = w.alice, w.chat
    caller = f"userAccountId={a}"
    return [
        *rest_cases(w),
        Case("member, bad member id, no caller", "GET",
             f"{CHATS}/{chat}/members/nope"),
        Case("messages, no caller, bad limit and cursor", "GET",
             f"{CHATS}/{chat}/messages", f"limit=x&before={'x' * 257}"),
        Case("messages, not a member, bad cursor", "GET",
             f"{CHATS}/{w.bobs_chat}/messages", f"{caller}&before=garbage"),
        Case("POST chats", "POST", CHATS, caller, body=b"{}"),
        Case("DELETE message", "DELETE", f"{V1}/messages/{w.message}", caller),
        Case("PUT healthcheck", "PUT", "/query/healthcheck"),
        Case("OPTIONS members", "OPTIONS", f"{CHATS}/{chat}/members", caller),
        Case("body over the limit", "GET", CHATS, caller,
             headers=(("content-length", "100000"),)),
    ]  # fmt: skip


def _jwt_cases(w: World) -> list[Case]:
    a = w.alice
    chats = f"{V1}/group-chats"
    return [
        Case("jwt: chats as self", "GET", chats, f"userAccountId={a}", claims_of="alice"),
        Case("jwt: chats, bare id as self", "GET", chats, f"userAccountId={ulid_of(a)}",
             claims_of="alice"),
        Case("jwt: chats as someone else", "GET", chats, f"userAccountId={w.bob}",
             claims_of="alice"),
        Case("jwt: chats without claims", "GET", chats, f"userAccountId={a}"),
        Case("jwt: chats, no caller", "GET", chats, claims_of="alice"),
        Case("jwt: chats, subject not a user", "GET", chats, f"userAccountId={a}",
             claims_of="not-a-user"),
        Case("jwt: chat as someone else", "GET", f"{chats}/{w.chat}",
             f"userAccountId={w.bob}", claims_of="alice"),
        Case("jwt: bad chat id without claims", "GET", f"{chats}/x", f"userAccountId={a}"),
        Case("jwt: messages as someone else, bad limit", "GET", f"{chats}/{w.chat}/messages",
             f"userAccountId={w.bob}&limit=0", claims_of="alice"),
        Case("jwt: message as self", "GET", f"{V1}/messages/{w.message}",
             f"userAccountId={a}", claims_of="alice"),
        Case("jwt: healthcheck without claims", "GET", "/query/healthcheck"),
        Case("jwt: POST without claims", "POST", chats, f"userAccountId={a}", body=b"{}"),
        Case("jwt: POST with claims", "POST", chats, f"userAccountId={a}", claims_of="alice",
             body=b"{}"),
        Case("jwt: bearer token nobody verifies", "GET", chats, f"userAccountId={a}",
             bearer("abc.def.ghi")),
        Case("jwt: not a bearer", "GET", chats, f"userAccountId={a}",
             (("authorization", "Basic YWxpY2U6c2VjcmV0"),)),
        Case("jwt: body over the limit without claims", "GET", chats, f"userAccountId={a}",
             (("content-length", "100000"),)),
        Case("jwt: unknown REST path without claims", "GET", f"{chats}/{w.chat}/x",
             routed=False),
        Case("jwt: GraphQL without claims", "POST", GRAPHQL_PATH, "", JSON_TYPE,
             json.dumps({"query": "{ __typename }"}).encode(), routed=False),
    ]  # fmt: skip


# -- running ------------------------------------------------------------------------------------


EventFactory = Callable[..., dict[str, Any]]


def _event(case: Case, world: World, stage: str, make_event: EventFactory) -> dict[str, Any]:
    assert isinstance(case.query, str), "an API Gateway event's query string is text"
    assert (case.chunks, case.length) == (1, None), "no chunks nor declared length in an event"
    headers = dict(case.headers)
    event = make_event(
        case.method,
        case.path,
        stage=stage,
        query=case.query,
        headers=headers,
        body=None if case.body is None else case.body.decode(),
    )
    if "content-length" in headers:
        event["headers"]["content-length"] = headers["content-length"]
    if case.claims_of is not None:
        subject = getattr(world, case.claims_of, case.claims_of)
        event["requestContext"]["authorizer"] = aws_jwt_event_context(subject)
    return event


def _comparable(result: dict[str, Any], *, length: bool = True) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    if not length:
        headers.pop("content-length", None)
    if "allow" in headers:
        headers["allow"] = sorted(m.strip() for m in headers["allow"].split(","))
    return {
        "statusCode": result["statusCode"],
        "headers": headers,
        "body": result.get("body"),
        "isBase64Encoded": result.get("isBase64Encoded"),
    }


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[Any, ...]]:
    """The access log lines since the last `caplog.clear()`, without their durations."""
    return [
        (r.levelname, r.getMessage(), *(getattr(r, k, None) for k in _ACCESS_FIELDS))
        for r in caplog.records
        if r.name == "telemetry.access"
    ]


_ACCESS_FIELDS = ("method", "path", "status", "request_id", "apigw_request_id", "error")


def _compare(
    cases: list[Case],
    world: World,
    reference: HttpApiHandler,
    make_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> list[str]:
    """Send every case to both handlers; the differences, described."""
    differences = []
    for routed in (True, False):
        for case in (c for c in cases if c.routed is routed):
            for stage in ("Stage", "$default"):
                event = _event(case, world, stage, make_event)
                caplog.clear()
                expected = _comparable(reference(copy.deepcopy(event), None))
                expected_log = _access_lines(caplog)
                assert len(expected_log) == 1, expected_log
                caplog.clear()
                answer = lambda_handler.handler(copy.deepcopy(event), None)
                if _access_lines(caplog) != expected_log:
                    differences.append(
                        f"{case.name} ({stage}), access log:\n  app:  {expected_log}\n"
                        f"  fast: {_access_lines(caplog)}"
                    )
                # The app's authentication refusals go out without Content-Length (API Gateway
                # adds it): the fast path's have it, right.
                length = "content-length" in expected["headers"]
                if routed:
                    assert int(answer["headers"]["content-length"]) == len(answer["body"].encode())
                actual = _comparable(answer, length=length)
                if actual != expected:
                    differences.append(
                        f"{case.name} ({stage}):\n  app:  {expected}\n  fast: {actual}"
                    )
        if routed and lambda_handler.handler.built:
            differences.append("a routed request fell through to the FastAPI app")
    if not lambda_handler.handler.built:
        differences.append("no request fell through to the FastAPI app")
    return differences


@pytest.fixture
def world(read_model_url: str) -> World:
    return seed_world(read_model_url)


@pytest.fixture
def lambda_env(
    read_model_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """The Lambda's environment (small pages), a fresh execution environment around the test."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "AUTH_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READ_MODEL_URL", read_model_url)
    monkeypatch.setenv("PAGE_SIZE_DEFAULT", "3")
    monkeypatch.setenv("PAGE_SIZE_MAX", "5")
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    caplog.set_level(logging.INFO, logger="telemetry.access")
    lambda_handler.reset()
    yield
    lambda_handler.reset()
    reset_telemetry()


def _reference() -> HttpApiHandler:
    """The FastAPI app behind Mangum, configured from the same environment."""
    return HttpApiHandler(lambda: create_app(Settings(), fast_path=False))


def test_fast_path_answers_as_the_app_with_authentication_off(
    world: World,
    lambda_env: None,
    http_api_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    differences = _compare(_rest_cases(world), world, _reference(), http_api_event, caplog)

    assert not differences, "\n".join(differences)


def test_fast_path_answers_as_the_app_behind_the_jwt_authorizer(
    world: World,
    lambda_env: None,
    monkeypatch: pytest.MonkeyPatch,
    http_api_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AUTH_MODE", "jwt")

    differences = _compare(_jwt_cases(world), world, _reference(), http_api_event, caplog)

    assert not differences, "\n".join(differences)


def test_fast_path_answers_as_the_app_with_bearer_tokens_verified_locally(
    world: World,
    lambda_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    http_api_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = TokenIssuer(tmp_path)
    for name, value in issuer.environ().items():
        monkeypatch.setenv(name, value)
    cases = [*bearer_cases(world, issuer), Case("unknown", "GET", f"{V1}/x", routed=False)]

    differences = _compare(cases, world, _reference(), http_api_event, caplog)

    assert not differences, "\n".join(differences)


# -- the two sides are the same API -------------------------------------------------------------


def test_fast_path_operations_are_the_apps_json_routes(read_model_url: str) -> None:
    app = create_app(Settings(read_model_url=read_model_url))
    document = app.openapi()
    json_gets = {
        operation["operationId"]: path
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method == "get" and "application/json" in operation["responses"]["200"]["content"]
    }

    assert {k: template for k, (template, _) in rest.OPERATIONS.items()} == json_gets
    assert GRAPHQL_PATH == graphql.GRAPHQL_PATH  # lambda_rest cannot import it (FastAPI)
    assert SERVICE_NAME == "query-service"  # create_app's


def test_rest_bodies_are_instances_of_the_documented_models(
    world: World, read_model_url: str
) -> None:
    from chat_domain.ids import GroupChatId, MessageId, UserAccountId
    from query_service.schemas import GroupChat, Member, Message, MessagePage

    engine = create_engine_for(read_model_url)
    alice = UserAccountId.parse(world.alice, field="userAccountId")
    chat = GroupChatId.parse(world.chat, field="groupChatId")
    bodies: list[tuple[Callable[..., Any], Any]] = [
        (GroupChat, rest.group_chat(engine, chat, alice)),
        (Member, rest.member(engine, chat, UserAccountId.parse(world.bob, field="m"), alice)),
        (Message, rest.message(engine, MessageId.parse(world.message, field="m"), alice)),
        (MessagePage, rest.messages(engine, chat, alice, limit=2, before=None)),
    ]
    engine.dispose()

    for model, body in bodies:
        validated = model.model_validate(body)  # type: ignore[attr-defined]
        assert validated.model_dump(by_alias=True, mode="json") == body


# -- traces ---------------------------------------------------------------------------------------


def test_fast_path_read_is_traced_as_the_app_traces_it(
    world: World,
    lambda_env: None,
    monkeypatch: pytest.MonkeyPatch,
    http_api_event: EventFactory,
) -> None:
    from telemetry.testing import OtlpReceiver

    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    event = http_api_event(
        "GET", f"{V1}/group-chats/{world.chat}/messages", query=f"userAccountId={world.alice}"
    )
    traces = []
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        for handler in (_reference(), lambda_handler.handler):
            receiver.clear()
            assert handler(copy.deepcopy(event), None)["statusCode"] == 200
            spans = receiver.wait_until(
                lambda spans: {"query get_messages"} <= {s.name for s in spans}
            )
            query = next(s for s in spans if s.name == "query get_messages")
            server = next(s for s in spans if s.span_id == query.parent_span_id)
            traces.append(
                (
                    server.name,
                    server.kind,
                    dict(server.attributes),
                    query.kind,
                    dict(query.attributes),
                )
            )
        reset_telemetry()  # flush while the receiver still listens

    app, fast = traces
    assert fast == app


def test_fast_path_answers_a_bug_with_the_apps_500(
    world: World,
    lambda_env: None,
    monkeypatch: pytest.MonkeyPatch,
    http_api_event: EventFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Same status, body and access log line (naming the exception type); the fast path's
    answer also has `x-request-id` (the app's 500 is sent by Starlette outside the access-log
    middleware, so it has none: the fast path's is the more useful answer)."""
    from read_model import queries

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "get_group_chats", broken)
    event = http_api_event("GET", f"{V1}/group-chats", query=f"userAccountId={world.alice}")

    caplog.clear()
    expected = _reference()(copy.deepcopy(event), None)
    expected_lines = _access_lines(caplog)
    caplog.clear()
    actual = lambda_handler.handler(copy.deepcopy(event), None)

    assert (actual["statusCode"], actual["body"]) == (expected["statusCode"], expected["body"])
    assert actual["headers"]["content-type"] == expected["headers"]["content-type"]
    # level, method, path, status, error (request ids differ between the two invocations)
    lines = [(line[0], line[2], line[3], line[4], line[7]) for line in _access_lines(caplog)]
    assert lines == [(x[0], x[2], x[3], x[4], x[7]) for x in expected_lines]
    assert lines == [("ERROR", "GET", "/query/v1/group-chats", 500, "RuntimeError")]
