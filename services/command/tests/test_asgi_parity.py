"""Under an ASGI server, the fast path answers every REST request exactly as FastAPI does.

Each case is a short scenario of requests, sent as an ASGI server sends them (raw ASGI calls on
one event loop, the app's lifespan around them; the path percent-decoded with `raw_path` kept,
the body in one or more `http.request` messages) to two apps of `create_app`:

- the reference, `create_app(settings, fast_path=False)`: every request through FastAPI's
  routes and the app's middleware;
- the candidate, `create_app(settings)`: `http_kit.asgi_fast_path.FastPathMiddleware` serving
  the REST endpoints in front of the same app.

Each app has its own fresh event store (SQLite, in `tmp_path`); status, body and headers of
every response must be equal, with the ids the two stores generate replaced by placeholders in
order of appearance (as in the Lambda parity tests), headers compared as a set of (name, value)
pairs, `x-request-id` compared as "the client's" or "generated", and the access log line the
same (level, message, status, error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from auth import AuthSettings
from auth.testing import TokenIssuer
from command_parity_scenarios import (
    BEARER_CASES,
    BODY_CASES,
    CHAT,
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
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import ALICE, GROUP_CHATS
from fastapi import FastAPI
from http_kit.testing import fall_throughs

LIMIT = 4096
BODY_TIMEOUT = 0.3
Message = dict[str, Any]

OVERSIZE = {"name": "x", "executorId": ALICE, "p": "y" * LIMIT}
_PADDING = LIMIT - len(json.dumps({"name": "x", "executorId": ALICE, "p": ""}))
AT_LIMIT = {"name": "x", "executorId": ALICE, "p": "y" * _PADDING}

# The shared scenarios, and those only the ASGI edge has (raw paths and methods, chunked, slow
# and abandoned bodies, repeated headers; a small body limit).
CASES: dict[str, list[Step]] = {
    # -- health check, routing ---------------------------------------------------------------
    **ROUTING_CASES,
    "healthcheck with a query string": [Step("GET", f"{HEALTHCHECK}?verbose=1&verbose=2")],
    "command with HEAD (405)": [Step("HEAD", f"{GROUP_CHATS}/create")],
    "command with DELETE, oversize (413 before 405)": [
        Step("DELETE", f"{GROUP_CHATS}/create", json.dumps(OVERSIZE))
    ],
    "percent-encoded path": [post("%63reate", {"name": "x", "executorId": ALICE})],
    "percent-encoded slash (404)": [
        post("create%2Fx", {"name": "x", "executorId": ALICE}, falls_through=True)
    ],
    "double slash (404)": [Step("POST", f"{GROUP_CHATS}//create", "{}", falls_through=True)],
    "lower-case method (405)": [Step("post", f"{GROUP_CHATS}/create", "{}", falls_through=True)],
    # -- create: good and bad bodies ---------------------------------------------------------
    **BODY_CASES,
    "create, in chunks": [create(chunks=3)],
    "create, two client request ids": [
        create(headers={"x-request-id": "first"}, repeated=(("x-request-id", "second"),))
    ],
    "create, two content types": [create(repeated=(("content-type", "text/plain"),))],
    "create, text content type then JSON": [
        create(headers={"content-type": "text/plain"}, repeated=(("content-type", "a/json"),))
    ],
    "create, cookies and a repeated custom header": [
        create(
            headers={"cookie": "a=1"},
            repeated=(("cookie", "b=2"), ("x-custom", "1"), ("x-custom", "2")),
        )
    ],
    "no body at all": [Step("POST", f"{GROUP_CHATS}/create", headers={"content-type": "a/b"})],
    "not UTF-8": [post("create", b'{"name": "\xff", "executorId": "x"}')],
    "UTF-8 BOM": [
        post("create", b'\xef\xbb\xbf{"name": "x", "executorId": "' + ALICE.encode() + b'"}')
    ],
    "nested too deep": [post("create", "[" * (LIMIT - 1))],
    "duplicate keys": [post("create", '{"name": "a", "name": "b", "executorId": "' + ALICE + '"}')],
    "JSON content type in capitals": [create(headers={"content-type": "Application/JSON"})],
    "list for a string": [post("create", {"name": ["a"], "executorId": ALICE})],
    "non-ASCII name": [create(name="développeurs ✨")],
    # -- body limits ---------------------------------------------------------------------------
    "body at the limit (201)": [post("create", AT_LIMIT)],
    "body a byte over the limit (413)": [post("create", {**AT_LIMIT, "p": AT_LIMIT["p"] + "y"})],
    "body over the limit (413)": [post("create", OVERSIZE)],
    "body over the limit, in chunks (413)": [post("create", OVERSIZE, chunks=4)],
    "body over a small declared length (413)": [post("create", OVERSIZE, length="10", chunks=2)],
    "declared length over the limit (413)": [create(length=str(LIMIT + 1))],
    "unparsable declared length": [create(length="abc")],
    "body arriving too slowly (408)": [create(chunks=10, delay=BODY_TIMEOUT / 4)],
    "client leaves before the body is complete (no answer)": [create(chunks=3, leave=True)],
    # -- the other commands ----------------------------------------------------------------------
    **COMMAND_CASES,
    "add member with a bad user id (400)": [
        create(),
        post("add-member", {**CHAT, "userAccountId": "bob", "role": "member"}),
    ],
    # -- idempotency -----------------------------------------------------------------------------
    **IDEMPOTENCY_CASES,
    "two idempotency keys, then each alone": [
        create(headers={"idempotency-key": "k1"}, repeated=(("idempotency-key", "k2"),)),
        create(headers={"idempotency-key": "k1"}),
        create(headers={"idempotency-key": "k1,k2"}),
    ],
}

JWT_CASES: dict[str, list[Step]] = {
    **BEARER_CASES,
    "no token (401)": [create()],
    **NO_CALLER_CASES,
    "unknown command without a caller (401)": [post("unknown", {}, falls_through=True)],
    "oversize body without a caller (401)": [post("create", OVERSIZE)],
    "declared oversize without a caller (401)": [create(length=str(LIMIT + 1))],
    "oversize body with a caller (413)": [post("create", OVERSIZE, token="valid")],
    "bad body with a caller (400)": [post("create", "{", token="valid")],
    "commands in a row": [replace(s, token="valid") for s in WITH_MESSAGE],
}


# -- a raw ASGI client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the app sent back: nothing (`status` None), or one complete response."""

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def _scope(method: str, target: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    raw_path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("testserver", 80),
        "client": ("192.0.2.7", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        # As uvicorn: `path` percent-decoded, `raw_path` as sent.
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "state": {},
    }


async def request(
    app: FastAPI,
    method: str,
    target: str,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes],
    *,
    delay: float = 0.0,
    leave: bool = False,
) -> Answer:
    """`app` called as an ASGI server calls it for one request (see `Step`)."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    if leave:
        messages[-1] = {"type": "http.disconnect"}
    sent: list[Message] = []
    done = asyncio.Event()

    async def receive() -> Message:
        if messages:
            if delay:
                await asyncio.sleep(delay)
            return messages.pop(0)
        await done.wait()  # as a server: nothing more until the response is out
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await asyncio.wait_for(app(_scope(method, target, headers), receive, send), timeout=10)
    if not sent:
        return Answer(None)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    assert [m.get("more_body", False) for m in bodies][-1:] == [False]
    names = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"])
    return Answer(start["status"], names, b"".join(m.get("body", b"") for m in bodies))


# -- running -------------------------------------------------------------------------------------


@dataclass
class Side:
    """One app and the ids its answers gave so far."""

    app: FastAPI
    ids: dict[str, str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    async def send(self, step: Step, issuer: TokenIssuer | None) -> Answer:
        body = step.body
        if isinstance(body, dict):
            body = json.dumps(filled(body, self.ids))
        raw = body.encode() if isinstance(body, str) else (body or b"")
        headers = {"host": "testserver", **step.headers}
        if step.token is not None:
            assert issuer is not None
            token = issuer.token(ALICE) if step.token == "valid" else "not.a.token"
            headers["authorization"] = f"Bearer {token}"
        if step.chunks > 1:
            size = -(-len(raw) // step.chunks)
            chunks = [raw[n : n + size] for n in range(0, len(raw), size)]
            headers["transfer-encoding"] = "chunked"
        else:
            chunks = [raw]
            if body is not None:
                headers["content-length"] = str(len(raw))
        if step.length is not None:
            headers.pop("transfer-encoding", None)
            headers["content-length"] = step.length
        lines = [*headers.items(), *step.repeated]
        answer = await request(
            self.app,
            step.method,
            step.path,
            [(k.encode("latin-1"), v.encode("latin-1")) for k, v in lines],
            chunks,
            delay=step.delay,
            leave=step.leave,
        )
        try:
            decoded = json.loads(answer.body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and answer.status in (200, 201):
            for key, name in (("groupChatId", "chat"), ("messageId", "message")):
                if key in decoded:
                    self.ids[name] = decoded[key]
        return answer

    def comparable(self, answer: Answer, step: Step) -> dict[str, Any]:
        """The answer with generated ids and request ids replaced, headers as a sorted list."""
        headers = []
        for name, value in answer.headers:
            if name == "x-request-id":
                value = "<client's>" if value == step.headers.get(name) else "<generated>"
            elif name == "allow":
                value = ", ".join(sorted(m.strip() for m in value.split(",")))
            headers.append((name, normalized(value, self.seen)))
        return {
            "status": answer.status,
            "headers": sorted(headers),
            "body": normalized(answer.body.decode("utf-8", "replace"), self.seen),
        }


def _access_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    keys = ("method", "path", "status", "error", "apigw_request_id")
    return [
        {"level": r.levelname, "message": r.getMessage(), **{k: getattr(r, k, None) for k in keys}}
        for r in records
        if r.name == "telemetry.access"
    ]


def _same_lines(app: list[dict[str, Any]], fast: list[dict[str, Any]]) -> bool:
    """The access log lines are the same, but for a 500's `error`: the app's catch-all answers
    it inside the app's access log middleware, which then does not see the exception; the fast
    path's line names it (as the query service's app's line does)."""
    if len(app) == 1 and len(fast) == 1 and app[0]["status"] == 500 and app[0]["error"] is None:
        fast = [{**fast[0], "error": None}]
    return app == fast


