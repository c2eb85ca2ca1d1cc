"""Limits of the query service: GraphQL page size, documents, batches (REST `limit`: test_rest)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from graphql import get_introspection_query
from http_kit.limits import BodySizeLimitMiddleware
from read_model.testing import ReadModelSeeder


def graphql(client: TestClient, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/query/graphql", json=body)
    return response.status_code, response.json()


def test_returns_at_most_page_size_max_messages_over_graphql(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice)
    for n in range(7):
        seed.message(chat, alice, f"m{n}")
    query = (
        "query ($c: String!, $u: String!) "
        "{ getMessages(groupChatId: $c, userAccountId: $u) { text } }"
    )

    _, body = graphql(client, {"query": query, "variables": {"c": chat, "u": alice}})

    assert [m["text"] for m in body["data"]["getMessages"]] == ["m2", "m3", "m4", "m5", "m6"]


def test_refuses_a_document_deeper_than_the_limit_with_code_400(client: TestClient) -> None:
    deep = 'query { getGroupChats(userAccountId: "x") ' + "{ id " * 9 + "}" * 9 + " }"

    status, body = graphql(client, {"query": deep})

    assert status == 200
    assert any("depth" in e["message"] for e in body["errors"])
    assert {e["extensions"]["code"] for e in body["errors"]} == {"400"}


def test_refuses_a_document_over_the_token_limit_with_code_400(client: TestClient) -> None:
    status, body = graphql(client, {"query": "{ " + "__typename " * 1000 + "}"})

    assert status == 200
    [error] = body["errors"]
    assert "1000 tokens" in error["message"]
    assert error["extensions"]["code"] == "400"


def test_answers_the_standard_introspection_query(client: TestClient) -> None:
    status, body = graphql(client, {"query": get_introspection_query()})

    assert status == 200
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_refuses_a_batch_of_operations_with_http_400(client: TestClient) -> None:
    status, body = graphql(client, [{"query": "{ __typename }"}] * 3)

    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "400"


def test_returns_408_without_calling_the_app_when_a_body_stops_arriving() -> None:
    called: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    async def main() -> None:
        stalled = asyncio.Event()  # never set: the client went quiet mid-body
        first = [{"type": "http.request", "body": b"{", "more_body": True}]

        async def receive() -> dict[str, Any]:
            if first:
                return first.pop()
            await stalled.wait()
            return {"type": "http.disconnect"}  # pragma: no cover - never reached

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        middleware = BodySizeLimitMiddleware(app, max_body_bytes=100, body_timeout_seconds=0.05)
        await middleware({"type": "http", "path": "/query/graphql", "headers": []}, receive, send)

    asyncio.run(main())

    assert called == []
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["code"] == "request_timeout"


@pytest.mark.parametrize(
    "query", ["{A{}}", "{ ...Missing }", '{ getGroupChats(userAccountId: "x") { } }']
)
def test_refuses_a_document_the_depth_limit_cannot_measure_with_code_400(
    client: TestClient, query: str
) -> None:
    status, body = graphql(client, {"query": query})

    assert status == 200
    assert {e["extensions"]["code"] for e in body["errors"]} == {"400"}
