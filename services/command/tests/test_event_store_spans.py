"""Event store calls are traced by the command service: one client span per load and append."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import telemetry
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import (
    ALICE,
    AlwaysConflictingStore,
    UnavailableStore,
    create_chat,
    post,
)
from event_store import open_event_store
from fastapi.testclient import TestClient
from telemetry.testing import OtlpReceiver, ReceivedSpan, reset_telemetry


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", started.endpoint)
        yield started
        reset_telemetry()  # flush while the receiver still listens


def _by_name(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name]


def test_records_load_and_append_spans_under_the_command_span_when_a_command_is_handled(
    receiver: OtlpReceiver,
) -> None:
    # No aggregate cache: the rename loads the chat instead of deciding on the cached state.
    settings = Settings(event_store_url="memory://", aggregate_cache_size=0)
    with TestClient(create_app(settings)) as client:
        chat_id = create_chat(client)
        renamed = post(client, "rename", {"groupChatId": chat_id, "name": "y", "executorId": ALICE})
    telemetry.flush()

    assert renamed.status_code == 200
    spans = receiver.wait_until(lambda spans: len(_by_name(spans, "command RenameGroupChat")) == 1)
    command = _by_name(spans, "command RenameGroupChat")[0]
    in_command = [s for s in spans if s.parent_span_id == command.span_id]
    (load,) = _by_name(in_command, "event_store load")
    (append,) = _by_name(in_command, "event_store append")
    assert load.kind == append.kind == "CLIENT"
    assert load.trace_id == append.trace_id == command.trace_id
    assert load.attributes["aggregate.id"] == append.attributes["aggregate.id"] == chat_id
    assert load.attributes["event_store.version"] == 1
    assert load.attributes["event_store.event_count"] == 1
    assert append.attributes["event_store.expected_version"] == 1
    assert append.attributes["event_store.event_count"] == 1
    assert append.attributes["event_store.version"] == 2
    assert load.status_code == append.status_code == "UNSET"


def test_marks_the_append_span_as_a_conflict_but_not_an_error_when_another_writer_wins(
    receiver: OtlpReceiver,
) -> None:
    store = AlwaysConflictingStore(open_event_store("memory://"))
    app = create_app(
        Settings(event_store_url="memory://", command_max_retries=0), event_store=store
    )
    with TestClient(app) as client:
        response = post(client, "create", {"name": "developers", "executorId": ALICE})
    telemetry.flush()

    assert response.status_code == 409
    append = receiver.wait_for(lambda s: s.name == "event_store append")
    assert append.attributes["event_store.conflict"] is True
    assert append.attributes["event_store.actual_version"] == 1
    assert append.status_code == "UNSET"


def test_records_the_error_on_the_load_span_when_the_store_is_unavailable(
    receiver: OtlpReceiver,
) -> None:
    store = UnavailableStore(open_event_store("memory://"))
    app = create_app(Settings(event_store_url="memory://"), event_store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = post(
            client,
            "rename",
            {
                "groupChatId": "GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z",
                "name": "x",
                "executorId": ALICE,
            },
        )
    telemetry.flush()

    assert response.status_code == 503
    load = receiver.wait_for(lambda s: s.name == "event_store load")
    assert load.status_code == "ERROR"
    assert "EventStoreUnavailableError" in load.status_message
    assert "exception" in load.events
    command = receiver.wait_for(lambda s: s.name == "command RenameGroupChat")
    assert command.status_code == "ERROR"
