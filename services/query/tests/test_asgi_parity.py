"""Under an ASGI server, the fast path answers every REST request exactly as FastAPI does.

One table of requests (every read endpoint, good and bad: visibility, ids, page sizes, cursors,
repeated and odd query parameters; health checks; other methods; body limits; unknown paths,
GraphQL and the OpenAPI document, which fall through to the app) is sent as an ASGI server
sends it (raw ASGI calls on one event loop, inside both apps' lifespans; the path
percent-decoded with `raw_path` kept, the query string as raw bytes) to two apps over the same
seeded read model:

- the reference, `create_app(settings, fast_path=False)`: every request through FastAPI's
  routes and the app's middleware;
- the candidate, `create_app(settings)`: `http_kit.asgi_fast_path.FastPathMiddleware` serving
  the REST endpoints in front of the same app.

The reads change nothing, so both see the same state. Status, body (byte for byte), headers
(as a set of (name, value) pairs; `Allow` as a set of methods; `x-request-id` as "the
client's" or "generated") and the access log line must be the same, and exactly the requests
marked so must fall through to the app behind the fast path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from auth import AuthSettings
from auth.testing import TokenIssuer
from fastapi import FastAPI
from http_kit.testing import fall_throughs
from query_parity_scenarios import (
    CHATS,
    JSON_TYPE,
    V1,
    Case,
    World,
    bearer,
    bearer_cases,
    limit_case,
    rest_cases,
    seed_world,
)
from query_service.app import create_app
from query_service.lambda_rest import GRAPHQL_PATH
from query_service.settings import Settings

LIMIT = 4096
Message = dict[str, Any]


def _rest_cases(w: World) -> list[Case]:
    """The shared cases, and those only the ASGI edge has."""
    a, chat = w.alice, w.chat
    caller = f"userAccountId={a}"
    chats = CHATS
    messages = f"{chats}/{chat}/messages"
    return [
        *rest_cases(w),
        Case("healthcheck with a query", "GET", "/query/healthcheck", "x=1&x=2"),
        Case("healthcheck POST", "POST", "/query/healthcheck", body=b"{}"),
        # -- group chats --------------------------------------------------------------------
        Case("chats, raw non-UTF-8 caller", "GET", chats, b"userAccountId=\xff\xfe",
             routed=False),
        Case("chats, raw non-ASCII other parameter", "GET", chats, f"{caller}&x=é"),
        Case("chats, semicolon", "GET", chats, f"{caller};x=1"),
        Case("chats POST", "POST", chats, caller, JSON_TYPE, b"{}"),
        Case("chats PUT", "PUT", chats, caller, JSON_TYPE, b"{}"),
        Case("chats, client request id", "GET", chats, caller, (("x-request-id", "rid-1"),)),
        Case("chats, two client request ids", "GET", chats, caller,
             (("x-request-id", "rid-1"), ("x-request-id", "rid-2"))),
        Case("chats, unusable client request id", "GET", chats, caller,
             (("x-request-id", "no good"),)),
        # -- one group chat -----------------------------------------------------------------
        Case("chat, non-UTF-8 id", "GET", f"{chats}/%FF", caller),
        Case("chat, trailing slash", "GET", f"{chats}/{chat}/", caller, routed=False),
        Case("chat DELETE", "DELETE", f"{chats}/{chat}", caller),
        # -- members ------------------------------------------------------------------------
        Case("members OPTIONS", "OPTIONS", f"{chats}/{chat}/members", caller),
        # -- messages -----------------------------------------------------------------------
        Case("messages, repeated limit (last wins)", "GET", messages,
             f"{caller}&limit=9&limit=1"),
        Case("messages, repeated cursor (last wins)", "GET", messages,
             f"{caller}&before=garbage&before={w.cursor}"),
        *(limit_case(w, raw) for raw in [" 2", "0x2"]),
        Case("messages, removed member", "GET", messages, f"userAccountId={w.carol}"),
        Case("message HEAD", "HEAD", f"{V1}/messages/{w.message}", caller),
        Case("message POST", "POST", f"{V1}/messages/{w.message}", caller, JSON_TYPE, b"{}"),
        # -- bodies -------------------------------------------------------------------------
        Case("GET with a small body", "GET", chats, caller, JSON_TYPE, b'{"x": 1}'),
        Case("declared body over the limit", "GET", chats, caller,
             length=str(LIMIT + 1)),
        Case("body over the limit", "GET", chats, caller, body=b"x" * (LIMIT + 1)),
        Case("body over the limit, chunked", "GET", chats, caller, body=b"x" * (LIMIT + 1),
             chunks=3),
        Case("body over a small declared length", "GET", chats, caller,
             body=b"x" * (LIMIT + 1), chunks=2, length="3"),
        Case("POST over the limit", "POST", chats, caller, body=b"x" * (LIMIT + 1)),
        # -- not routed here ----------------------------------------------------------------
        Case("lower-case method", "get", chats, caller, routed=False),
    ]  # fmt: skip


def _bearer_cases(w: World, issuer: TokenIssuer) -> list[Case]:
    """The shared cases, and those only the ASGI edge has."""
    a = w.alice
    chats = CHATS
    return [
        *bearer_cases(w, issuer),
        Case("bearer: chat as someone else", "GET", f"{chats}/{w.chat}",
             f"userAccountId={w.bob}", bearer(issuer.token(a))),
        Case("bearer: not a bearer", "GET", chats, f"userAccountId={a}",
             (("authorization", "Basic YWxpY2U6c2VjcmV0"),)),
        Case("bearer: none, bad chat id", "GET", f"{chats}/x", f"userAccountId={a}"),
        Case("bearer: none, wrong method", "POST", chats, f"userAccountId={a}", body=b"{}"),
        Case("bearer: none, declared body over the limit", "GET", chats, f"userAccountId={a}",
             length=str(LIMIT + 1)),
        Case("bearer: as self, body over the limit", "GET", chats, f"userAccountId={a}",
             bearer(issuer.token(a)), b"x" * (LIMIT + 1)),
        Case("bearer: message as self", "GET", f"{V1}/messages/{w.message}",
             f"userAccountId={a}", bearer(issuer.token(a))),
        Case("bearer: healthcheck needs none", "GET", "/query/healthcheck"),
        Case("bearer: none, unknown path", "GET", f"{chats}/{w.chat}/x", routed=False),
        Case("bearer: none, GraphQL", "POST", GRAPHQL_PATH, "", JSON_TYPE,
             json.dumps({"query": "{ __typename }"}).encode(), routed=False),
    ]  # fmt: skip


# -- a raw ASGI client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the app sent back: nothing (`status` None), or one complete response; and the
    exception it raised to the server after that, if any."""

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raised: Exception | None = None


