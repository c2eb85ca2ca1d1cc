"""`cqrs-es command` as a real process: serves, persists, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from command_test_support import ALICE

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"cqrs-es command exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/command/v1/healthcheck", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("cqrs-es command did not become healthy")


def test_serves_commands_and_shuts_down_gracefully_on_sigterm_when_run_as_a_process(
    tmp_path: Path,
) -> None:
    port = free_port()
    database = tmp_path / "data" / "events.db"
    env = {**os.environ, "EVENT_STORE_URL": f"sqlite:///{database}", "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", "command"],  # --port defaults to $PORT
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, process)
        request = urllib.request.Request(
            f"{base}/command/v1/group-chats/create",
            data=json.dumps({"name": "n", "executorId": ALICE}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            chat_id = json.load(response)["groupChatId"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)

    # uvicorn shuts down gracefully, then re-raises the signal it caught (so -SIGTERM).
    assert process.returncode in (0, -signal.SIGTERM), output.decode(errors="replace")
    assert b"Application shutdown complete." in output
    assert database.exists()  # the parent directory was created by the store URL
    from event_store import open_event_store

    with_store = open_event_store(f"sqlite:///{database}")
    try:
        assert [e.event_type for e in with_store.load(chat_id).events] == ["GroupChatCreated"]
    finally:
        with_store.close()


def test_exits_2_with_a_message_when_the_event_store_url_is_invalid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cqrs_es.cli", "command", "--port", "1"],
        env={**os.environ, "EVENT_STORE_URL": "nosuch://x"},
        capture_output=True,
        timeout=STARTUP_TIMEOUT_S,
        check=False,
    )

    assert result.returncode == 2
    assert b"invalid configuration" in result.stderr
