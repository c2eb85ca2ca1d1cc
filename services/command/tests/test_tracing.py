"""One span per handled command, and its trace context stored with the event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import telemetry
from command_service.app import create_app
from command_service.settings import Settings
from command_test_support import ALICE, create_chat, post, store_of
from fastapi.testclient import TestClient
from telemetry.testing import OtlpReceiver, reset_telemetry


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", started.endpoint)
        yield started
        reset_telemetry()  # flush while the receiver still listens


def test_records_a_span_per_command_and_stores_its_trace_context_in_the_event_metadata(
    receiver: OtlpReceiver,
) -> None:
    with TestClient(create_app(Settings(event_store_url="memory://"))) as client:
        chat_id = create_chat(client)
        renamed = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": ALICE})
        refused = post(client, "rename", {"groupChatId": chat_id, "name": "x", "executorId": ALICE})
        events = store_of(client).load(chat_id).events
    telemetry.flush()

    assert (renamed.status_code, refused.status_code) == (200, 422)
    spans = receiver.wait_until(
        lambda spans: sum(s.name == "command RenameGroupChat" for s in spans) == 2
    )
    ok, failed = [s for s in spans if s.name == "command RenameGroupChat"]
    assert ok.attributes == {
        "command.name": "RenameGroupChat",
        "aggregate.id": chat_id,
        "aggregate.seq_nr": 2,
        "command.conflict_retries": 0,
        "command.cached_state": True,  # the state the creation left behind
    }
    assert failed.attributes["command.error_code"] == "name_unchanged"
    assert failed.status_code != 2  # a refused command is not a server error (2 = ERROR)
    metadata = events[1].metadata
    assert metadata["traceparent"].split("-")[1] == ok.trace_id
    assert metadata["traceparent"].split("-")[2] == ok.span_id
