"""`cqrs_es.httptools_protocol`: how a response reaches the connection (one write when it can).

The head limit is tested on a real server in `test_server_limits.py`; here the protocol runs on
a transport that records what is written, to see the writes themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("httptools")

from uvicorn.config import Config
from uvicorn.server import ServerState

from cqrs_es.httptools_protocol import HeadLimitedHttpToolsProtocol

App = Callable[[Any, Any, Any], Awaitable[None]]


class RecordingTransport(asyncio.Transport):
    """A connection that keeps each write (a `writelines` is one write, as on a socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.closed_before_lost = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3001), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(bytes(d) for d in list_of_data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _exchange(app: App, data: bytes, *, responses: int = 1) -> RecordingTransport:
    config = Config(app=app, http=HeadLimitedHttpToolsProtocol, log_config=None, lifespan="off")
    config.load()
    protocol = HeadLimitedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    deadline = asyncio.get_running_loop().time() + 5
    while protocol.server_state.total_requests < responses or protocol.tasks:
        assert asyncio.get_running_loop().time() < deadline, transport.writes
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)  # anything still held would be written by now
    transport.closed_before_lost = transport.closed
    protocol.connection_lost(None)
    return transport


async def _json_app(scope: Any, receive: Any, send: Any) -> None:
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _get(path: str = "/", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\n" + extra + b"\r\n"


def test_a_response_head_and_body_leave_in_one_write() -> None:
    transport = asyncio.run(_exchange(_json_app, _get()))

    [write] = transport.writes
    assert write.startswith(b"HTTP/1.1 200 OK\r\n")
    assert write.endswith(b'\r\n\r\n{"ok":true}')
    assert not transport.closed_before_lost  # keep-alive


def test_each_response_of_a_keep_alive_connection_is_one_write() -> None:
    transport = asyncio.run(_exchange(_json_app, _get("/a") + _get("/b") + _get("/c"), responses=3))

    assert len(transport.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(b"}") for w in transport.writes)


def test_a_head_whose_body_comes_later_is_not_held_back_for_it() -> None:
    head_written: list[list[bytes]] = []

    async def slow_body(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]}
        )
        await asyncio.sleep(0.05)  # a later turn of the loop: the head must be out by now
        head_written.append(list(transport_of_test.writes))
        await send({"type": "http.response.body", "body": b"late"})

    async def main() -> RecordingTransport:
        nonlocal transport_of_test
        config = Config(
            app=slow_body, http=HeadLimitedHttpToolsProtocol, log_config=None, lifespan="off"
        )
        config.load()
        protocol = HeadLimitedHttpToolsProtocol(
            config, ServerState(), {}, asyncio.get_running_loop()
        )
        protocol.connection_made(transport_of_test)
        protocol.data_received(_get())
        while protocol.server_state.total_requests < 1:
            await asyncio.sleep(0.001)
        protocol.connection_lost(None)
        return transport_of_test

    transport_of_test = RecordingTransport()
    transport = asyncio.run(main())

    [before_body] = head_written
    assert len(before_body) == 1
    assert before_body[0].startswith(b"HTTP/1.1 200 OK")
    assert before_body[0].endswith(b"\r\n\r\n")
    assert transport.writes[1:] == [b"late"]


def test_a_closing_response_is_written_whole_before_the_close() -> None:
    transport = asyncio.run(_exchange(_json_app, _get(extra=b"Connection: close\r\n")))

    [write] = transport.writes
    assert b"connection: close" in write.lower()
    assert write.endswith(b'{"ok":true}')
    assert transport.closed_before_lost


def test_a_failing_app_gets_its_500_written_in_one_piece() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    transport = asyncio.run(_exchange(failing, _get()))

    [write] = transport.writes
    assert write.startswith(b"HTTP/1.1 500 Internal Server Error")
    assert write.endswith(b"Internal Server Error")
