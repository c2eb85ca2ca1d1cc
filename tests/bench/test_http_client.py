"""bench/http.py's load generator: the minimal HTTP/1.1 client, its requests and its posting loop.

Against a scripted server on a local socket: what the benchmark counts depends on the client
reading each response exactly, reconnecting when the server closes, and refusing what it does
not handle.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:
    # Last on the path: the scripts' own names (`http`, `event_store`) must not shadow packages.
    sys.path.append(str(BENCH_DIR))
import benchkit  # noqa: E402

bench = benchkit.load_sibling("http")

# A response as the services' uvicorn writes it.
CREATED = (
    b"HTTP/1.1 201 Created\r\ndate: Sat, 28 Nov 2026 14:15:01 GMT\r\nserver: uvicorn\r\n"
    b"content-type: application/json\r\ncontent-length: 17\r\n\r\n"
    b'{"messageId":"m"}'
)


def _response(status: int, body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


class ScriptedServer:
    """Answers each request with `respond(n)` (n counts requests from 0); None: close instead."""

    def __init__(self, respond: Callable[[int], bytes | None]) -> None:
        self.respond = respond
        self.requests: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while (end := buffer.find(b"\r\n\r\n")) < 0:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head = buffer[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n")[0]) if at >= 0 else 0
                while len(buffer) < end + 4 + length:
                    buffer += conn.recv(65536)
                request, buffer = buffer[: end + 4 + length], buffer[end + 4 + length :]
                with self._lock:
                    n = len(self.requests)
                    self.requests.append(request)
                answer = self.respond(n)
                if answer is None:
                    return
                conn.sendall(answer)
                if b"connection: close" in answer.lower():
                    return

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], bytes | None]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(respond: Callable[[int], bytes | None]) -> ScriptedServer:
        servers.append(ScriptedServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# -- parse_response ---------------------------------------------------------------------------


def test_returns_status_body_and_size_when_the_buffer_holds_a_whole_response() -> None:
    assert bench.parse_response(CREATED + b"HTTP/1.1 ...") == (
        201,
        b'{"messageId":"m"}',
        len(CREATED),
        False,
    )


def test_returns_none_until_the_head_and_the_whole_body_are_in() -> None:
    for cut in (0, 20, CREATED.index(b"\r\n\r\n") + 2, len(CREATED) - 1):
        assert bench.parse_response(CREATED[:cut]) is None


def test_reads_header_names_in_any_case_and_notes_connection_close() -> None:
    response = b"HTTP/1.1 404 Not Found\r\nCONTENT-LENGTH: 2\r\nConnection: Close\r\n\r\n{}"
    assert bench.parse_response(response) == (404, b"{}", len(response), True)


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["chunked", "no length", "two lengths", "bad length", "interim", "HTTP/1.0"],
)
def test_refuses_responses_it_does_not_handle(response: bytes) -> None:
    with pytest.raises(bench.UnsupportedResponseError):
        bench.parse_response(response)


# -- PostRequests -----------------------------------------------------------------------------


def test_post_request_carries_the_chat_content_and_exact_length() -> None:
    data = bench.PostRequests("http://127.0.0.1:8080", "GroupChat-1")("hello 12")
    head, body = data.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /command/v1/group-chats/post-message HTTP/1.1"
    assert b"Host: 127.0.0.1:8080" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert json.loads(body) == {
        "groupChatId": "GroupChat-1",
        "executorId": bench.EXECUTOR,
        "content": "hello 12",
    }


# -- RawConnection ----------------------------------------------------------------------------


def test_keeps_one_connection_for_successive_requests(serve: Callable) -> None:
    server = serve(lambda n: _response(200, b'{"n":%d}' % n))
    connection = bench.RawConnection(server.url)
    answers = [connection.request(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i) for i in range(3)]
    connection.close()
    assert answers == [(200, b'{"n":0}'), (200, b'{"n":1}'), (200, b'{"n":2}')]
    assert server.connections == 1


def test_reconnects_after_a_connection_close_response(serve: Callable) -> None:
    server = serve(lambda n: _response(200, extra=b"Connection: close\r\n"))
    connection = bench.RawConnection(server.url)
    statuses = [connection.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0] for _ in range(2)]
    connection.close()
    assert statuses == [200, 200]
    assert server.connections == 2


def test_raises_connection_closed_then_reconnects_when_the_server_drops_a_request(
    serve: Callable,
) -> None:
    server = serve(lambda n: None if n == 0 else _response(201))
    connection = bench.RawConnection(server.url)
    with pytest.raises(bench.ConnectionClosedError):
        connection.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connection.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 201
    connection.close()
    assert server.connections == 2


# -- post_messages ----------------------------------------------------------------------------


def test_posts_over_every_connection_counting_latencies_and_failures(serve: Callable) -> None:
    # Every 7th request refused, every 11th dropped without an answer, the rest accepted.
    server = serve(lambda n: None if n % 11 == 10 else _response(503) if n % 7 == 6 else CREATED)
    service = bench.Service(server.url, "", None, Path("."), Path("."))
    stats = bench.ClientStats()
    started = time.perf_counter()
    shares = [["GroupChat-a", "GroupChat-b"], ["GroupChat-c"], ["GroupChat-d"]]
    bench.post_messages(service, shares, started + 0.5, started, stats)

    answered = len(server.requests)
    dropped = sum(1 for n in range(answered) if n % 11 == 10)
    refused = sum(1 for n in range(answered) if n % 11 != 10 and n % 7 == 6)
    assert answered > 20
    assert stats.errors == {"503": refused, "ConnectionClosedError": dropped}
    assert len(stats.latencies) == answered - dropped - refused
    assert all(latency > 0 for latency in stats.latencies)
    # A new connection after each drop, unless the deadline had passed by then.
    assert dropped < server.connections <= len(shares) + dropped
    chats = {json.loads(r.split(b"\r\n\r\n")[1])["groupChatId"] for r in server.requests}
    assert chats == {chat for share in shares for chat in share}
