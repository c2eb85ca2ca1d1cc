"""Malformed GraphQL request bodies found by the fuzz suite (tests/fuzz): 400s, never 500s."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

GRAPHQL = "/query/graphql"
DEEP_ARRAY = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    "body",
    [
        b'"x"',
        b"5",
        b"null",
        b"true",
        f'{{"query": "{{ __typename }}", "variables": {DEEP_ARRAY}}}'.encode(),
        b"\xe4",
        b'{"query": "{ __typename }", "variables": {"a": "\x80"}}',
    ],
    ids=["string", "number", "null", "boolean", "deeply-nested-variables", "latin-1", "bad-utf8"],
)
def test_returns_http_400_with_code_400_when_the_body_is_json_but_not_a_graphql_request(
    client: TestClient, body: bytes
) -> None:
    response = client.post(GRAPHQL, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 400
    (only,) = response.json()["errors"]
    assert only["extensions"] == {"code": "400", "reason": "validation_error"}


def test_returns_http_400_when_get_variables_are_nested_too_deeply(client: TestClient) -> None:
    response = client.get(GRAPHQL, params={"query": "{ __typename }", "variables": DEEP_ARRAY})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "400"