async def request(app: FastAPI, case: Case) -> Answer:
    """`app` called as an ASGI server (uvicorn) calls it for `case`."""
    body = case.body or b""
    headers = [("host", "testserver"), *case.headers]
    if case.chunks > 1:
        size = -(-len(body) // case.chunks)
        chunks = [body[n : n + size] for n in range(0, len(body), size)]
        headers.append(("transfer-encoding", "chunked"))
    else:
        chunks = [body]
        if case.body is not None:
            headers.append(("content-length", str(len(body))))
    if case.length is not None:
        headers = [(k, v) for k, v in headers if k not in ("content-length", "transfer-encoding")]
        headers.append(("content-length", case.length))
    query = case.query.encode() if isinstance(case.query, str) else case.query
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("testserver", 80),
        "client": ("192.0.2.7", 50000),
        "scheme": "http",
        "method": case.method,
        "root_path": "",
        "path": unquote(case.path),  # as uvicorn: decoded; `raw_path` as sent
        "raw_path": case.path.encode(),
        "query_string": query,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "state": {},
    }
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []
    done = asyncio.Event()

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await done.wait()  # as a server: nothing more until the response is out
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    raised = None
    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
    except Exception as exc:  # as a server: log it, and answer 500 if nothing was sent
        raised = exc
    if not sent:
        return Answer(None, raised=raised)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    names = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"])
    body = b"".join(m.get("body", b"") for m in bodies)
    return Answer(start["status"], names, body, raised)


# -- running -------------------------------------------------------------------------------------


def _comparable(answer: Answer, case: Case, *, length: bool = True) -> dict[str, Any]:
    client_ids = {v for k, v in case.headers if k == "x-request-id"}
    headers = []
    for name, value in answer.headers:
        if name == "content-length" and not length:
            continue
        if name == "x-request-id":
            value = "<client's>" if value in client_ids else "<generated>"
        elif name == "allow":
            value = ", ".join(sorted(m.strip() for m in value.split(",")))
        headers.append((name, value))
    return {"status": answer.status, "headers": sorted(headers), "body": answer.body}


def _access_lines(records: list[logging.LogRecord]) -> list[tuple[Any, ...]]:
    keys = ("method", "path", "status", "error", "apigw_request_id")
    return [
        (r.levelname, r.getMessage(), *(getattr(r, k, None) for k in keys))
        for r in records
        if r.name == "telemetry.access"
    ]


