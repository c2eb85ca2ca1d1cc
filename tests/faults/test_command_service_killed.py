"""kill -9 of the command service under 16 concurrent clients, then a restart.

Sixteen clients post messages (each with a unique content) as fast as they can; a snapshot is
written every 5 events, so the kill is likely to land in the middle of an append that also
writes a snapshot. After a third of the stream the command service is killed with SIGKILL and
started again on the same port; the clients see refused or reset connections meanwhile and keep
sending. Afterwards the journal, read through the event store's API, must show that:

- every command that got a 2xx is in the journal exactly once;
- a command that got no answer (or a 5xx) is either entirely there, once, or not at all: every
  event decodes, each chat's seq_nrs run 1..n, every snapshot is the state its events fold to;
- nothing is there that no client sent.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from cqrs_es.testing import Backend, Harness
from cqrs_es.testing.audit import audit_journal
from cqrs_es.testing.load import Load

pytestmark = pytest.mark.slow

CLIENTS = 16
COMMANDS = 480  # answered ones; the unanswered ones during the outage come on top
KILL_AT = COMMANDS // 3
SEED = 16


def test_acknowledged_commands_are_stored_once_and_nothing_is_half_written_when_the_command_service_is_killed(  # noqa: E501
    harness: Harness, backend: Backend, reliability: Any
) -> None:
    stack = harness.services(backend, env={"SNAPSHOT_INTERVAL": "5"})
    load = Load(stack.command_url, clients=CLIENTS, seed=SEED, posts_only=True, timeout=20)
    seen: dict[str, int] = {}
    fault = threading.Lock()

    def kill_and_restart() -> None:
        seen["kill_status"] = stack.command.kill()
        stack.command.start(wait=False)

    def inject(issued: int) -> None:
        with fault:
            if issued >= KILL_AT and "killed_at" not in seen:
                seen["killed_at"] = issued
                # In a thread of its own: the clients go on sending while it dies and restarts.
                threading.Thread(target=kill_and_restart, daemon=True).start()

    outcomes = load.run(COMMANDS, inject)
    stack.command.wait_ready()
    journal = audit_journal(backend.event_store_url)

    def content(outcome: Any) -> str:
        return str(outcome.body["content"])

    acknowledged = [o for o in outcomes if o.acknowledged]
    in_doubt = [o for o in outcomes if o.status is None or o.status >= 500]
    posts_in_doubt = [o for o in in_doubt if o.command == "post-message"]
    refused = [o for o in outcomes if o.status is not None and 400 <= o.status < 500]
    creates = [o for o in acknowledged if o.command == "create"]
    posts = [o for o in acknowledged if o.command == "post-message"]
    unanswered = [i for i, o in enumerate(outcomes) if o.status is None]
    outage_start = unanswered[0] if unanswered else seen.get("killed_at", 0)
    after_restart = [o for o in outcomes[outage_start:] if o.acknowledged]
    sent_contents = {content(o) for o in outcomes if o.command == "post-message"}
    written_in_doubt = sum(1 for o in posts_in_doubt if journal.posted_contents[content(o)] == 1)
    reliability.record(
        "faults",
        "command service killed (SIGKILL) under 16 clients, restarted",
        backend=backend.name,
        clients=CLIENTS,
        commands_issued=len(outcomes),
        acknowledged=len(acknowledged),
        no_answer=sum(1 for o in outcomes if o.status is None),
        server_errors=sum(1 for o in outcomes if o.status is not None and o.status >= 500),
        in_doubt_written=written_in_doubt,
        in_doubt_not_written=len(posts_in_doubt) - written_in_doubt,
        killed=1 if seen.get("kill_status") == -9 else 0,
        killed_after_commands=seen.get("killed_at"),
        recovered=1 if stack.command.running and after_restart else 0,
        journal_events=journal.events,
        snapshots=journal.snapshots,
        lost=sum(1 for o in posts if journal.posted[o.response["messageId"]] != 1),
        duplicates=sum(n - 1 for n in journal.posted_contents.values() if n > 1),
        journal_problems=len(journal.problems()),
    )

    assert seen.get("kill_status") == -9, seen
    assert not refused, [(o.status, o.response) for o in refused[:5]]
    assert journal.problems() == []
    assert journal.snapshots > 0
    # Every chat whose creation was acknowledged exists (an unanswered one may exist too).
    assert {o.response["groupChatId"] for o in creates} <= set(journal.versions)
    assert len(journal.versions) <= len(creates) + sum(o.command == "create" for o in in_doubt)
    # Every acknowledged post is there exactly once, under the id its client was given.
    assert all(journal.posted[o.response["messageId"]] == 1 for o in posts)
    # An unanswered post is there once or not at all; nothing is there that was not sent.
    assert all(journal.posted_contents[content(o)] <= 1 for o in posts_in_doubt)
    assert set(journal.posted_contents) <= sent_contents
    assert sum(journal.posted_contents.values()) == len(posts) + written_in_doubt
    assert after_restart, "no command was acknowledged after the restart"
