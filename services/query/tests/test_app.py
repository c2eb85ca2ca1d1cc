"""The app's contract beyond single endpoints: OpenAPI, settings, and an unavailable database."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from query_service.app import create_app
from query_service.settings import Settings

OPERATIONS = {
    ("/query/healthcheck", "get"),
    ("/query/v1/healthcheck", "get"),
    ("/query/v1/group-chats", "get"),
    ("/query/v1/group-chats/{groupChatId}", "get"),
    ("/query/v1/group-chats/{groupChatId}/members", "get"),
    ("/query/v1/group-chats/{groupChatId}/members/{memberUserAccountId}", "get"),
    ("/query/v1/group-chats/{groupChatId}/messages", "get"),
    ("/query/v1/messages/{messageId}", "get"),
}


@pytest.fixture
def offline_client(tmp_path: Path) -> TestClient:
    """A client of an app whose read model was never migrated (no database needed)."""
    return TestClient(create_app(Settings(read_model_url=f"sqlite:///{tmp_path / 'empty.db'}")))


def test_openapi_document_is_valid_and_lists_every_operation_when_fetched(
    offline_client: TestClient,
) -> None:
    response = offline_client.get("/query/openapi.json")

    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations == OPERATIONS


def test_openapi_documents_400_404_and_503_as_problems_and_never_422_when_reads_take_ids(
    offline_client: TestClient,
) -> None:
    document = offline_client.get("/query/openapi.json").json()

    for path, item in document["paths"].items():
        if path.endswith("healthcheck"):
            assert set(item["get"]["responses"]) == {"200"}
            continue
        responses = item["get"]["responses"]
        expected = {"200", "400", "503"} | ({"404"} if "{" in path else set())
        assert set(responses) == expected, path
        for status in expected - {"200"}:
            assert set(responses[status]["content"]) == {"application/problem+json"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_docs_page_is_served_when_requested(offline_client: TestClient) -> None:
    response = offline_client.get("/query/docs")

    assert response.status_code == 200
    assert "/query/openapi.json" in response.text


def test_reads_are_service_unavailable_when_the_read_model_is_not_migrated(
    offline_client: TestClient,
) -> None:
    response = offline_client.get(
        "/query/v1/group-chats", params={"userAccountId": "01JDQ4Z5V8X9Y0A1B2C3D4E5F6"}
    )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert int(response.headers["retry-after"]) > 0


def test_reads_are_service_unavailable_when_postgresql_is_unreachable() -> None:
    settings = Settings(read_model_url="postgresql://postgres@127.0.0.1:1/read_model")
    with TestClient(create_app(settings)) as client:
        response = client.get(
            "/query/v1/group-chats/01JDQ4Z5V8X9Y0A1B2C3D4E5F6/messages",
            params={"userAccountId": "01JDQ4Z5V8X9Y0A1B2C3D4E5F6"},
        )
        health = client.get("/query/healthcheck")

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert health.status_code == 200


def test_settings_are_read_from_the_environment_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READ_MODEL_URL", "postgresql://db/rm")
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("PAGE_SIZE_DEFAULT", "20")
    monkeypatch.setenv("PAGE_SIZE_MAX", "100")

    settings = Settings()

    assert (settings.read_model_url, settings.port) == ("postgresql://db/rm", 8080)
    assert (settings.page_size_default, settings.page_size_max) == (20, 100)


def test_settings_have_the_documented_defaults_when_the_environment_is_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("READ_MODEL_URL", "PORT", "PAGE_SIZE_DEFAULT", "PAGE_SIZE_MAX"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert (settings.read_model_url, settings.port) == ("sqlite:///var/read_model.db", 3002)
    assert (settings.page_size_default, settings.page_size_max) == (50, 200)


def test_settings_are_rejected_when_the_default_page_exceeds_the_maximum() -> None:
    with pytest.raises(ValueError, match="PAGE_SIZE_DEFAULT"):
        Settings(page_size_default=300, page_size_max=200)
