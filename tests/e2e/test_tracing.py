"""Tracing and logs of the real processes: `cqrs-es dev` exporting to an in-process OTLP receiver.

A command sent with API Gateway's `X-Amzn-Trace-Id` header must give one trace from the HTTP
request to the projection: the command service's server span continues the header's trace, the
command and event-store spans are inside it, and the updater's projection span continues it as a
child of the command span (the trace context travels in the event's metadata), with a link to the
updater's batch span. Reads get traces of their own. The JSON log lines
carry the same trace id and the request id. With tracing off, nothing is exported and everything
still works.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from telemetry.testing import OtlpReceiver, ReceivedSpan

from cqrs_es.testing import DevStack, Harness, eventually

pytestmark = pytest.mark.slow

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
SPAN_WAIT_SECONDS = 30.0


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=30.0) as client:
        yield client


def x_ray_header() -> tuple[str, str, str]:
    """`(X-Amzn-Trace-Id value, W3C trace id, parent span id)` of a fresh sampled X-Ray trace."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    parent = secrets.token_hex(8)
    return f"Root={root};Parent={parent};Sampled=1", root[2:].replace("-", ""), parent


def log_lines(stack: DevStack) -> list[dict[str, Any]]:
    """The JSON log lines the three services wrote so far (dev's own lines are plain text)."""
    lines = []
    for raw in stack.process.current_output().splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:  # a line cut short while being written
                continue
    return lines


def access_line(stack: DevStack, method: str, path: str) -> dict[str, Any]:
    """The access log line of `method path` (waits for it: it is written after the response)."""
    found = eventually(
        lambda: [
            line
            for line in log_lines(stack)
            if line.get("logger") == "telemetry.access"
            and (line.get("method"), line.get("path")) == (method, path)
        ],
        bool,
        f"the access log line of {method} {path}",
    )
    return found[0]


