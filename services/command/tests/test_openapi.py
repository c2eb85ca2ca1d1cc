"""The OpenAPI document: valid, complete, and documenting every status an operation returns."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

COMMANDS = {
    # path: (operationId, success status)
    "/command/v1/group-chats/create": ("createGroupChat", "201"),
    "/command/v1/group-chats/rename": ("renameGroupChat", "200"),
    "/command/v1/group-chats/delete": ("deleteGroupChat", "200"),
    "/command/v1/group-chats/add-member": ("addMember", "200"),
    "/command/v1/group-chats/remove-member": ("removeMember", "200"),
    "/command/v1/group-chats/post-message": ("postMessage", "201"),
    "/command/v1/group-chats/edit-message": ("editMessage", "200"),
    "/command/v1/group-chats/delete-message": ("deleteMessage", "200"),
}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/command/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_is_a_valid_openapi_3_1_document(document: dict[str, Any]) -> None:
    validate(document)

    assert document["openapi"].startswith("3.1")


def test_lists_exactly_the_endpoints_of_the_api_contract(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == {*COMMANDS, "/command/v1/healthcheck"}
    for path, (operation_id, _) in COMMANDS.items():
        assert list(document["paths"][path]) == ["post"]
        assert document["paths"][path]["post"]["operationId"] == operation_id
    assert list(document["paths"]["/command/v1/healthcheck"]) == ["get"]


def test_documents_every_error_status_as_a_problem_and_no_fastapi_422(
    document: dict[str, Any],
) -> None:
    for path, (_, success) in COMMANDS.items():
        responses = document["paths"][path]["post"]["responses"]
        expected = {success, "400", "409", "413", "422", "500", "503"}
        if not path.endswith("/create"):
            expected |= {"404"}
        assert set(responses) == expected, path
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"title", "status", "detail", "code"} <= set(schemas["Problem"]["required"])


def test_describes_request_bodies_in_camel_case(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert set(schemas["EditMessageRequest"]["properties"]) == {
        "groupChatId",
        "messageId",
        "content",
        "executorId",
    }
    assert set(schemas["EditMessageRequest"]["required"]) == {
        "groupChatId",
        "messageId",
        "content",
        "executorId",
    }
    assert set(schemas["MessageIdResponse"]["properties"]) == {"groupChatId", "messageId"}


def test_documents_the_optional_idempotency_key_header_on_every_command(
    document: dict[str, Any],
) -> None:
    for path in COMMANDS:
        parameters = document["paths"][path]["post"]["parameters"]
        [header] = [p for p in parameters if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key"
        assert header.get("required", False) is False
