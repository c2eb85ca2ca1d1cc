"""`cqrs-es rebuild-read-model` per aggregate: a DynamoDB journal (on moto), and `--aggregate`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import boto3
import pytest
from chat_domain import Event, GroupChatId
from event_store import EventStore, NewEvent, StoredEvent
from event_store.dynamodb import create_tables
from event_store.url import open_event_store
from read_model import create_engine_for, migrate
from read_model.schema import group_chats, messages, parked_events, projection_positions
from read_model_updater.core import apply
from read_model_updater.poller import Poller
from read_model_updater.testing import (
    HistoryBuilder,
    append,
    domain_view,
    read_model_view,
    snapshot,
    stored_event,
)
from sqlalchemy import Engine, delete, insert, update

from cqrs_es.cli import main as cli

GARBAGE = NewEvent(
    event_id="01J0000000000000000000BAD1",
    event_type="GroupChatRenamed",
    payload=b'{"schemaVersion": 1, "name": 42}',
    occurred_at_ms=0,
)


@pytest.fixture
def dynamodb_url(moto_endpoint: str) -> Iterator[str]:
    """A `dynamodb://` URL of a journal and snapshot table of this test's own (on moto)."""
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:12]
    journal, snapshots = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=journal, snapshot_table=snapshots)
    try:
        yield f"dynamodb://{journal}?snapshot_table={snapshots}&endpoint_url={moto_endpoint}"
    finally:
        for name in (journal, snapshots):
            client.delete_table(TableName=name)
        client.close()


def run_cli(
    monkeypatch: pytest.MonkeyPatch, events_url: str, read_model_url: str, *args: str
) -> tuple[int, str, str]:
    """`cqrs-es rebuild-read-model <args>` with these URLs: (status, stdout, stderr)."""
    monkeypatch.setenv("EVENT_STORE_URL", events_url)
    monkeypatch.setenv("READ_MODEL_URL", read_model_url)
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli(["rebuild-read-model", *args])
    return status, out.getvalue(), err.getvalue()


def written(url: str, events: Sequence[Event], *extra: tuple[GroupChatId, NewEvent]) -> None:
    """Append `events` (and `extra` raw events at each chat's end) to the store at `url`."""
    store = open_event_store(url)
    try:
        append(store, events)
        for chat, event in extra:
            store.append(str(chat), store.load(str(chat)).version, [event])
    finally:
        store.close()


def project_like_the_lambda(
    engine: Engine,
    events: Sequence[StoredEvent],
    *,
    dead_lettered: frozenset[tuple[str, int]] = frozenset(),
) -> None:
    """Apply `events` in batches of 20, as the stream Lambda would, minus the records that went
    to the dead-letter queue (their chats stop there: later events are gaps)."""
    delivered = [e for e in events if (e.aggregate_id, e.seq_nr) not in dead_lettered]
    for start in range(0, len(delivered), 20):
        apply(engine, delivered[start : start + 20])


def garbage_of(chat: GroupChatId, seq_nr: int) -> StoredEvent:
    return StoredEvent(
        aggregate_id=str(chat),
        seq_nr=seq_nr,
        event_id=GARBAGE.event_id,
        event_type=GARBAGE.event_type,
        payload=GARBAGE.payload,
        occurred_at_ms=GARBAGE.occurred_at_ms,
        metadata={},
        position=None,
    )


def live_chat(builder: HistoryBuilder, skip: int = 0) -> GroupChatId:
    return [c for c, s in builder.states.items() if not s.deleted and s.seq_nr >= 4][skip]


