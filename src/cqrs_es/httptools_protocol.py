"""uvicorn's httptools (llhttp) HTTP/1.1 protocol with a limit on the size of a request head.

llhttp parses without buffering whole lines, so nothing bounds the request line and headers of
a request: a client could send headers that never end, and httptools would keep the unfinished
header in memory. `HeadLimitedHttpToolsProtocol` counts the bytes of the head being received
and, once they pass `max_head_bytes`, answers 431 Request Header Fields Too Large and closes the
connection. Everything else is uvicorn's `HttpToolsProtocol`, which costs less CPU per request
than its h11 protocol, except that a response's head and body go out in one write (see
`_HeadWithBody`).

What counts: the bytes from the end of the previous request (or the connection's start) to the
blank line that ends the head, included. Bodies are not counted, and the count starts again with
each request of a keep-alive or pipelined connection. To know where a head starts when several
requests share one read, the data is handed to the parser in pieces cut where a head ends (at its
CRLF CRLF: llhttp accepts no other line end), where a `Content-Length` body ends and, in a
chunked body, after each CRLF CRLF (the last chunk ends with one; the parser tells whether it
was the end).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from cqrs_es.server_limits import MAX_HEADER_BYTES

__all__ = ["HeadLimitedHttpToolsProtocol"]

_CRLF_CRLF = b"\r\n\r\n"
# `_body_left` when no body is being received: the next bytes are a head (or the gap before it).
_EXPECTING_HEAD = -1
# `_body_left` in a body whose end only the parser finds (chunked).
_UNTIL_PARSED = -2
_REFUSAL = b"Request header fields too large"


class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering 431 to a request head over `max_head_bytes`."""

    max_head_bytes = MAX_HEADER_BYTES

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0  # of the unfinished head, received in earlier reads
        self._tail = b""  # last 3 bytes of a head or chunked body: a CRLF CRLF may span reads
        self._body_left = _EXPECTING_HEAD  # else bytes of a Content-Length body, or _UNTIL_PARSED
        self._refusing = False  # a head was too large: 431 once earlier requests are answered

    def data_received(self, data: bytes) -> None:
        """Count the head bytes in `data`, refuse an oversized head, hand the rest to llhttp."""
        if self._refusing:
            return
        start = 0
        size = len(data)
        view: memoryview | None = None
        while True:
            body_left = self._body_left
            if body_left > 0:
                stop = min(start + body_left, size)
            else:
                # A head, or a chunked body: both end with CRLF CRLF.
                end = self._crlf_crlf_end(data, start)
                expecting_head = body_left == _EXPECTING_HEAD
                if end < 0:
                    if expecting_head:
                        head_bytes = self._head_bytes + size - start
                        if head_bytes > self.max_head_bytes:
                            self._refuse_head()
                            return
                        self._head_bytes = head_bytes
                    if size - start >= 3:
                        self._tail = data[-3:]
                    else:
                        self._tail = (self._tail + data[start:])[-3:]
                    stop = size
                else:
                    if expecting_head and self._head_bytes + end - start > self.max_head_bytes:
                        self._refuse_head()
                        return
                    self._head_bytes = 0
                    self._tail = b""
                    stop = end
            if start == 0 and stop == size:
                super().data_received(data)
                return
            if view is None:
                view = memoryview(data)
            super().data_received(view[start:stop])  # type: ignore[arg-type]
            if stop == size:
                return
            # Refused (400) or upgraded: uvicorn drops the rest of the read too.
            if self.transport.is_closing() or self.parser.should_upgrade():
                return
            start = stop

    def _crlf_crlf_end(self, data: bytes, start: int) -> int:
        """The index in `data` just after the first CRLF CRLF from `start`, or -1."""
        tail = self._tail
        if tail:
            found = (tail + data[start : start + 3]).find(_CRLF_CRLF)
            if found >= 0:
                return start + found + len(_CRLF_CRLF) - len(tail)
        found = data.find(_CRLF_CRLF, start)
        return -1 if found < 0 else found + len(_CRLF_CRLF)

    def _refuse_head(self) -> None:
        self.logger.warning(
            "Request head over %d bytes: answered 431 and closed the connection.",
            self.max_head_bytes,
        )
        self._refusing = True
        if self.cycle is None or self.cycle.response_complete:
            self._answer_431()
        else:
            # Pipelined requests before this one are answered first (see on_response_complete);
            # what the client sends meanwhile is dropped.
            self.flow.pause_reading()

    def _answer_431(self) -> None:
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\n" % len(_REFUSAL),
                b"connection: close\r\n",
                b"\r\n",
                _REFUSAL,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def on_response_complete(self) -> None:
        """After the last response before a refused head, answer 431."""
        super().on_response_complete()
        if self._refusing and self.cycle.response_complete and not self.transport.is_closing():
            self._answer_431()

    # Parser callbacks: where bodies end, so that the head of the next request is found.
    def on_headers_complete(self) -> None:
        """Note how the body (if any) ends, then let uvicorn start the request."""
        self._head_bytes = 0
        self._tail = b""
        body_left = _UNTIL_PARSED
        for name, value in self.headers:
            if name == b"content-length":  # llhttp refused duplicates and non-digits
                body_left = int(value)
                break
        self._body_left = body_left
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a new request (not an upgrade, which keeps the old)
            self.cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        """Count down a Content-Length body."""
        if self._body_left > 0:
            self._body_left -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The next bytes are the head of another request."""
        self._body_left = _EXPECTING_HEAD
        super().on_message_complete()


class _HeadWithBody:
    """The connection's transport as one request's response sees it: the head and the body of
    the response leave in one write.

    uvicorn writes a response's head (on `http.response.start`) and its body (on
    `http.response.body`) separately: two `send` system calls and two TCP segments for one small
    JSON answer, with the peer woken twice. The first write of a response is held here and goes
    out with the next one, joined (`writelines`); if no second write comes in the same turn of
    the event loop (a body streamed later, a 100 Continue), it goes out alone at the end of that
    turn, so nothing waits longer than the task that wrote it runs.
    """

    __slots__ = ("_held", "_loop", "_transport", "_written")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._written = False

    def write(self, data: bytes) -> None:
        """Hold the response's first write; send it with the next one (see the class)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif self._written:
            self._transport.write(data)
        else:
            self._written = True
            self._held = data
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        """Send what is held, then close."""
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