def run_both(
    steps: list[Step],
    settings: Callable[[str], Settings],
    caplog: pytest.LogCaptureFixture,
    auth: AuthSettings | None = None,
    issuer: TokenIssuer | None = None,
) -> tuple[list[str], list[int | None]]:
    """Every step sent to both apps in turn; the differences, described, and the statuses of
    the reference's answers."""
    reference = Side(create_app(settings("reference"), auth=auth, fast_path=False))
    fast = Side(create_app(settings("fast"), auth=auth))
    fell_through = fall_throughs(fast.app)
    differences: list[str] = []
    statuses: list[int | None] = []

    async def main() -> None:
        async with (
            reference.app.router.lifespan_context(reference.app),
            fast.app.router.lifespan_context(fast.app),
        ):
            for number, step in enumerate(steps):
                caplog.clear()
                expected = await reference.send(step, issuer)
                statuses.append(expected.status)
                expected_log = _access_lines(caplog.records)
                caplog.clear()
                before = len(fell_through)
                actual = await fast.send(step, issuer)
                actual_log = _access_lines(caplog.records)
                if (len(fell_through) > before) is not step.falls_through:
                    differences.append(f"step {number} {step}: fell through {fell_through}")
                want = reference.comparable(expected, step)
                got = fast.comparable(actual, step)
                if got != want:
                    differences.append(f"step {number} {step}:\n  app:  {want}\n  fast: {got}")
                if not _same_lines(expected_log, actual_log):
                    differences.append(
                        f"step {number} {step}, access log:\n  app:  {expected_log}\n"
                        f"  fast: {actual_log}"
                    )

    with caplog.at_level(logging.INFO, logger="telemetry.access"):
        asyncio.run(main())
    return differences, statuses


