"""`cqrs-es dev`: how it reports children that fail or stop, and that it leaves none behind.

Its normal life (start, serve, Ctrl-C with status 0, restart on the same data) is walked by
tests/e2e/test_rest_lifecycle.py.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_es.dev import default_command_workers, describe_exit, exited_gracefully
from cqrs_es.testing import Harness, alive, cli_subcommand, descendants, eventually, free_port


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with Harness(tmp_path / "processes") as harness:
        yield harness


@pytest.mark.parametrize("returncode", [0, -signal.SIGTERM, 128 + signal.SIGTERM])
def test_exit_is_graceful_when_a_child_stopped_cleanly_or_on_sigterm(returncode: int) -> None:
    assert exited_gracefully(returncode)


@pytest.mark.parametrize("returncode", [1, 3, -signal.SIGKILL, -signal.SIGSEGV])
def test_exit_is_a_failure_when_a_child_failed_or_was_killed(returncode: int) -> None:
    assert not exited_gracefully(returncode)


def test_exit_is_described_by_its_signal_when_a_child_was_killed() -> None:
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with status 3"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_dev_reports_the_child_and_exits_non_zero_when_a_port_is_in_use(
    harness: Harness, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        dev = harness.process(
            "dev",
            [
                "dev",
                "--data-dir",
                str(tmp_path / "data"),
                "--command-port",
                str(busy_port),
                "--query-port",
                str(free_port()),
            ],
        ).start()
        children: set[int] = set()
        # Collect dev's children while it runs, to check that none outlives it.
        while dev.running:
            children.update(descendants(dev.pid or 0))
            time.sleep(0.05)
        code = dev.wait_exit()

    output = dev.output()
    assert code != 0, output
    assert "cqrs-es dev: command exited with status" in output
    assert "cqrs-es dev: stopped" in output
    assert [pid for pid in children if alive(pid)] == []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_children_stop_when_dev_itself_is_killed(harness: Harness) -> None:
    dev = harness.dev()
    children = dev.child_pids()  # and the command service's worker processes
    servers = [name for name in map(cli_subcommand, children) if name is not None]
    assert sorted(servers) == ["command", "query", "updater"]
    if default_command_workers() > 1:
        assert len(children) > len(servers)  # the workers, which must stop too

    os.kill(dev.process.pid or 0, signal.SIGKILL)  # dev only: it cannot stop its children

    assert dev.process.wait_exit() == -signal.SIGKILL
    eventually(
        lambda: [pid for pid in children if alive(pid)], lambda running: not running, "children"
    )
