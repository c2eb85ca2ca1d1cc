"""Each read-model query runs in a `query <function>` span of the request's trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import telemetry
from fastapi.testclient import TestClient
from query_service.app import create_app
from query_service.settings import Settings
from read_model import create_engine_for, migrate
from read_model.testing import ReadModelSeeder
from telemetry.testing import OtlpReceiver, ReceivedSpan, reset_telemetry


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with OtlpReceiver() as started:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", started.endpoint)
        yield started
        reset_telemetry()  # flush while the receiver still listens


@pytest.fixture
def read_model(tmp_path: Path) -> Iterator[tuple[str, ReadModelSeeder]]:
    """A migrated SQLite read model: its URL and a seeder writing into it."""
    url = f"sqlite:///{tmp_path / 'read_model.db'}"
    migrate(url)
    engine = create_engine_for(url)
    yield url, ReadModelSeeder(engine)
    engine.dispose()


def _client(url: str) -> TestClient:
    return TestClient(create_app(Settings(read_model_url=url)), raise_server_exceptions=False)


def _server_span(spans: list[ReceivedSpan], query: ReceivedSpan) -> ReceivedSpan:
    return next(s for s in spans if s.span_id == query.parent_span_id)


def test_records_a_query_span_under_the_request_span_when_a_chat_is_read(
    receiver: OtlpReceiver, read_model: tuple[str, ReadModelSeeder]
) -> None:
    url, seed = read_model
    alice = seed.user()
    chat = seed.group_chat(alice, "developers")

    with _client(url) as client:
        found = client.get(f"/query/v1/group-chats/{chat}", params={"userAccountId": alice})
        listed = client.get("/query/v1/group-chats", params={"userAccountId": alice})
    telemetry.flush()

    assert (found.status_code, listed.status_code) == (200, 200)
    spans = receiver.wait_until(
        lambda spans: {"query get_group_chat", "query get_group_chats"} <= {s.name for s in spans}
    )
    one = next(s for s in spans if s.name == "query get_group_chat")
    many = next(s for s in spans if s.name == "query get_group_chats")
    assert one.kind == "CLIENT"
    assert one.attributes == {
        "query.name": "get_group_chat",
        "group_chat.id": chat,
        "query.found": True,
    }
    assert many.attributes["query.result_count"] == 1
    assert _server_span(spans, one).kind == "SERVER"
    assert _server_span(spans, one).trace_id == one.trace_id


def test_records_the_query_span_in_the_request_trace_when_read_through_graphql(
    receiver: OtlpReceiver, read_model: tuple[str, ReadModelSeeder]
) -> None:
    url, _ = read_model
    alice = ReadModelSeeder.user()

    with _client(url) as client:
        response = client.post(
            "/query/graphql",
            json={"query": f'{{ getGroupChats(userAccountId: "{alice}") {{ id }} }}'},
        )
    telemetry.flush()

    assert response.status_code == 200, response.text
    spans = receiver.wait_until(
        lambda spans: (
            any(s.name == "query get_group_chats" for s in spans)
            and any(s.kind == "SERVER" for s in spans)
        )
    )
    query = next(s for s in spans if s.name == "query get_group_chats")
    server = next(s for s in spans if s.kind == "SERVER")
    assert query.trace_id == server.trace_id
    assert query.attributes["query.result_count"] == 0


def test_records_a_bad_cursor_without_failing_the_span_when_the_client_sends_one(
    receiver: OtlpReceiver, read_model: tuple[str, ReadModelSeeder]
) -> None:
    url, seed = read_model
    alice = seed.user()
    chat = seed.group_chat(alice)

    with _client(url) as client:
        response = client.get(
            f"/query/v1/group-chats/{chat}/messages",
            params={"userAccountId": alice, "before": "not-a-cursor"},
        )
    telemetry.flush()

    assert response.status_code == 400
    span = receiver.wait_for(lambda s: s.name == "query get_messages")
    assert "InvalidCursorError" in span.attributes["query.error"]
    assert span.status_code == "UNSET"


def test_marks_the_query_span_as_an_error_when_the_read_model_is_unusable(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'not_migrated.db'}"

    with _client(url) as client:
        response = client.get(
            "/query/v1/group-chats", params={"userAccountId": ReadModelSeeder.user()}
        )
    telemetry.flush()

    assert response.status_code == 503
    span = receiver.wait_for(lambda s: s.name == "query get_group_chats")
    assert span.status_code == "ERROR"
    assert "ReadModelUnavailableError" in span.status_message
    assert "exception" in span.events
