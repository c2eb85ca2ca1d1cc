"""`AUTH_MODE=jwt`: a caller reads only as itself (REST, GraphQL, Lambda); the body limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from auth.testing import TokenIssuer, aws_jwt_event_context
from fastapi.testclient import TestClient
from query_service import lambda_handler
from query_service.app import create_app
from query_service.settings import Settings
from read_model import migrate
from read_model.testing import ReadModelSeeder

V1 = "/query/v1"


@pytest.fixture
def url(tmp_path: Path) -> str:
    read_model_url = f"sqlite:///{tmp_path / 'read_model.db'}"
    migrate(read_model_url)
    return read_model_url


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    return TokenIssuer(tmp_path)


@pytest.fixture
def client(url: str, issuer: TokenIssuer) -> Iterator[TestClient]:
    app = create_app(Settings(read_model_url=url), auth=issuer.settings())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def seed(client: TestClient) -> ReadModelSeeder:
    return ReadModelSeeder(client.app.state.engine)  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reads_the_callers_chats_when_user_account_id_is_the_tokens_subject(
    client: TestClient, seed: ReadModelSeeder, issuer: TokenIssuer
) -> None:
    alice = seed.user()
    chat = seed.group_chat(alice, "mine")

    response = client.get(
        f"{V1}/group-chats", params={"userAccountId": alice}, headers=bearer(issuer.token(alice))
    )

    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()] == [chat]


def test_returns_401_with_a_bearer_challenge_when_no_token_is_sent(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    alice = seed.user()

    response = client.get(f"{V1}/group-chats", params={"userAccountId": alice})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == 'Bearer realm="cqrs-es"'


def test_returns_401_invalid_token_when_the_token_has_expired(
    client: TestClient, seed: ReadModelSeeder, issuer: TokenIssuer
) -> None:
    alice = seed.user()

    response = client.get(
        f"{V1}/group-chats",
        params={"userAccountId": alice},
        headers=bearer(issuer.token(alice, expires_in=-600)),
    )

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "path",
    [
        "/group-chats",
        "/group-chats/{chat}",
        "/group-chats/{chat}/members",
        "/group-chats/{chat}/messages",
        "/messages/{message}",
    ],
)
def test_returns_403_forbidden_when_reading_as_someone_else(
    client: TestClient, seed: ReadModelSeeder, issuer: TokenIssuer, path: str
) -> None:
    alice, mallory = seed.user(), seed.user()
    chat = seed.group_chat(alice)
    message = seed.message(chat, alice, "secret")

    response = client.get(
        V1 + path.format(chat=chat, message=message),
        params={"userAccountId": alice},
        headers=bearer(issuer.token(mallory)),
    )

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "secret" not in response.text


def test_keeps_health_checks_and_documentation_public(client: TestClient) -> None:
    assert client.get("/query/healthcheck").status_code == 200
    assert client.get(f"{V1}/healthcheck").status_code == 200
    document = client.get("/query/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"
    operation = document["paths"][f"{V1}/group-chats"]["get"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(operation["responses"])


QUERY = "query ($u: String!) { getGroupChats(userAccountId: $u) { id name } }"


def graphql(client: TestClient, query: str, variables: Any = None, token: str | None = None) -> Any:
    headers = bearer(token) if token else None
    return client.post(
        "/query/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def test_graphql_answers_typename_without_a_token(client: TestClient) -> None:
    assert graphql(client, "{ __typename }").json() == {"data": {"__typename": "Query"}}


def test_graphql_returns_code_401_when_a_read_has_no_token(
    client: TestClient, seed: ReadModelSeeder
) -> None:
    body = graphql(client, QUERY, {"u": seed.user()}).json()

    [error] = body["errors"]
    assert error["extensions"] == {"code": "401", "reason": "unauthorized"}


def test_graphql_returns_http_401_when_the_token_is_bad(client: TestClient) -> None:
    response = graphql(client, "{ __typename }", token="garbage")

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "401"
    assert "invalid_token" in response.headers["www-authenticate"]


def test_graphql_returns_code_403_when_reading_as_someone_else(
    client: TestClient, seed: ReadModelSeeder, issuer: TokenIssuer
) -> None:
    alice, mallory = seed.user(), seed.user()
    seed.group_chat(alice, "secret")

    body = graphql(client, QUERY, {"u": alice}, token=issuer.token(mallory)).json()

    [error] = body["errors"]
    assert error["extensions"] == {"code": "403", "reason": "forbidden"}
    assert body["data"] is None


def test_graphql_reads_when_the_caller_is_the_tokens_subject(
    client: TestClient, seed: ReadModelSeeder, issuer: TokenIssuer
) -> None:
    alice = seed.user()
    seed.group_chat(alice, "mine")

    body = graphql(client, QUERY, {"u": alice}, token=issuer.token(alice, key="ec")).json()

    assert [c["name"] for c in body["data"]["getGroupChats"]] == ["mine"]


def test_trusts_user_account_id_when_auth_mode_is_none(url: str) -> None:
    with TestClient(create_app(Settings(read_model_url=url))) as plain:
        response = plain.get(f"{V1}/group-chats", params={"userAccountId": ReadModelSeeder.user()})

    assert response.status_code == 200


# -- Lambda behind API Gateway's JWT authorizer ---------------------------------------------------


@pytest.fixture
def jwt_lambda(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("READ_MODEL_URL", url)
    monkeypatch.setenv("AUTH_MODE", "jwt")
    lambda_handler.reset()
    yield lambda_handler
    lambda_handler.reset()


@pytest.mark.parametrize(("as_self", "status"), [(True, 200), (False, 403)])
def test_lambda_trusts_the_authorizers_subject_when_invoked_by_api_gateway(
    jwt_lambda: ModuleType, http_api_event: Any, url: str, as_self: bool, status: int
) -> None:
    alice = ReadModelSeeder.user()
    event = http_api_event("GET", f"{V1}/group-chats", query=f"userAccountId={alice}")
    event["requestContext"]["authorizer"] = aws_jwt_event_context(
        alice if as_self else ReadModelSeeder.user()
    )

    response = jwt_lambda.handler(event, None)

    assert response["statusCode"] == status, response


# -- body limit -----------------------------------------------------------------------------------


def test_returns_413_to_a_graphql_request_over_the_body_limit(url: str) -> None:
    app = create_app(Settings(read_model_url=url, max_body_bytes=1024))
    with TestClient(app) as small:
        response = small.post("/query/graphql", json={"query": "{ __typename }" + " " * 1024})
        accepted = small.post("/query/graphql", json={"query": "{ __typename }"})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.text)["code"] == "payload_too_large"
    assert accepted.status_code == 200
