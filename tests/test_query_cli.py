"""`cqrs-es query`: the query service as its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from cqrs_es.cli import build_parser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_query_options_default_to_loopback_and_the_settings_port_when_not_given() -> None:
    args = build_parser("query").parse_args(["query"])

    assert (args.host, args.port) == ("127.0.0.1", None)


@pytest.mark.slow
def test_query_serves_the_read_model_and_stops_cleanly_when_terminated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"
    subprocess.run([sys.executable, "-m", "cqrs_es.cli", "migrate", "--url", url], check=True)
    port = _free_port()
    env = {**os.environ, "READ_MODEL_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", "query", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/query"
    try:
        deadline = time.monotonic() + 60  # generous: imports are slow on a busy machine
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx2.get(f"{base}/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the query service did not start"
            time.sleep(0.1)

        listed = httpx2.get(
            f"{base}/v1/group-chats", params={"userAccountId": "01JDQ4Z5V8X9Y0A1B2C3D4E5F6"}
        )

        assert (listed.status_code, listed.json()) == (200, [])
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal so that the exit status says why.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in output


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PAGE_SIZE_MAX", "many"), ("PAGE_SIZE_DEFAULT", "300"), ("PORT", "70000")],
)
def test_query_exits_2_naming_the_variable_when_a_setting_is_invalid(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = {**os.environ, "READ_MODEL_URL": f"sqlite:///{tmp_path / 'rm.db'}", variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "cqrs_es.cli", "query"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    assert "cqrs-es query: invalid configuration" in result.stderr
    assert variable in result.stderr
