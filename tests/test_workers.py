"""`cqrs-es command|query --workers N`: N worker processes serve one port, share one store,
stop gracefully with their supervisor and do not outlive it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from chat_domain.ids import UserAccountId
from event_store.sqlite import SqliteEventStore

from cqrs_es.testing import (
    Harness,
    alive,
    child_environment,
    descendants,
    eventually,
    free_port,
    http_ok,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with Harness(tmp_path / "processes") as harness:
        yield harness


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes under `pid` (spawned by multiprocessing)."""
    found = []
    for child in descendants(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in argv:
            found.append(child)
    return found


def _command_service(harness: Harness, tmp_path: Path, workers: int = 2) -> tuple[Path, str, int]:
    database = tmp_path / "events.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = harness.process(
        "command",
        ["command", "--port", str(port), "--workers", str(workers)],
        env=child_environment({"EVENT_STORE_URL": f"sqlite:///{database}"}),
        ready=http_ok(f"{url}/command/v1/healthcheck"),
    ).start()
    assert process.pid is not None
    return database, url, process.pid


def test_two_command_workers_serve_one_port_and_write_one_store_without_losing_a_command(
    harness: Harness, tmp_path: Path
) -> None:
    database, url, pid = _command_service(harness, tmp_path)
    assert len(_workers(pid)) == 2
    user = str(UserAccountId.generate())

    def chat_with_posts(n: int) -> int:
        # A connection of its own per chat: the kernel hands connections to either worker.
        with httpx2.Client(base_url=url, timeout=30) as client:
            created = client.post(
                "/command/v1/group-chats/create", json={"name": f"chat {n}", "executorId": user}
            )
            assert created.status_code == 201, created.text
            chat = created.json()["groupChatId"]
            for m in range(10):
                posted = client.post(
                    "/command/v1/group-chats/post-message",
                    json={"groupChatId": chat, "content": f"m{m}", "executorId": user},
                )
                assert posted.status_code == 201, posted.text
        return 11

    with ThreadPoolExecutor(8) as pool:
        written = sum(pool.map(chat_with_posts, range(16)))

    with SqliteEventStore(database) as store:
        log = list(store.read_all())
    assert len(log) == written == 16 * 11
    assert [e.position for e in log] == list(range(1, written + 1))


def test_sigterm_stops_the_workers_gracefully_and_the_supervisor_exits_cleanly(
    harness: Harness, tmp_path: Path
) -> None:
    _, _, pid = _command_service(harness, tmp_path)
    workers = _workers(pid)
    [process] = harness.processes

    process.send_signal(signal.SIGTERM)

    assert process.wait_exit() == 0, process.output()
    assert [w for w in workers if alive(w)] == []


def test_the_workers_stop_when_the_supervisor_is_killed_outright(
    harness: Harness, tmp_path: Path
) -> None:
    _, _, pid = _command_service(harness, tmp_path)
    workers = _workers(pid)
    assert len(workers) == 2

    os.kill(pid, signal.SIGKILL)  # the supervisor cannot stop them itself

    eventually(lambda: [w for w in workers if alive(w)], lambda running: not running, "workers")


def test_an_invalid_configuration_is_reported_once_before_any_worker_starts(
    harness: Harness,
) -> None:
    env = child_environment({"EVENT_STORE_URL": "nosuch://x"})
    result = harness.run(["command", "--workers", "2"], env=env, check=False)

    assert result.returncode == 2
    assert result.stdout.count("invalid configuration") == 1


def test_workers_are_refused_an_event_store_each_would_keep_to_itself(harness: Harness) -> None:
    env = child_environment({"EVENT_STORE_URL": "memory://"})
    result = harness.run(["command", "--workers", "2"], env=env, check=False)

    assert result.returncode == 2
    assert "needs an event store the workers share, not memory://" in result.stdout


def test_two_query_workers_serve_one_port(harness: Harness, tmp_path: Path) -> None:
    read_model = f"sqlite:///{tmp_path / 'read_model.db'}"
    env = child_environment({"READ_MODEL_URL": read_model})
    harness.run(["migrate"], env=env)
    port = free_port()
    process = harness.process(
        "query",
        ["query", "--port", str(port), "--workers", "2"],
        env=env,
        ready=http_ok(f"http://127.0.0.1:{port}/query/v1/healthcheck"),
    ).start()
    assert process.pid is not None
    assert len(_workers(process.pid)) == 2
    for _ in range(8):
        with httpx2.Client(timeout=10) as client:  # a new connection each time
            assert client.get(f"http://127.0.0.1:{port}/query/v1/healthcheck").status_code == 200

    process.send_signal(signal.SIGTERM)
    assert process.wait_exit() == 0, process.output()