def expected_status(case: str) -> int | None:
    """The status a case's name announces for its last step ("... (413)"), if any."""
    found = re.search(r"\((\d{3})\b", case)
    return int(found.group(1)) if found else None


@pytest.fixture
def settings(tmp_path: Path) -> Callable[[str], Settings]:
    """Settings of a fresh SQLite event store per side (`name`), small limits."""

    def make(name: str) -> Settings:
        return Settings(
            event_store_url=f"sqlite:///{tmp_path / f'{name}.db'}",
            max_body_bytes=LIMIT,
            body_timeout_seconds=BODY_TIMEOUT,
        )

    return make


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_answers_as_the_app_when_auth_is_off(
    case: str, settings: Callable[[str], Settings], caplog: pytest.LogCaptureFixture
) -> None:
    differences, statuses = run_both(CASES[case], settings, caplog)

    assert not differences, "\n".join(differences)
    assert statuses[-1] == expected_status(case) or expected_status(case) is None, statuses


@pytest.mark.parametrize("case", list(JWT_CASES))
def test_fast_path_answers_as_the_app_with_bearer_tokens(
    case: str,
    settings: Callable[[str], Settings],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    issuer = TokenIssuer(tmp_path)

    differences, statuses = run_both(JWT_CASES[case], settings, caplog, issuer.settings(), issuer)

    assert not differences, "\n".join(differences)
    assert statuses[-1] == expected_status(case) or expected_status(case) is None, statuses
