"""A stored event that cannot be read is a server fault that names where it is stored."""

from __future__ import annotations

import logging

import pytest
from chat_domain import DecodeError, PostMessage, new_ulid
from command_service.handlers import CommandHandler
from command_test_support import ALICE, create_chat, post, store_of
from event_store import NewEvent
from fastapi.testclient import TestClient


def _corrupt_next_event(client: TestClient, chat_id: str, event_type: str, payload: bytes) -> None:
    store = store_of(client)
    version = store.load(chat_id).version
    store.append(
        chat_id,
        version,
        [NewEvent(str(new_ulid()), event_type, payload, occurred_at_ms=1_700_000_000_000)],
    )


@pytest.mark.parametrize(
    ("event_type", "payload", "reason"),
    [
        ("GroupChatBogus", b"{}", "unknown event type"),
        ("GroupChatRenamed", b"{not json", ""),
    ],
)
def test_error_names_aggregate_and_seq_nr_when_a_stored_event_is_unreadable(
    client: TestClient, event_type: str, payload: bytes, reason: str
) -> None:
    chat_id = create_chat(client)
    _corrupt_next_event(client, chat_id, event_type, payload)
    handler = CommandHandler(store_of(client), aggregate_cache_size=0)
    command = PostMessage.parse(
        group_chat_id=chat_id, content="hi", executor_id=ALICE, generator=new_ulid
    )

    with pytest.raises(DecodeError) as error:
        handler.handle(command)

    message = str(error.value)
    assert chat_id in message
    assert "seq_nr 2" in message
    assert event_type in message
    assert reason in message


def test_server_error_without_internals_and_nothing_written_when_a_stored_event_is_unreadable(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    chat_id = create_chat(client)
    _corrupt_next_event(client, chat_id, "GroupChatBogus", b"{}")
    # The app's aggregate cache still holds the state before the corruption: the append
    # conflicts, and the fresh load then meets the unreadable event.
    with caplog.at_level(logging.ERROR):
        response = post(
            client, "post-message", {"groupChatId": chat_id, "content": "hi", "executorId": ALICE}
        )

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error"
    assert "GroupChatBogus" not in body["detail"]
    assert any(
        "seq_nr 2" in record.getMessage() or "seq_nr 2" in (record.exc_text or "")
        for record in caplog.records
    )
    assert store_of(client).load(chat_id).version == 2
