"""Configured limits through HTTP: group chat size (422) and GraphQL bodies (413)."""

from __future__ import annotations

from typing import Any

import pytest
from command_service.settings import Settings
from command_test_support import ALICE, BOB, CAROL, add_member, create_chat, post, post_message
from fastapi.testclient import TestClient


def test_defaults_bound_a_chat_to_1000_members_and_10000_messages() -> None:
    settings = Settings(event_store_url="memory://")

    assert (settings.limits.max_members, settings.limits.max_messages) == (1000, 10_000)


def test_reads_the_group_chat_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_MEMBERS_PER_GROUP_CHAT", "7")
    monkeypatch.setenv("MAX_MESSAGES_PER_GROUP_CHAT", "9")

    limits = Settings().limits

    assert (limits.max_members, limits.max_messages) == (7, 9)


def test_adds_members_up_to_the_limit_then_returns_422_too_many_members(make_client: Any) -> None:
    client: TestClient = make_client("memory", max_members_per_group_chat=2)
    chat_id = create_chat(client)
    add_member(client, chat_id, BOB)

    response = post(
        client,
        "add-member",
        {"groupChatId": chat_id, "userAccountId": CAROL, "role": "member", "executorId": ALICE},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "too_many_members"


def test_posts_messages_up_to_the_limit_then_returns_422_too_many_messages(
    make_client: Any, backend: str
) -> None:
    client: TestClient = make_client(backend, max_messages_per_group_chat=2)
    chat_id = create_chat(client)
    post_message(client, chat_id, ALICE)
    post_message(client, chat_id, ALICE)

    response = post(
        client, "post-message", {"groupChatId": chat_id, "content": "3rd", "executorId": ALICE}
    )

    assert (response.status_code, response.json()["code"]) == (422, "too_many_messages")


def test_returns_code_422_too_many_members_over_graphql_when_the_chat_is_full(
    make_client: Any,
) -> None:
    client: TestClient = make_client("memory", max_members_per_group_chat=1)
    chat_id = create_chat(client)
    query = """mutation ($input: AddMemberInput!) { addMember(input: $input) { groupChatId } }"""
    variables = {
        "input": {
            "groupChatId": chat_id,
            "userAccountId": BOB,
            "role": "MEMBER",
            "executorId": ALICE,
        }
    }

    body = client.post("/command/graphql", json={"query": query, "variables": variables}).json()

    [error] = body["errors"]
    assert error["extensions"] == {"code": "422", "reason": "too_many_members"}


def test_returns_413_to_a_graphql_request_over_the_body_limit(make_client: Any) -> None:
    client: TestClient = make_client("memory", max_body_bytes=1024)
    query = "{ __typename }" + " " * 1024

    response = client.post("/command/graphql", json={"query": query})

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


# -- GraphQL documents -----------------------------------------------------------------------------


def graphql_errors(client: TestClient, body: Any) -> tuple[int, list[dict[str, Any]]]:
    response = client.post("/command/graphql", json=body)
    return response.status_code, response.json().get("errors", [])


def test_refuses_a_document_deeper_than_the_limit_with_code_400(client: TestClient) -> None:
    deep = "query { healthCheck " + "{ value " * 9 + "}" * 9 + " }"

    status, [error, *_] = graphql_errors(client, {"query": deep})

    assert status == 200
    assert error["extensions"]["code"] == "400"
    assert "depth" in error["message"]


def test_refuses_a_document_over_the_token_limit_before_running_it(client: TestClient) -> None:
    huge = "query { healthCheck { value " + "__typename " * 1000 + "} }"

    status, [error] = graphql_errors(client, {"query": huge})

    assert status == 200
    assert error["extensions"] == {"code": "400", "reason": "validation_error"}
    assert "1000 tokens" in error["message"]


def test_answers_the_standard_introspection_query_when_clients_load_the_schema(
    client: TestClient,
) -> None:
    from graphql import get_introspection_query

    response = client.post("/command/graphql", json={"query": get_introspection_query()})

    assert response.status_code == 200
    assert "errors" not in response.json()
    assert response.json()["data"]["__schema"]["mutationType"]["name"] == "Mutation"


def test_refuses_a_batch_of_operations_with_http_400(client: TestClient) -> None:
    batch = [{"query": "{ __typename }"}] * 2

    status, [error] = graphql_errors(client, batch)

    assert status == 400
    assert error["extensions"]["code"] == "400"


@pytest.mark.parametrize(
    "query",
    ["{A{}}", "{ healthCheck { } }", "{ ...Missing }", "query { healthCheck { ...F } }"],
    ids=["empty-selection-unknown-field", "empty-selection", "unknown-fragment", "unknown-spread"],
)
def test_refuses_a_document_the_depth_limit_cannot_measure_with_code_400(
    client: TestClient, query: str
) -> None:
    status, errors = graphql_errors(client, {"query": query})

    assert status == 200
    assert errors
    assert {e["extensions"]["code"] for e in errors} == {"400"}
