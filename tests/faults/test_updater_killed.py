"""kill -9 of the read-model updater in the middle of a stream of 2,000 commands.

Four clients send a random but valid mix of every command to the real command service. When a
third of the stream has been answered, the updater is killed with SIGKILL (mid-batch, as likely
as not); when two thirds have, it is started again, and catches up while the stream goes on.
The read model it ends with must be identical, table by table and row by row, to one that
`cqrs-es rebuild-read-model` builds from the whole journal into a second database: nothing lost,
nothing applied twice, nothing out of order.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest

from cqrs_es.testing import Backend, Harness, child_environment, eventually
from cqrs_es.testing.audit import (
    audit_journal,
    journal_end,
    projected_position,
    read_model_tables,
)
from cqrs_es.testing.fixtures import postgres_database
from cqrs_es.testing.load import Load

pytestmark = pytest.mark.slow

COMMANDS = 2000
CLIENTS = 4
SEED = 8
KILL_AT = COMMANDS // 3
RESTART_AT = 2 * COMMANDS // 3
CATCH_UP_TIMEOUT = 180.0


def test_read_model_equals_a_full_rebuild_when_the_updater_is_killed_mid_stream(
    harness: Harness, backend: Backend, reliability: Any, tmp_path: Path
) -> None:
    stack = harness.services(backend)
    load = Load(stack.command_url, clients=CLIENTS, seed=SEED)
    seen: dict[str, int] = {}
    fault = threading.Lock()

    def inject(issued: int) -> None:
        # Called by the client that sent command number `issued`; the others keep going.
        with fault:
            if issued >= KILL_AT and "killed_at" not in seen:
                seen["projected_at_kill"] = projected_position(backend.read_model_url)
                seen["killed_at"] = issued
                seen["kill_status"] = stack.updater.kill()
            elif issued >= RESTART_AT and "restarted_at" not in seen:
                seen["restarted_at"] = issued
                stack.updater.start(wait=False)

    outcomes = load.run(COMMANDS, inject)
    stack.updater.wait_ready()
    end = journal_end(backend.event_store_url)
    eventually(
        lambda: projected_position(backend.read_model_url),
        lambda position: position >= end,
        "the restarted updater caught up with the journal",
        timeout=CATCH_UP_TIMEOUT,
        interval=0.2,
    )
    incremental = read_model_tables(backend.read_model_url)

    with contextlib.ExitStack() as resources:
        if backend.name == "sqlite":
            second = f"sqlite:///{tmp_path / 'rebuilt_read_model.db'}"
        else:
            second = resources.enter_context(postgres_database())
        env = child_environment(
            {"EVENT_STORE_URL": backend.event_store_url, "READ_MODEL_URL": second}
        )
        harness.run(["rebuild-read-model"], env=env)
        rebuilt = read_model_tables(second)

    journal = audit_journal(backend.event_store_url)
    acknowledged = [o for o in outcomes if o.acknowledged]
    posted = {
        o.response["messageId"] for o in acknowledged if o.command == "post-message" and o.response
    }
    differing = {
        table: len(set(map(repr, rows)) ^ set(map(repr, rebuilt.get(table, []))))
        for table, rows in incremental.items()
    }
    reliability.record(
        "faults",
        "updater killed (SIGKILL) mid-stream, restarted",
        backend=backend.name,
        clients=CLIENTS,
        commands_issued=len(outcomes),
        acknowledged=len(acknowledged),
        journal_events=journal.events,
        killed=1 if "killed_at" in seen else 0,
        killed_after_commands=seen.get("killed_at"),
        projected_at_kill=seen.get("projected_at_kill"),
        restarted_after_commands=seen.get("restarted_at"),
        recovered=1 if projected_position(backend.read_model_url) >= end else 0,
        lost=sum(1 for m in posted if journal.posted[m] == 0) + sum(differing.values()),
        duplicates=sum(n - 1 for n in journal.posted.values() if n > 1),
        differing_rows=sum(differing.values()),
        read_model_rows=sum(len(rows) for rows in incremental.values()),
        event_types=dict(sorted(journal.event_types.items())),
        statuses=dict(load.statuses()),
    )

    assert seen.get("kill_status") == -9, seen
    assert seen["projected_at_kill"] > 0, "the updater was killed before it projected anything"
    assert len(acknowledged) == len(outcomes) == COMMANDS, load.statuses()
    assert journal.problems() == []
    assert all(journal.posted[m] == 1 for m in posted)
    assert incremental.keys() == rebuilt.keys()
    for table, rows in incremental.items():
        assert rows == rebuilt[table], f"table {table} differs from the rebuilt one"
    assert incremental["parked_events"] == []