def rows_of(rows: dict[str, list[dict[str, Any]]], chat: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of one chat in a `snapshot`."""
    chat_column = {
        "group_chats": "id",
        "members": "group_chat_id",
        "messages": "group_chat_id",
        "projection_positions": "aggregate_id",
        "parked_events": "aggregate_id",
    }
    return {table: [r for r in rows[table] if r[c] == chat] for table, c in chat_column.items()}


@pytest.fixture
def engine_of() -> Iterator[Any]:
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engines.append(create_engine_for(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def test_rebuilt_read_model_equals_the_incremental_projection_when_the_journal_is_dynamodb(
    dynamodb_url: str,
    read_model_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine_of: Any,
) -> None:
    builder = HistoryBuilder(seed=31)
    history = builder.grow(150)
    broken = live_chat(builder)
    broken_end = builder.states[broken].seq_nr + 1
    written(dynamodb_url, history, (broken, GARBAGE))
    # The read model as the stream Lambda built it, event by event.
    incremental = engine_of(f"sqlite:///{tmp_path / 'incremental.db'}")
    migrate(str(incremental.url))
    project_like_the_lambda(
        incremental, [*map(stored_event, history), garbage_of(broken, broken_end)]
    )
    # The read model to rebuild holds rows of another history: the rebuild must drop them.
    migrate(read_model_url)
    project_like_the_lambda(
        engine_of(read_model_url), [*map(stored_event, HistoryBuilder(5).grow(30))]
    )

    status, out, err = run_cli(monkeypatch, dynamodb_url, read_model_url, "--batch-size", "7")

    assert (status, err) == (0, "")
    assert (
        f"{len(builder.states)} aggregates, 151 events: 150 applied, 0 duplicates, 1 parked" in out
    )
    rebuilt = engine_of(read_model_url)
    assert snapshot(rebuilt) == snapshot(incremental)
    # The broken chat shows its state before the garbage (which the domain never saw).
    assert read_model_view(rebuilt) == domain_view(list(builder.states.values()), builder.events)
    assert [r["reason"].split(":")[0] for r in snapshot(rebuilt)["parked_events"]] == [
        "undecodable"
    ]


def test_aggregate_option_catches_up_a_chat_when_its_stream_records_were_dead_lettered(
    dynamodb_url: str, read_model_url: str, monkeypatch: pytest.MonkeyPatch, engine_of: Any
) -> None:
    builder = HistoryBuilder(seed=32)
    history = builder.grow(120)
    written(dynamodb_url, history)
    stuck = str(live_chat(builder))
    migrate(read_model_url)
    engine = engine_of(read_model_url)
    project_like_the_lambda(
        engine, [*map(stored_event, history)], dead_lettered=frozenset({(stuck, 3), (stuck, 4)})
    )
    assert read_model_view(engine) != domain_view(list(builder.states.values()), builder.events)

    status, out, err = run_cli(monkeypatch, dynamodb_url, read_model_url, "--aggregate", stuck)

    events = {str(c): s for c, s in builder.states.items()}[stuck].seq_nr
    assert (status, err) == (0, "")
    assert f"{stuck}: 1 aggregates, {events} events: {events} applied" in out
    assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)


def test_aggregate_option_re_projects_only_that_chat_when_its_rows_were_corrupted(
    dynamodb_url: str, read_model_url: str, monkeypatch: pytest.MonkeyPatch, engine_of: Any
) -> None:
    builder = HistoryBuilder(seed=33)
    written(dynamodb_url, builder.grow(120))
    assert run_cli(monkeypatch, dynamodb_url, read_model_url)[0] == 0
    engine = engine_of(read_model_url)
    before = snapshot(engine)
    corrupted, untouched = str(live_chat(builder)), str(live_chat(builder, skip=1))
    with engine.begin() as connection:  # what a projection bug might leave behind
        for chat in (corrupted, untouched):
            connection.execute(
                update(group_chats).where(group_chats.c.id == chat).values(name="bug")
            )
        connection.execute(delete(messages).where(messages.c.group_chat_id == corrupted))
        connection.execute(
            insert(parked_events).values(
                aggregate_id=corrupted,
                seq_nr=999,
                reason="projection failed: bug",
                parked_at=datetime(2000, 1, 1, tzinfo=UTC),
            )
        )

    status, out, err = run_cli(
        monkeypatch, dynamodb_url, read_model_url, "--aggregate", corrupted, "--batch-size", "3"
    )

    assert (status, err) == (0, "")
    assert "re-projected 1 chats" in out
    after = snapshot(engine)
    assert rows_of(after, corrupted) == rows_of(before, corrupted)
    assert [r["name"] for r in rows_of(after, untouched)["group_chats"]] == ["bug"]


def test_aggregate_option_re_projects_a_chat_and_keeps_the_checkpoint_when_the_store_is_sql(
    urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch, engine_of: Any
) -> None:
    events_url, read_model_url = urls
    builder = HistoryBuilder(seed=34)
    written(events_url, builder.grow(80))
    migrate(read_model_url)
    engine = engine_of(read_model_url)
    store: EventStore = open_event_store(events_url)
    try:
        Poller(store, engine, batch_size=25).catch_up()
    finally:
        store.close()
    before = snapshot(engine)
    chat = str(live_chat(builder))
    with engine.begin() as connection:
        connection.execute(update(group_chats).where(group_chats.c.id == chat).values(name="bug"))
        connection.execute(
            delete(projection_positions).where(projection_positions.c.aggregate_id == chat)
        )

    status, _, err = run_cli(monkeypatch, events_url, read_model_url, "--aggregate", chat)

    assert (status, err) == (0, "")
    assert snapshot(engine) == before  # the checkpoint included


def test_aggregate_option_changes_nothing_when_an_id_has_no_events(
    dynamodb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine_of: Any
) -> None:
    builder = HistoryBuilder(seed=35)
    written(dynamodb_url, builder.grow(40))
    read_model_url = f"sqlite:///{tmp_path / 'read_model.db'}"
    assert run_cli(monkeypatch, dynamodb_url, read_model_url)[0] == 0
    engine = engine_of(read_model_url)
    before = snapshot(engine)
    known, unknown = str(live_chat(builder)), str(GroupChatId.generate())

    status, out, err = run_cli(
        monkeypatch, dynamodb_url, read_model_url, "--aggregate", known, "--aggregate", unknown
    )

    assert (status, out) == (2, "")
    assert f"no events in the journal for {unknown}; nothing was changed" in err
    assert snapshot(engine) == before


def test_aggregate_option_refuses_when_the_read_model_is_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    written(events_url, HistoryBuilder(seed=36).grow(5))

    status, _, err = run_cli(
        monkeypatch,
        events_url,
        f"sqlite:///{tmp_path / 'read_model.db'}",
        "--aggregate",
        "GroupChat-01J0000000000000000000000000",
    )

    assert status == 2
    assert "cqrs-es migrate" in err