def create_chat(
    stack: DevStack, http: httpx2.Client, headers: dict[str, str] | None = None
) -> httpx2.Response:
    response = http.post(
        f"{stack.command_url}/v1/group-chats/create",
        json={"name": "developers", "executorId": ALICE},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response


def read_chat(stack: DevStack, http: httpx2.Client, chat_id: str) -> httpx2.Response:
    """GET the chat from the query service once the updater has projected it."""
    return eventually(
        lambda: http.get(
            f"{stack.query_url}/v1/group-chats/{chat_id}", params={"userAccountId": ALICE}
        ),
        lambda response: response.status_code == 200,
        f"{chat_id} readable from the query service",
    )


def one(spans: list[ReceivedSpan], **fields: Any) -> ReceivedSpan:
    matching = [s for s in spans if all(getattr(s, k) == v for k, v in fields.items())]
    assert len(matching) == 1, (fields, [(s.name, s.service_name) for s in spans])
    return matching[0]


def test_one_trace_runs_from_the_http_request_to_the_projection_when_a_command_has_an_x_ray_header(
    harness: Harness, receiver: OtlpReceiver, http: httpx2.Client
) -> None:
    stack = harness.dev(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "healthcheck",
        }
    )
    header, trace_id, parent_id = x_ray_header()
    request_id = f"e2e-{uuid.uuid4().hex}"

    created = create_chat(stack, http, {"X-Amzn-Trace-Id": header, "X-Request-Id": request_id})
    chat_id = created.json()["groupChatId"]
    read = read_chat(stack, http, chat_id)
    # A read sent with an X-Ray header of its own continues that trace.
    read_header, read_trace_id, read_parent_id = x_ray_header()
    reread = http.get(
        f"{stack.query_url}/v1/group-chats/{chat_id}",
        params={"userAccountId": ALICE},
        headers={"X-Amzn-Trace-Id": read_header},
    )

    assert created.headers["x-request-id"] == request_id
    assert read.json()["id"] == chat_id
    assert reread.status_code == 200

    def complete(spans: list[ReceivedSpan]) -> bool:
        # Parents end (and are exported) after their children: wait for both ends of each edge.
        ids = {s.span_id for s in spans}
        in_trace = {s.name for s in spans if s.trace_id == trace_id}
        children = [
            s
            for s in spans
            if s.name == "project GroupChatCreated"
            or (s.name == "query get_group_chat" and s.trace_id == read_trace_id)
        ]
        linked = {link.span_id for s in children for link in s.links}
        return (
            {"command CreateGroupChat", "event_store load", "event_store append"} <= in_trace
            and any(s.trace_id == trace_id and s.kind == "SERVER" for s in spans)
            and len(children) == 2
            and all(s.parent_span_id in ids for s in children)
            and linked <= ids
        )

    spans = receiver.wait_until(complete, timeout=SPAN_WAIT_SECONDS)
    command_trace = [s for s in spans if s.trace_id == trace_id]

    # The command service continued the caller's X-Ray trace: the server span's parent is the
    # header's Parent, and the command and its event store calls are inside it.
    server = one(command_trace, kind="SERVER")
    command = one(command_trace, name="command CreateGroupChat")
    append = one(command_trace, name="event_store append")
    load = one(command_trace, name="event_store load")
    assert server.parent_span_id == parent_id
    assert server.service_name == command.service_name == "command-service"
    assert command.parent_span_id == server.span_id
    assert append.parent_span_id == load.parent_span_id == command.span_id
    assert command.attributes["aggregate.id"] == chat_id
    assert append.attributes["aggregate.id"] == chat_id
    assert append.attributes["event_store.expected_version"] == 0
    assert append.attributes["event_store.version"] == 1

    # The updater's projection continues the trace, under the command that produced the event
    # (the span current when the command service stored the trace context), and links to the
    # updater's batch span, a trace of its own.
    project = one(spans, name="project GroupChatCreated")
    assert (project.trace_id, project.parent_span_id) == (trace_id, command.span_id)
    assert project.kind == "CONSUMER"
    assert project.attributes["event.aggregate_id"] == chat_id
    assert project.attributes["projection.outcome"] == "applied"
    [link] = project.links
    batch = one(spans, span_id=link.span_id)
    assert (batch.name, batch.trace_id) == ("read-model apply", link.trace_id)
    assert batch.trace_id != trace_id
    assert project.service_name == batch.service_name != "command-service"

    # Reads are traces of their own (here the one the read's header named), query span inside.
    query = one(spans, name="query get_group_chat", trace_id=read_trace_id)
    query_server = one(spans, span_id=query.parent_span_id)
    assert query_server.kind == "SERVER"
    assert query_server.parent_span_id == read_parent_id
    assert query.attributes["query.found"] is True
    assert query_server.service_name not in ("command-service", project.service_name)
    assert trace_id not in {s.trace_id for s in spans if s.name == "query get_group_chat"}

    # The log lines carry the same trace: the access line with the request id, status, duration.
    access = access_line(stack, "POST", "/command/v1/group-chats/create")
    assert access["trace_id"] == trace_id
    assert access["span_id"] == server.span_id
    assert access["request_id"] == request_id
    assert access["status"] == 201
    assert access["duration_ms"] >= 0
    assert access["level"] == "INFO"
    assert access["service"] == "command-service"
    assert access["message"]
    eventually(
        lambda: {
            line.get("trace_id")
            for line in log_lines(stack)
            if line.get("path") == f"/query/v1/group-chats/{chat_id}"
        },
        lambda trace_ids: read_trace_id in trace_ids and trace_id not in trace_ids,
        "the read's access line with its own trace id",
    )
    # No plain-text line from uvicorn: every line a service writes is JSON.
    plain = [
        raw
        for raw in stack.process.current_output().splitlines()
        if raw.startswith(("INFO:", "WARNING:", "ERROR:"))
    ]
    assert plain == []


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({}, id="no-endpoint"),
        pytest.param({"OTEL_TRACES_EXPORTER": "none"}, id="exporter-none"),
    ],
)
def test_nothing_is_exported_and_requests_work_when_tracing_is_off(
    harness: Harness, receiver: OtlpReceiver, http: httpx2.Client, env: dict[str, str]
) -> None:
    if env:  # the endpoint is set, but the exporter choice turns tracing off
        env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    stack = harness.dev(env={**env, "OTEL_BSP_SCHEDULE_DELAY": "100"})
    header, trace_id, _ = x_ray_header()

    chat_id = create_chat(stack, http, {"X-Amzn-Trace-Id": header}).json()["groupChatId"]
    read = read_chat(stack, http, chat_id)
    access = access_line(stack, "POST", "/command/v1/group-chats/create")
    # A graceful stop flushes whatever a tracing pipeline would still hold.
    assert stack.stop() == {"dev": 0}

    assert read.json()["id"] == chat_id
    assert receiver.requests == []
    assert "trace_id" not in access
    assert access["status"] == 201
    assert trace_id not in stack.process.current_output()
