"""What the processes left in the stores, checked from outside: for fault and concurrency tests.

- `audit_journal(event_store_url)` reads the whole journal through the event store's public API
  and checks that it is intact: every event decodes with the domain codec, each aggregate's
  seq_nrs run 1, 2, ... without a gap or a repeat, the global positions are gap-free, every event
  id is unique, and each aggregate's latest snapshot is the state its events fold to. It also
  indexes the posted messages (by id and by content) so that a test can match what its clients
  were told with what was stored.
- `journal_end(event_store_url)`, `projected_position(read_model_url)`: the journal's last
  position and the updater's checkpoint, to wait until the updater has caught up.
- `read_model_tables(read_model_url)`: every read-model table's rows, in a canonical order, to
  compare a read model the updater built incrementally with one `cqrs-es rebuild-read-model`
  built from scratch.

The heavy imports (the domain, the event store, SQLAlchemy) happen inside the functions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JournalAudit",
    "audit_journal",
    "journal_end",
    "projected_position",
    "read_model_tables",
]

READ_BATCH = 1000


@dataclass
class JournalAudit:
    """The findings of `audit_journal`; `problems()` lists what is wrong (empty: intact)."""

    events: int = 0
    aggregates: int = 0
    snapshots: int = 0
    undecodable: list[str] = field(default_factory=list)
    """`aggregate#seq_nr: reason` of every event the domain codec cannot read."""
    sequence_errors: list[str] = field(default_factory=list)
    """Aggregates whose seq_nrs are not 1..n, and global position gaps."""
    snapshot_errors: list[str] = field(default_factory=list)
    """Aggregates whose snapshot does not decode or differs from the replayed state."""
    duplicate_event_ids: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    """Each aggregate's version (its last seq_nr)."""
    posted: Counter[str] = field(default_factory=Counter)
    """How many `GroupChatMessagePosted` events carry each message id."""
    posted_contents: Counter[str] = field(default_factory=Counter)
    """How many `GroupChatMessagePosted` events carry each content."""
    event_types: Counter[str] = field(default_factory=Counter)

    def problems(self) -> list[str]:
        """Everything that makes the journal not intact (duplicated message ids included)."""
        duplicated_messages = [
            f"message {m} posted {n} times" for m, n in self.posted.items() if n > 1
        ]
        return [
            *(f"undecodable: {e}" for e in self.undecodable),
            *(f"sequence: {e}" for e in self.sequence_errors),
            *(f"snapshot: {e}" for e in self.snapshot_errors),
            *(f"duplicate event id: {e}" for e in self.duplicate_event_ids),
            *duplicated_messages,
        ]


def audit_journal(event_store_url: str) -> JournalAudit:
    """Read every event of the SQL event store at `event_store_url` and check it (see module)."""
    from chat_domain import GroupChatMessagePosted, replay
    from chat_domain.codec import DecodeError, decode, decode_state
    from event_store import StoredEvent, open_event_store

    audit = JournalAudit()
    store = open_event_store(event_store_url)
    try:
        by_aggregate: dict[str, list[StoredEvent]] = defaultdict(list)
        position = 0
        while batch := store.read_all(after_position=position, limit=READ_BATCH):
            for stored in batch:
                assert stored.position is not None, "audit_journal needs a SQL event store"
                if stored.position != position + 1:
                    audit.sequence_errors.append(
                        f"global position {stored.position} follows {position}"
                    )
                position = stored.position
                by_aggregate[stored.aggregate_id].append(stored)
        event_ids: Counter[str] = Counter()
        for aggregate_id, stored_events in by_aggregate.items():
            seq_nrs = [e.seq_nr for e in stored_events]
            if seq_nrs != list(range(1, len(seq_nrs) + 1)):
                audit.sequence_errors.append(f"{aggregate_id}: seq_nrs {_summary(seq_nrs)}")
            audit.versions[aggregate_id] = seq_nrs[-1]
            decoded = []
            for stored in stored_events:
                event_ids[stored.event_id] += 1
                audit.event_types[stored.event_type] += 1
                try:
                    event = decode(stored.event_type, None, stored.payload)
                except DecodeError as error:
                    audit.undecodable.append(f"{aggregate_id}#{stored.seq_nr}: {error}")
                    continue
                decoded.append(event)
                if isinstance(event, GroupChatMessagePosted):
                    audit.posted[str(event.message.id)] += 1
                    audit.posted_contents[event.message.content.value] += 1
            _check_snapshot(store, aggregate_id, decoded, audit, replay, decode_state, DecodeError)
        audit.events = position
        audit.aggregates = len(by_aggregate)
        audit.duplicate_event_ids = sorted(e for e, n in event_ids.items() if n > 1)
    finally:
        store.close()
    return audit


def _check_snapshot(
    store: Any,
    aggregate_id: str,
    events: list[Any],
    audit: JournalAudit,
    replay: Any,
    decode_state: Any,
    decode_error: type[Exception],
) -> None:
    loaded = store.load(aggregate_id)
    if loaded.version != audit.versions[aggregate_id]:
        audit.sequence_errors.append(
            f"{aggregate_id}: load() says version {loaded.version}, "
            f"the journal has {audit.versions[aggregate_id]} events"
        )
    if loaded.snapshot is None:
        return
    audit.snapshots += 1
    try:
        state = decode_state(loaded.snapshot.payload)
    except decode_error as error:
        audit.snapshot_errors.append(f"{aggregate_id}@{loaded.snapshot.seq_nr}: {error}")
        return
    expected = replay(e for e in events if e.seq_nr <= loaded.snapshot.seq_nr)
    if state != expected:
        audit.snapshot_errors.append(
            f"{aggregate_id}@{loaded.snapshot.seq_nr}: differs from the replayed events"
        )


def _summary(seq_nrs: list[int]) -> str:
    if len(seq_nrs) <= 12:
        return str(seq_nrs)
    return f"{seq_nrs[:5]} ... {seq_nrs[-5:]} ({len(seq_nrs)} events, {len(set(seq_nrs))} distinct)"


def read_model_tables(read_model_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every read-model table's rows, ordered by primary key (`parked_at` left out)."""
    from read_model import create_engine_for
    from read_model_updater.testing import snapshot

    engine = create_engine_for(read_model_url)
    try:
        return snapshot(engine)
    finally:
        engine.dispose()


def journal_end(event_store_url: str) -> int:
    """The global position of the journal's last event (0 when empty)."""
    from event_store import open_event_store

    store = open_event_store(event_store_url)
    try:
        position = 0
        while batch := store.read_all(after_position=position, limit=READ_BATCH):
            position = batch[-1].position or position
        return position
    finally:
        store.close()


def projected_position(read_model_url: str, checkpoint: str = "sql-journal") -> int:
    """The journal position the updater has projected up to (0 before its first batch)."""
    from read_model import create_engine_for
    from read_model.schema import projection_checkpoints
    from sqlalchemy import select

    engine = create_engine_for(read_model_url)
    try:
        with engine.connect() as connection:
            position = connection.execute(
                select(projection_checkpoints.c.position).where(
                    projection_checkpoints.c.name == checkpoint
                )
            ).scalar()
        return int(position or 0)
    finally:
        engine.dispose()