def compare(
    cases: list[Case],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    auth: AuthSettings | None = None,
) -> tuple[list[str], dict[str, int | None]]:
    """Every case sent to both apps; the differences, described, and the reference's
    statuses by case name."""
    reference = create_app(settings, auth=auth, fast_path=False)
    fast = create_app(settings, auth=auth)
    fell_through = fall_throughs(fast)
    differences: list[str] = []
    statuses: dict[str, int | None] = {}

    async def main() -> None:
        async with (
            reference.router.lifespan_context(reference),
            fast.router.lifespan_context(fast),
        ):
            for case in cases:
                caplog.clear()
                expected = await request(reference, case)
                expected_log = _access_lines(caplog.records)
                statuses[case.name] = expected.status
                caplog.clear()
                before = len(fell_through)
                actual = await request(fast, case)
                actual_log = _access_lines(caplog.records)
                # The app's authentication refusals go out without Content-Length (the server
                # then sends them chunked); the fast path's have it, right.
                length = any(name == "content-length" for name, _ in expected.headers)
                sent_length = [int(v) for k, v in actual.headers if k == "content-length"]
                if case.routed and sent_length != [len(actual.body)]:
                    differences.append(f"{case.name}: Content-Length {sent_length}")
                want = _comparable(expected, case)
                got = _comparable(actual, case, length=length)
                if expected.raised is not None or actual.raised is not None:
                    differences.append(f"{case.name}: raised {expected.raised, actual.raised}")
                if got != want:
                    differences.append(f"{case.name}:\n  app:  {want}\n  fast: {got}")
                if actual_log != expected_log:
                    differences.append(
                        f"{case.name}, access log:\n  app:  {expected_log}\n  fast: {actual_log}"
                    )
                if (len(fell_through) > before) is case.routed:
                    differences.append(f"{case.name}: routed={case.routed}, {fell_through}")

    with caplog.at_level(logging.INFO, logger="telemetry.access"):
        asyncio.run(main())
    return differences, statuses


@pytest.fixture
def world(read_model_url: str) -> World:
    return seed_world(read_model_url)


@pytest.fixture
def settings(read_model_url: str) -> Settings:
    """Small pages and a small body limit, so that both are cheap to reach."""
    return Settings(
        read_model_url=read_model_url,
        page_size_default=3,
        page_size_max=5,
        max_body_bytes=LIMIT,
    )


def test_fast_path_answers_as_the_app_with_authentication_off(
    world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    differences, statuses = compare(_rest_cases(world), settings, caplog)

    assert not differences, "\n".join(differences)
    # The table reaches what it means to (the reference's answers).
    assert statuses["chats"] == statuses["messages, before"] == 200
    assert statuses["chat, not a member"] == statuses["message, deleted"] == 404
    assert statuses["chat, bad id"] == statuses["messages, limit '6'"] == 400
    assert statuses["chats HEAD"] == statuses["chats POST"] == 405
    assert statuses["declared body over the limit"] == statuses["body over the limit"] == 413


def test_fast_path_answers_as_the_app_with_bearer_tokens(
    world: World, settings: Settings, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    issuer = TokenIssuer(tmp_path)

    differences, statuses = compare(
        _bearer_cases(world, issuer), settings, caplog, issuer.settings()
    )

    assert not differences, "\n".join(differences)
    assert statuses["bearer: as self"] == statuses["bearer: healthcheck needs none"] == 200
    assert statuses["bearer: as someone else"] == 403
    assert statuses["bearer: none"] == statuses["bearer: none, wrong method"] == 401


def test_fast_path_answers_a_bug_with_the_apps_500(
    world: World,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same status, body and content type, and the same access log line (naming the exception
    type). Two details differ: the app's 500 is sent by Starlette's outermost middleware, past
    the access log middleware, so it has no `x-request-id`, and the exception then goes on to
    the server; the fast path's has the id and the exception ends with it (logged)."""
    from read_model import queries

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(queries, "get_group_chats", broken)
    case = Case("bug", "GET", f"{V1}/group-chats", f"userAccountId={world.alice}")
    reference, fast = create_app(settings, fast_path=False), create_app(settings)
    answers, lines = [], []
    with caplog.at_level(logging.INFO, logger="telemetry.access"):
        for app in (reference, fast):
            caplog.clear()
            answers.append(asyncio.run(request(app, case)))
            lines.append(_access_lines(caplog.records))
            app.state.engine.dispose()

    expected, actual = answers
    assert (actual.status, actual.body) == (expected.status, expected.body)
    assert dict(actual.headers)["content-type"] == dict(expected.headers)["content-type"]
    assert json.loads(actual.body)["code"] == "internal_error"
    assert "x-request-id" not in dict(expected.headers)
    assert dict(actual.headers)["x-request-id"]
    assert isinstance(expected.raised, RuntimeError)
    assert actual.raised is None
    assert lines[1] == lines[0]
    # level, method, status, error
    assert [(x[0], x[2], x[4], x[5]) for x in lines[1]] == [("ERROR", "GET", 500, "RuntimeError")]
