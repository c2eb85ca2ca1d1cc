"""The SQL poller and the rebuild: resume from the durable checkpoint, identical rebuilds."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import pytest
from chat_domain import (
    Event,
    EventId,
    GroupChat,
    MessageContent,
    MessageId,
    PostMessage,
    decide,
    encode,
)
from event_store import EventStore, EventStoreUnavailableError, NewEvent, StoredEvent
from event_store.url import open_event_store
from read_model import create_engine_for, migrate
from read_model.projector import Outcome
from read_model.schema import projection_checkpoints
from read_model_updater import poller as poller_module
from read_model_updater.poller import Poller
from read_model_updater.testing import (
    HistoryBuilder,
    append,
    domain_view,
    read_model_view,
    snapshot,
)
from sqlalchemy import Engine, update

from cqrs_es.cli import main as cli


@contextmanager
def opened(event_store_url: str, read_model_url: str) -> Iterator[tuple[EventStore, Engine]]:
    """An event store and a read-model engine, closed afterwards (as a process would)."""
    store = open_event_store(event_store_url)
    engine = create_engine_for(read_model_url)
    try:
        yield store, engine
    finally:
        store.close()
        engine.dispose()


def last_seq_nrs(events: Sequence[Event]) -> dict[str, int]:
    return {str(e.aggregate_id): e.seq_nr for e in events}


def test_poller_resumes_exactly_where_it_stopped_when_restarted(urls: tuple[str, str]) -> None:
    events_url, read_model_url = urls
    migrate(read_model_url)
    builder = HistoryBuilder(seed=11)
    with opened(events_url, read_model_url) as (store, engine):
        append(store, builder.grow(60))
        first = Poller(store, engine, batch_size=7).catch_up()
        assert (first.counts[Outcome.APPLIED], first.position, first.batches) == (60, 60, 9)

    with opened(events_url, read_model_url) as (store, engine):
        append(store, builder.grow(45))
        second = Poller(store, engine, batch_size=7)
        assert second.position() == 60
        progress = second.catch_up()

        assert dict(progress.counts) == {Outcome.APPLIED: 45}
        assert progress.position == 105
        assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)
        rows = snapshot(engine)
        assert {r["aggregate_id"]: r["seq_nr"] for r in rows["projection_positions"]} == (
            last_seq_nrs(builder.events)
        )
        assert rows["parked_events"] == []


def test_replaying_applied_events_changes_nothing_when_the_checkpoint_is_lost(
    urls: tuple[str, str],
) -> None:
    events_url, read_model_url = urls
    migrate(read_model_url)
    builder = HistoryBuilder(seed=12)
    with opened(events_url, read_model_url) as (store, engine):
        append(store, builder.grow(50))
        Poller(store, engine, batch_size=20).catch_up()
        before = snapshot(engine)
        with engine.begin() as connection:  # as if the checkpoint had never been written
            connection.execute(update(projection_checkpoints).values(position=0))

        replay = Poller(store, engine, batch_size=20).catch_up()

        assert dict(replay.counts) == {Outcome.DUPLICATE: 50}
        assert snapshot(engine) == before


class FlakyStore:
    """Delegates to a store, but the first `failures` reads say the store is unavailable."""

    def __init__(self, store: EventStore, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.snapshot_interval = store.snapshot_interval

    def read_all(self, after_position: int = 0, limit: int = 1000) -> Sequence[StoredEvent]:
        if self.failures > 0:
            self.failures -= 1
            raise EventStoreUnavailableError("the journal is restarting")
        return self._store.read_all(after_position, limit)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_poller_retries_with_backoff_when_the_event_store_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "INITIAL_BACKOFF_SECONDS", 0.001)
    events_url = f"sqlite:///{tmp_path}/events.db"
    read_model_url = f"sqlite:///{tmp_path}/read_model.db"
    migrate(read_model_url)
    builder = HistoryBuilder(seed=13)
    with opened(events_url, read_model_url) as (store, engine):
        append(store, builder.grow(30))
        flaky = FlakyStore(store, failures=3)
        poller = Poller(flaky, engine, batch_size=8, poll_interval=0.001)  # type: ignore[arg-type]
        stop = threading.Event()
        worker = threading.Thread(target=poller.run, args=(stop,))
        worker.start()
        try:
            deadline = time.monotonic() + 60  # a failure guard, not a timing assertion
            while poller.position() < 30 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            worker.join()

        assert flaky.failures == 0
        assert poller.position() == 30
        assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def _broken_chat(builder: HistoryBuilder, store: EventStore) -> GroupChat:
    """Give one chat an undecodable event followed by a readable one, and retire it; returns
    its state before them (what the read model keeps showing)."""
    chat_id = next(
        chat for chat, state in builder.states.items() if not state.deleted and state.seq_nr >= 2
    )
    state = builder.states.pop(chat_id)
    garbage = NewEvent(
        event_id="01J0000000000000000000BAD1",
        event_type="GroupChatRenamed",
        payload=b'{"schemaVersion": 1, "name": 42}',
        occurred_at_ms=0,
    )
    store.append(str(chat_id), state.seq_nr, [garbage])
    # A readable event after the unreadable one: it can never be applied either.
    (follower,) = decide(
        state,
        PostMessage(
            group_chat_id=chat_id,
            message_id=MessageId.generate(),
            content=MessageContent("after the unreadable one"),
            executor_id=state.members[0].user_account_id,
        ),
        event_id=EventId.generate(),
        occurred_at=builder.clock,
    )
    encoded = encode(dataclasses.replace(follower, seq_nr=state.seq_nr + 2))
    store.append(
        str(chat_id),
        state.seq_nr + 1,
        [NewEvent(encoded.event_id, encoded.type_name, encoded.payload, encoded.occurred_at_ms)],
    )
    return state


def rebuild_with_cli(monkeypatch: pytest.MonkeyPatch, events_url: str, read_model_url: str) -> str:
    monkeypatch.setenv("EVENT_STORE_URL", events_url)
    monkeypatch.setenv("READ_MODEL_URL", read_model_url)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["rebuild-read-model", "--batch-size", "50"]) == 0
    return out.getvalue()


def test_incremental_and_rebuilt_read_models_are_identical_when_fed_the_same_journal(
    urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    events_url, read_model_url = urls
    migrate(read_model_url)
    builder = HistoryBuilder(seed=2026)
    broken: list[GroupChat] = []
    with opened(events_url, read_model_url) as (store, engine):
        # Several stop/start cycles, with batch sizes that cut through the appends.
        for chunk, batch_size in ((70, 13), (1, 13), (90, 500), (40, 1), (100, 32)):
            append(store, builder.grow(chunk))
            Poller(store, engine, batch_size=batch_size).catch_up()
            if chunk == 90:
                broken.append(_broken_chat(builder, store))
        incremental = snapshot(engine)
        journal_end = len(store.read_all(0, limit=10_000))

    report = rebuild_with_cli(monkeypatch, events_url, read_model_url)

    with opened(events_url, read_model_url) as (_, engine):
        rebuilt = snapshot(engine)
        view = read_model_view(engine)
    assert rebuilt == incremental
    assert view == domain_view([*builder.states.values(), *broken], builder.events)
    assert [r["reason"].split(":")[0] for r in rebuilt["parked_events"]] == [
        "undecodable",
        "predecessor parked",
    ]
    assert rebuilt["projection_checkpoints"] == [{"name": "sql-journal", "position": journal_end}]
    assert f"{journal_end} events" in report
    assert f"{journal_end - 2} applied, 0 duplicates, 2 parked" in report


def test_updater_cli_refuses_a_dynamodb_event_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # (`rebuild-read-model` replays a DynamoDB journal per aggregate: see test_replay.py.)
    monkeypatch.setenv("EVENT_STORE_URL", "dynamodb://journal?snapshot_table=snapshot")
    monkeypatch.setenv("READ_MODEL_URL", f"sqlite:///{tmp_path}/read_model.db")

    assert cli(["updater"]) == 2
