"""The PostgreSQL server crashes and comes back under load; the services ride it out.

Command service, query service and updater run on a PostgreSQL server of the test's own (not
the machine's shared one). Four clients post messages and a reader polls the query service
while the server is stopped with `pg_ctl stop -m immediate` (a crash: every connection dies),
left down for seven seconds, then started again. Meanwhile:

- the services answer 503 `service_unavailable` (with `Retry-After`), never a 500;
- after the restart they serve again without being restarted themselves, and the updater,
  which retried with backoff, catches up;
- every post that got a 2xx is in the journal exactly once and in the read model; one that got
  a 503 or no answer is there once or not at all; the journal is intact.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx2
import pytest

from cqrs_es.testing import Harness, eventually
from cqrs_es.testing.audit import audit_journal, journal_end, projected_position
from cqrs_es.testing.load import Load

pytestmark = pytest.mark.slow

CLIENTS = 4
BEFORE_CRASH = 100  # answered commands before the server goes down
AFTER_RESTART = 100  # acknowledged commands after it is back
DOWN_SECONDS = 7.0  # above the event store's 5 s pool timeout: waiting commands get 503s
SEED = 503


def test_services_answer_503_while_postgres_is_down_and_recover_without_a_restart(
    throwaway_postgres: Any, harness: Harness, reliability: Any
) -> None:
    server = throwaway_postgres
    backend = server.backend()
    stack = harness.services(
        backend, env={"UPDATER_MAX_BACKOFF_SECONDS": "1", "SNAPSHOT_INTERVAL": "10"}
    )
    load = Load(stack.command_url, clients=CLIENTS, seed=SEED, posts_only=True, timeout=30)
    load.phase = "before"
    reads: Counter[tuple[str, int | None]] = Counter()
    reader_stop = threading.Event()
    acknowledged_after = Counter[bool]()

    def crash_and_restart() -> None:
        server.stop("immediate")
        load.phase = "down"
        time.sleep(DOWN_SECONDS)
        server.start()
        load.phase = "after"

    def inject(issued: int) -> None:
        if load.phase == "before" and issued >= BEFORE_CRASH:
            load.phase = "stopping"
            threading.Thread(target=crash_and_restart, daemon=True).start()
        latest = load.outcomes[issued - 1]
        if latest.phase == "after" and latest.acknowledged:
            acknowledged_after[True] += 1
            if acknowledged_after[True] >= AFTER_RESTART:
                load.stop()

    def reader() -> None:
        url = f"{stack.query_url}/v1/group-chats"
        caller = load.scripts[0].users[0]
        with httpx2.Client(timeout=30) as http:
            while not reader_stop.is_set():
                phase = load.phase
                try:
                    status: int | None = http.get(url, params={"userAccountId": caller}).status_code
                except httpx2.TransportError:
                    status = None
                reads[(phase, status)] += 1
                time.sleep(0.05)

    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    outcomes = load.run(100_000, inject, max_seconds=120)
    reader_stop.set()
    reading.join()
    assert load.phase == "after", load.phase

    end = journal_end(backend.event_store_url)
    eventually(
        lambda: projected_position(backend.read_model_url),
        lambda position: position >= end,
        "the updater caught up after the restart",
        timeout=60,
    )
    journal = audit_journal(backend.event_store_url)
    statuses = Counter((o.phase, o.status) for o in outcomes)
    posts = [o for o in outcomes if o.acknowledged and o.command == "post-message"]
    in_doubt = [o for o in outcomes if o.command == "post-message" and not o.acknowledged]
    command_5xx = Counter(o.status for o in outcomes if o.status is not None and o.status >= 500)
    query_5xx = Counter(s for (_, s), n in reads.items() for _ in range(n) if s and s >= 500)
    processes_restarted = sum(p.starts - 1 for p in stack.processes.values())
    reliability.record(
        "faults",
        "PostgreSQL server crashed (immediate stop) and restarted under load",
        backend="postgres (own server)",
        clients=CLIENTS,
        commands_issued=len(outcomes),
        acknowledged=sum(o.acknowledged for o in outcomes),
        down_seconds=DOWN_SECONDS,
        command_503=command_5xx.get(503, 0),
        command_500=command_5xx.get(500, 0),
        command_no_answer=sum(1 for o in outcomes if o.status is None),
        query_requests=sum(reads.values()),
        query_503=query_5xx.get(503, 0),
        query_500=query_5xx.get(500, 0),
        service_restarts=processes_restarted,
        recovered=1 if any(o.phase == "after" for o in posts) else 0,
        lost=sum(1 for o in posts if journal.posted[o.response["messageId"]] != 1),
        duplicates=sum(n - 1 for n in journal.posted_contents.values() if n > 1),
        journal_problems=len(journal.problems()),
        command_statuses={f"{p}:{s}": n for (p, s), n in sorted(statuses.items(), key=str)},
        query_statuses={f"{p}:{s}": n for (p, s), n in sorted(reads.items(), key=str)},
    )

    assert command_5xx.keys() <= {503}, command_5xx
    assert query_5xx.keys() <= {503}, query_5xx
    assert command_5xx[503] > 0, "no command saw the server down"
    assert query_5xx[503] > 0, "no query saw the server down"
    assert processes_restarted == 0
    assert all(p.running for p in stack.processes.values())
    assert journal.problems() == []
    assert all(journal.posted[o.response["messageId"]] == 1 for o in posts)
    assert all(journal.posted_contents[str(o.body["content"])] <= 1 for o in in_doubt)
