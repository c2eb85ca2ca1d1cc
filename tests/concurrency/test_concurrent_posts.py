"""32 clients post to one group chat at once, through the real command service.

Every client is a member of the chat and posts its messages as fast as it can, all of them
released together. The command service resolves the races on the chat's stream with its
optimistic concurrency and bounded retries (`COMMAND_MAX_RETRIES`, default 3). Afterwards:

- no 5xx; a 409 `conflict` (still losing after every retry) is allowed but counted;
- the journal, read through the event store's API, holds every message that got a 2xx exactly
  once, none that got a 409, and the chat's seq_nrs run 1..n without a gap;
- the read model, read through the query service once the updater has caught up, shows exactly
  the acknowledged messages.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx2
import pytest

from cqrs_es.testing import Backend, Harness, eventually
from cqrs_es.testing.audit import audit_journal

pytestmark = pytest.mark.slow

CLIENTS = 32
POSTS_PER_CLIENT = 4
ADMIN = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE00"


def user(n: int) -> str:
    """The n-th client's user account (a valid ULID: Crockford digits only)."""
    return f"UserAccount-01H42K4ABWQ5V2XQEP3A48V{n:03d}"


def read_all_messages(query_url: str, chat: str) -> list[dict[str, Any]]:
    """Every message of `chat` the query service shows, following the page cursors."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"userAccountId": ADMIN, "limit": 200}
    while True:
        response = httpx2.get(f"{query_url}/v1/group-chats/{chat}/messages", params=params)
        if response.status_code != 200:
            return []
        page = response.json()
        items = page["items"] + items
        if page["nextBefore"] is None:
            return items
        params["before"] = page["nextBefore"]


def test_every_acknowledged_post_is_stored_once_in_order_when_32_clients_post_at_once(
    harness: Harness, backend: Backend, reliability: Any
) -> None:
    stack = harness.services(backend)
    with httpx2.Client(base_url=f"{stack.command_url}/v1/group-chats", timeout=60) as http:
        created = http.post("/create", json={"name": "crowd", "executorId": ADMIN})
        assert created.status_code == 201, created.text
        chat = created.json()["groupChatId"]
        for n in range(CLIENTS):
            added = http.post(
                "/add-member",
                json={
                    "groupChatId": chat,
                    "userAccountId": user(n),
                    "role": "member",
                    "executorId": ADMIN,
                },
            )
            assert added.status_code == 200, added.text

    start = threading.Barrier(CLIENTS)
    outcomes: list[tuple[str, int, dict[str, Any] | None]] = []  # (content, status, body)
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx2.Client(base_url=f"{stack.command_url}/v1/group-chats", timeout=60) as own:
            start.wait()
            for k in range(POSTS_PER_CLIENT):
                content = f"client {n} message {k}"
                response = own.post(
                    "/post-message",
                    json={"groupChatId": chat, "content": content, "executorId": user(n)},
                )
                body = (
                    response.json()
                    if response.headers.get("content-type", "").endswith("json")
                    else None
                )
                with lock:
                    outcomes.append((content, response.status_code, body))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(status for _, status, _ in outcomes)
    acknowledged = {
        body["messageId"]: content for content, status, body in outcomes if status == 201 and body
    }
    refused = {content for content, status, _ in outcomes if status == 409}
    journal = audit_journal(backend.event_store_url)
    chat_version = journal.versions[chat]
    acked_in_journal = sum(1 for m in acknowledged if journal.posted[m] == 1)

    def shown() -> list[dict[str, Any]]:
        return read_all_messages(stack.query_url, chat)

    read_model = eventually(
        shown, lambda items: len(items) >= len(acknowledged), "the updater caught up"
    )
    shown_ids = Counter(item["id"] for item in read_model)
    reliability.record(
        "concurrency",
        f"{CLIENTS} clients post to one chat",
        backend=backend.name,
        clients=CLIENTS,
        posts=len(outcomes),
        acknowledged=len(acknowledged),
        conflicts_409=statuses.get(409, 0),
        server_errors=sum(n for s, n in statuses.items() if s >= 500),
        lost=len(acknowledged) - acked_in_journal,
        duplicates=sum(n - 1 for n in journal.posted.values() if n > 1),
        journal_problems=len(journal.problems()),
        read_model_missing=len(set(acknowledged) - set(shown_ids)),
        statuses={str(s): n for s, n in sorted(statuses.items())},
    )

    assert set(statuses) <= {201, 409}, statuses
    assert journal.problems() == []
    # Every acknowledged message is in the journal exactly once; no refused one is.
    assert {m: journal.posted[m] for m in acknowledged} == dict.fromkeys(acknowledged, 1)
    assert set(journal.posted) == set(acknowledged)
    assert not refused & set(journal.posted_contents)
    # The chat's stream: create, the members, then the acknowledged posts, seq_nrs 1..n.
    assert chat_version == 1 + CLIENTS + len(acknowledged)
    assert shown_ids == Counter(acknowledged.keys())
    assert {item["id"]: item["text"] for item in read_model} == acknowledged
