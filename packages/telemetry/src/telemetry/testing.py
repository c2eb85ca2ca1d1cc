"""Test support: an in-process OTLP/HTTP trace receiver.

Any package's tests (including end-to-end tests that start the services as real processes) can
point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at :attr:`OtlpReceiver.endpoint` and assert on the spans
that arrive::

    with OtlpReceiver() as receiver:
        telemetry.configure("svc", TelemetrySettings(otlp_endpoint=receiver.endpoint))
        ...
        telemetry.flush()
        span = receiver.wait_for(lambda s: s.name == "GET /health")

Needs the ``otel`` extra (for ``opentelemetry-proto``); the main package never imports this module.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

import telemetry
from telemetry._logging import _JsonHandler
from telemetry._settings import TelemetrySettings

__all__ = [
    "OtlpReceiver",
    "ReceivedLink",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_spans",
    "reset_telemetry",
    "tracing_to_receiver",
]

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True, slots=True)
class ReceivedLink:
    """A span link as received: the linked span's ids (lower-case hex) and the link attributes."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as received, decoded into plain Python values (ids as lower-case hex)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER
    attributes: Mapping[str, Any]
    links: tuple[ReceivedLink, ...]
    status_code: str  # UNSET, OK, ERROR
    status_message: str
    events: tuple[str, ...]
    service_name: str | None
    resource_attributes: Mapping[str, Any]
    scope_name: str
    start_time_unix_nano: int
    end_time_unix_nano: int


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One export request: its path, headers (names lower-cased) and decompressed body."""

    path: str
    headers: Mapping[str, str]
    body: bytes


def reset_telemetry() -> None:
    """Undo ``telemetry.configure`` between tests: stop tracing, remove the JSON log handler."""
    telemetry.shutdown()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JsonHandler):
            root.removeHandler(handler)
            handler.close()


@contextmanager
def tracing_to_receiver(service_name: str) -> Iterator[OtlpReceiver]:
    """Tracing on for ``service_name``, exporting to a new :class:`OtlpReceiver` (yielded);
    ``reset_telemetry`` afterwards, while the receiver still listens."""
    with OtlpReceiver() as receiver:
        telemetry.configure(service_name, TelemetrySettings(otlp_endpoint=receiver.endpoint))
        try:
            yield receiver
        finally:
            reset_telemetry()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(values: Sequence[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in values}


def _span(span: Span, resource: Mapping[str, Any], scope_name: str) -> ReceivedSpan:
    service_name = resource.get("service.name")
    return ReceivedSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
        attributes=_attributes(span.attributes),
        links=tuple(
            ReceivedLink(link.trace_id.hex(), link.span_id.hex(), _attributes(link.attributes))
            for link in span.links
        ),
        status_code=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
        status_message=span.status.message,
        events=tuple(event.name for event in span.events),
        service_name=service_name if isinstance(service_name, str) else None,
        resource_attributes=resource,
        scope_name=scope_name,
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
    )


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """Decode a protobuf ``ExportTraceServiceRequest`` into :class:`ReceivedSpan` objects."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            spans.extend(_span(s, resource, scope_spans.scope.name) for s in scope_spans.spans)
    return spans


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in ("", "identity"):
        return body
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class OtlpReceiver:
    """An OTLP/HTTP (protobuf) trace receiver on a free loopback port, served from a thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`). Thread-safe: spans may
    arrive from exporter threads of this process or from other processes.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._requests: list[ReceivedRequest] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        """Start serving (idempotent)."""
        if self._server is None:
            self._server = ThreadingHTTPServer(self._address, self._handler_class())
            self._server.daemon_threads = True
            # A short poll interval keeps stop() quick.
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="otlp-receiver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None
            self._thread = None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where to send ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Base URL, for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def traces_endpoint(self) -> str:
        """Full traces URL, for ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``."""
        return self.endpoint + TRACES_PATH

    # -- what arrived -------------------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        """A snapshot of every span received so far, in arrival order."""
        with self._changed:
            return list(self._spans)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every export request received so far (any path)."""
        with self._changed:
            return list(self._requests)

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._changed:
            self._spans.clear()
            self._requests.clear()

    def wait_until(
        self, condition: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Wait until ``condition(spans)`` holds; return the spans then. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(list(self._spans)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = [s.name for s in self._spans]
                    raise TimeoutError(
                        f"condition not met within {timeout}s; received spans: {names}"
                    )
                self._changed.wait(remaining)
            return list(self._spans)

    def wait_for(
        self, predicate: Callable[[ReceivedSpan], bool], timeout: float = 10.0
    ) -> ReceivedSpan:
        """Wait for a span matching ``predicate`` and return the first one. Raises TimeoutError."""
        spans = self.wait_until(lambda spans: any(predicate(s) for s in spans), timeout)
        return next(s for s in spans if predicate(s))

    # -- serving ------------------------------------------------------------------------------

    def _record(self, request: ReceivedRequest, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._requests.append(request)
            self._spans.extend(spans)
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = _decompress(raw, headers.get("content-encoding", "").lower())
                except (ValueError, OSError, zlib.error) as exc:
                    self._reply(400, str(exc).encode(), "text/plain")
                    return
                path = self.path.split("?", 1)[0]
                if path != TRACES_PATH:
                    receiver._record(ReceivedRequest(path, headers, body), [])
                    self._reply(404, b"not found", "text/plain")
                    return
                if headers.get("content-type", "").split(";")[0] != "application/x-protobuf":
                    receiver._record(ReceivedRequest(path, headers, body), [])
                    self._reply(415, b"only application/x-protobuf is supported", "text/plain")
                    return
                try:
                    spans = decode_spans(body)
                except Exception as exc:  # any decoding failure is the client's fault
                    self._reply(400, f"undecodable request: {exc}".encode(), "text/plain")
                    return
                receiver._record(ReceivedRequest(path, headers, body), spans)
                response = ExportTraceServiceResponse().SerializeToString()
                self._reply(200, response, "application/x-protobuf")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
