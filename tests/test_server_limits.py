"""`cqrs-es command|query`: the HTTP server's limits (concurrency, keep-alive, header size)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from cqrs_es import server_limits
from cqrs_es.cli import build_parser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("service", ["command", "query"])
def test_server_limits_default_to_200_requests_and_5_s_keep_alive(service: str) -> None:
    args = build_parser(service).parse_args([service])

    assert server_limits.uvicorn_options(args) == {
        "http": "h11",
        "limit_concurrency": 200,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 16 * 1024,
    }


def test_server_limits_follow_the_options_when_given() -> None:
    args = build_parser("command").parse_args(
        ["command", "--limit-concurrency", "50", "--timeout-keep-alive", "2"]
    )

    options = server_limits.uvicorn_options(args)

    assert (options["limit_concurrency"], options["timeout_keep_alive"]) == (50, 2)


@pytest.mark.slow
def test_refuses_a_request_head_over_16_kib_and_keeps_serving_when_a_client_sends_one() -> None:
    port = _free_port()
    env = {**os.environ, "EVENT_STORE_URL": "memory://"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", "command", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/command"
    try:
        deadline = time.monotonic() + 60  # generous: imports are slow on a busy machine
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{base}/v1/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the command service did not start"
            time.sleep(0.1)

        # Headers that never end: h11 refuses once more than 16 KiB of an unfinished request
        # head are buffered, instead of buffering until the client gives up.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /command/v1/healthcheck HTTP/1.1\r\nHost: x\r\nX-Pad: ")
            sock.sendall(b"x" * 20_000)
            answer = sock.recv(1024)

        assert answer.startswith(b"HTTP/1.1 400")
        assert httpx.get(f"{base}/v1/healthcheck", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
