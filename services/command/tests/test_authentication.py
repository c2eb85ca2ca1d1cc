"""`AUTH_MODE=jwt`: the executor is the caller of a verified JWT (REST, GraphQL, Lambda)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from auth.testing import TokenIssuer, aws_jwt_event_context
from command_service import lambda_handler
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import ALICE, BOB, GROUP_CHATS, store_of
from fastapi.testclient import TestClient

ALICE_ULID = ALICE.removeprefix("UserAccount-")
MUTATION = """
mutation ($input: CreateGroupChatInput!) { createGroupChat(input: $input) { groupChatId } }
"""


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    return TokenIssuer(tmp_path)


@pytest.fixture
def client(issuer: TokenIssuer) -> TestClient:
    """The command service with `AUTH_MODE=jwt`, verifying tokens with the issuer's JWKS."""
    app = create_app(Settings(event_store_url="memory://"), auth=issuer.settings())
    return TestClient(app, raise_server_exceptions=False)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(client: TestClient, executor: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        f"{GROUP_CHATS}/create", json={"name": "team", "executorId": executor}, headers=headers
    )


def chats(client: TestClient) -> int:
    return sum(e.event_type == "GroupChatCreated" for e in store_of(client).read_all())


def assert_unauthorized(response: Any, *, invalid_token: bool) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="cqrs-es"')
    assert ('error="invalid_token"' in challenge) is invalid_token


# -- REST -----------------------------------------------------------------------------------------


def test_runs_the_command_when_the_executor_is_the_tokens_subject(
    client: TestClient, issuer: TokenIssuer
) -> None:
    response = create(client, ALICE, bearer(issuer.token(ALICE)))

    assert response.status_code == 201, response.text
    assert chats(client) == 1


@pytest.mark.parametrize(
    ("subject", "executor"),
    [(ALICE_ULID, ALICE), (ALICE, ALICE_ULID.lower()), (ALICE_ULID.lower(), ALICE)],
    ids=["bare-subject", "bare-executor", "lower-case-subject"],
)
def test_compares_the_ids_in_canonical_form_when_either_lacks_the_prefix(
    client: TestClient, issuer: TokenIssuer, subject: str, executor: str
) -> None:
    response = create(client, executor, bearer(issuer.token(subject, key="ec")))

    assert response.status_code == 201, response.text


def test_returns_401_with_a_bearer_challenge_and_runs_nothing_when_no_token_is_sent(
    client: TestClient,
) -> None:
    response = create(client, ALICE)

    assert_unauthorized(response, invalid_token=False)
    assert chats(client) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda i: i.token(ALICE, expires_in=-300),
        lambda i: i.token(ALICE, aud="another-api"),
        lambda i: "garbage",
        lambda i: i.token("service-account-7"),
    ],
    ids=["expired", "wrong-audience", "garbage", "subject-not-a-user-account"],
)
def test_returns_401_invalid_token_when_the_token_cannot_be_accepted(
    client: TestClient, issuer: TokenIssuer, make: Callable[[TokenIssuer], str]
) -> None:
    response = create(client, ALICE, bearer(make(issuer)))

    assert_unauthorized(response, invalid_token=True)
    assert chats(client) == 0


def test_returns_403_forbidden_and_runs_nothing_when_the_executor_is_someone_else(
    client: TestClient, issuer: TokenIssuer
) -> None:
    response = create(client, BOB, bearer(issuer.token(ALICE)))

    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "forbidden"
    assert BOB in problem["detail"]
    assert chats(client) == 0


def test_refuses_before_reading_the_body_when_an_unauthenticated_body_is_huge(
    client: TestClient,
) -> None:
    response = client.post(
        f"{GROUP_CHATS}/create",
        content=b"x" * 200_000,
        headers={"content-type": "application/json"},
    )

    assert_unauthorized(response, invalid_token=False)


