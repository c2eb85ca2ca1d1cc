"""`cqrs-es command|query`: the HTTP server's limits (concurrency, keep-alive, request head size).

The head limit is checked on a real `cqrs-es command` process, over raw sockets: what counts is
what the server receives, however the client splits or pipelines it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO

import httpx2
import pytest
from chat_domain.ids import UserAccountId
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cqrs_es import server_limits
from cqrs_es.cli import build_parser

HEALTHCHECK = "/command/v1/healthcheck"
CREATE = "/command/v1/group-chats/create"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("service", ["command", "query"])
def test_server_limits_default_to_200_requests_and_5_s_keep_alive_on_httptools(
    service: str,
) -> None:
    args = build_parser(service).parse_args([service])

    options = server_limits.uvicorn_options(args)

    assert options == {
        "http": server_limits.http_protocol(),
        "limit_concurrency": 200,
        "timeout_keep_alive": 5,
        "workers": 1,
    }
    assert issubclass(options["http"], HttpToolsProtocol)


def test_server_limits_follow_the_options_when_given() -> None:
    args = build_parser("command").parse_args(
        ["command", "--limit-concurrency", "50", "--timeout-keep-alive", "2"]
    )

    options = server_limits.uvicorn_options(args)

    assert (options["limit_concurrency"], options["timeout_keep_alive"]) == (50, 2)


@pytest.mark.parametrize("service", ["command", "query"])
def test_workers_come_from_the_option_else_web_concurrency_else_one(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert build_parser(service).parse_args([service]).workers == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert build_parser(service).parse_args([service]).workers == 3
    assert build_parser(service).parse_args([service, "--workers", "2"]).workers == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_a_worker_count_that_is_not_a_positive_number_is_refused_with_its_value(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser("command").parse_args(["command", "--workers", value])

    assert exited.value.code == 2
    assert f"must be a whole number >= 1, not {value!r}" in capsys.readouterr().err


def test_servers_fall_back_to_h11_and_its_head_limit_when_httptools_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httptools", None)  # what `import httptools` then raises
    monkeypatch.delitem(sys.modules, "uvicorn.protocols.http.httptools_impl", raising=False)
    monkeypatch.delitem(sys.modules, "cqrs_es.httptools_protocol", raising=False)
    args = build_parser("command").parse_args(["command"])

    options = server_limits.uvicorn_options(args)

    assert server_limits.http_protocol() is None
    assert options == {
        "http": "h11",
        "limit_concurrency": 200,
        "timeout_keep_alive": 5,
        "workers": 1,
        "h11_max_incomplete_event_size": server_limits.MAX_HEADER_BYTES,
    }


# --- the head limit on a real server ------------------------------------------------------------


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A `cqrs-es command` on an in-memory store, shared by the tests below."""
    port = _free_port()
    env = {**os.environ, "EVENT_STORE_URL": "memory://"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", "command", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # generous: imports are slow on a busy machine
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                health = httpx2.get(f"http://127.0.0.1:{port}{HEALTHCHECK}", timeout=2)
                if health.status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the command service did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


class _Connection:
    """A raw HTTP/1.1 connection: send bytes as given, read responses one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader: BinaryIO = self.sock.makefile("rb")

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, bytes]:
        """The status and body of the next response (all of them carry a Content-Length)."""
        status_line = self.reader.readline()
        assert status_line, "the server closed the connection"
        length = 0
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), self.reader.read(length)

    def closed_by_server(self) -> bool:
        return self.reader.read(1) == b""


def _get(path: str = HEALTHCHECK, *, pad: int = 0) -> bytes:
    """A GET whose head has an `X-Pad` header of `pad` bytes."""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Pad: {'x' * pad}\r\n\r\n".encode()


def _get_of_head_size(size: int) -> bytes:
    request = _get(pad=size - len(_get()))
    assert len(request) == size
    return request


def _create(name: str, *, body_size: int | None = None) -> bytes:
    """A POST creating a chat; its JSON body padded with spaces to `body_size` bytes."""
    body = json.dumps({"name": name, "executorId": str(UserAccountId.generate())}).encode()
    if body_size is not None:
        body += b" " * (body_size - len(body))
    head = f"POST {CREATE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.slow
def test_refuses_a_request_head_over_16_kib_with_431_and_keeps_serving_when_a_client_sends_one(
    port: int,
) -> None:
    # Headers that never end: refused once more than 16 KiB of the head have arrived, instead of
    # buffered until the client gives up.
    with _Connection(port) as connection:
        connection.send(f"GET {HEALTHCHECK} HTTP/1.1\r\nHost: x\r\nX-Pad: ".encode())
        connection.send(b"x" * 20_000)

        assert connection.response()[0] == 431
        assert connection.closed_by_server()
    assert httpx2.get(f"http://127.0.0.1:{port}{HEALTHCHECK}", timeout=10).status_code == 200


@pytest.mark.slow
def test_serves_a_head_of_exactly_16_kib_and_refuses_one_byte_more(port: int) -> None:
    limit = server_limits.MAX_HEADER_BYTES
    with _Connection(port) as connection:
        connection.send(_get_of_head_size(limit))
        assert connection.response() == (200, b"OK")
    with _Connection(port) as connection:
        connection.send(_get_of_head_size(limit + 1))
        assert connection.response()[0] == 431
        assert connection.closed_by_server()


@pytest.mark.slow
def test_serves_a_head_that_arrives_a_few_bytes_at_a_time(port: int) -> None:
    # The blank line ending the head is split across reads too.
    request = _get_of_head_size(2048)
    with _Connection(port) as connection:
        for start in range(0, len(request), 3):
            connection.send(request[start : start + 3])
            time.sleep(0.0005)
        assert connection.response() == (200, b"OK")


@pytest.mark.slow
def test_a_keep_alive_connection_counts_each_head_afresh(port: int) -> None:
    requests = 100
    request = _get(pad=1024)
    assert requests * len(request) > 4 * server_limits.MAX_HEADER_BYTES
    with _Connection(port) as connection:
        for _ in range(requests):
            connection.send(request)
            assert connection.response() == (200, b"OK")


@pytest.mark.slow
def test_a_large_body_does_not_count_as_head(port: int) -> None:
    body_size = 60 * 1024
    request = _create("big", body_size=body_size)
    head_size = request.index(b"\r\n\r\n") + 4
    # Body and head together pass the head limit; the head alone leaves little room.
    pad = server_limits.MAX_HEADER_BYTES - head_size - len(_get())
    with _Connection(port) as connection:
        connection.send(request)
        status, body = connection.response()
        assert status == 201, body
        assert json.loads(body)["groupChatId"]

        connection.send(request + _get(pad=pad))  # the body, then a head near the limit

        assert connection.response()[0] == 201
        assert connection.response() == (200, b"OK")


@pytest.mark.slow
def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    names = [f"chat {i}" for i in range(16)]
    pipelined = [_create(name, body_size=2048) + _get(pad=1024) for name in names]
    stream = b"".join(pipelined)
    assert len(stream) > 2 * server_limits.MAX_HEADER_BYTES
    with _Connection(port) as connection:
        connection.send(stream)  # all at once: several requests share each read

        for _ in names:
            status, body = connection.response()
            assert status == 201, body
            assert connection.response() == (200, b"OK")


@pytest.mark.slow
def test_a_pipelined_oversized_head_is_refused_after_the_requests_before_it(port: int) -> None:
    limit = server_limits.MAX_HEADER_BYTES
    with _Connection(port) as connection:
        connection.send(_create("first") + _get() + _get_of_head_size(limit + 1) + _get())

        assert connection.response()[0] == 201
        assert connection.response() == (200, b"OK")
        assert connection.response()[0] == 431
        assert connection.closed_by_server()