def test_keeps_the_health_check_and_the_documentation_public(client: TestClient) -> None:
    assert client.get("/command/v1/healthcheck").status_code == 200
    document = client.get("/command/openapi.json")

    assert document.status_code == 200
    spec = document.json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operation = spec["paths"][f"{GROUP_CHATS}/create"]["post"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(operation["responses"])


def test_scopes_idempotency_keys_by_the_authenticated_caller(
    client: TestClient, issuer: TokenIssuer
) -> None:
    headers = {**bearer(issuer.token(ALICE)), "Idempotency-Key": "k-1"}

    first = create(client, ALICE, headers)
    retried = create(client, ALICE_ULID, headers)  # another body: the executor's form differs

    assert first.status_code == 201
    assert retried.json()["code"] == "idempotency_key_reused"


def test_reads_the_auth_settings_from_the_environment_when_none_are_given(
    issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in issuer.environ().items():
        monkeypatch.setenv(name, value)
    client = TestClient(create_app(Settings(event_store_url="memory://")))

    assert create(client, ALICE).status_code == 401
    assert create(client, ALICE, bearer(issuer.token(ALICE))).status_code == 201


def test_trusts_the_executor_id_when_auth_mode_is_none(make_client: Any) -> None:
    client = make_client("memory")

    assert create(client, BOB).status_code == 201


# -- GraphQL --------------------------------------------------------------------------------------


def graphql(client: TestClient, query: str, variables: Any = None, token: str | None = None) -> Any:
    headers = bearer(token) if token else None
    return client.post(
        "/command/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def test_answers_typename_and_health_check_without_a_token(client: TestClient) -> None:
    assert graphql(client, "{ __typename }").json() == {"data": {"__typename": "Query"}}
    assert graphql(client, "{ healthCheck { value } }").json()["data"] == {
        "healthCheck": {"value": "OK"}
    }


def test_returns_code_401_when_a_mutation_has_no_token(client: TestClient) -> None:
    response = graphql(client, MUTATION, {"input": {"name": "t", "executorId": ALICE}})

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "401", "reason": "unauthorized"}
    assert chats(client) == 0


def test_returns_http_401_with_code_401_when_the_token_is_bad(client: TestClient) -> None:
    response = graphql(client, "{ __typename }", token="garbage")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "invalid_token" in response.headers["www-authenticate"]
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "401", "reason": "unauthorized"}


def test_returns_code_403_when_a_mutation_acts_for_someone_else(
    client: TestClient, issuer: TokenIssuer
) -> None:
    response = graphql(
        client, MUTATION, {"input": {"name": "t", "executorId": BOB}}, token=issuer.token(ALICE)
    )

    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "403", "reason": "forbidden"}
    assert chats(client) == 0


def test_runs_the_mutation_when_the_executor_is_the_caller(
    client: TestClient, issuer: TokenIssuer
) -> None:
    response = graphql(
        client, MUTATION, {"input": {"name": "t", "executorId": ALICE}}, token=issuer.token(ALICE)
    )

    assert "errors" not in response.json()
    assert chats(client) == 1


# -- Lambda behind API Gateway's JWT authorizer ---------------------------------------------------


@pytest.fixture
def jwt_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The Lambda handler as the SAM template configures it with an authorizer (no JWKS)."""
    monkeypatch.setenv("EVENT_STORE_URL", "memory://")
    monkeypatch.setenv("AUTH_MODE", "jwt")
    lambda_handler.reset()
    yield lambda_handler
    lambda_handler.reset()


def lambda_create(
    handler: ModuleType, http_api_event: Any, executor: str, subject: str | None
) -> dict[str, Any]:
    event = http_api_event(
        "POST",
        f"{GROUP_CHATS}/create",
        stage="Stage",
        headers={"content-type": "application/json"},
        body=json.dumps({"name": "team", "executorId": executor}),
    )
    if subject is not None:
        event["requestContext"]["authorizer"] = aws_jwt_event_context(subject)
    response: dict[str, Any] = handler.handler(event, None)
    return response


def test_lambda_trusts_the_subject_that_api_gateways_authorizer_verified(
    jwt_lambda: ModuleType, http_api_event: Any
) -> None:
    response = lambda_create(jwt_lambda, http_api_event, ALICE, subject=ALICE)

    assert response["statusCode"] == 201, response


def test_lambda_returns_403_when_the_authorizers_subject_is_not_the_executor(
    jwt_lambda: ModuleType, http_api_event: Any
) -> None:
    response = lambda_create(jwt_lambda, http_api_event, BOB, subject=ALICE)

    assert response["statusCode"] == 403
    assert json.loads(response["body"])["code"] == "forbidden"


def test_lambda_returns_401_when_the_event_has_no_authorizer_claims(
    jwt_lambda: ModuleType, http_api_event: Any
) -> None:
    response = lambda_create(jwt_lambda, http_api_event, ALICE, subject=None)

    assert response["statusCode"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")
