"""JSON-lines logging on top of the standard library, with trace and request correlation."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any

__all__ = [
    "JsonFormatter",
    "bind_request_id",
    "configure_logging",
    "current_request_id",
]

_request_id: ContextVar[str | None] = ContextVar("telemetry_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged
# as a field of its own.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
# One encoder for every line: `json.dumps` with arguments builds a new one per call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)
_CORE_FIELDS = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "logger",
        "service",
        "trace_id",
        "span_id",
        "request_id",
        "exception",
        "stack",
    }
)


def current_request_id() -> str | None:
    """The id of the request (or Lambda invocation) being handled in this context, if any."""
    return _request_id.get()


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[None]:
    """Attach ``request_id`` to every log line written inside the ``with`` block.

    The access-log middleware does this for HTTP requests; a Lambda handler that is not behind
    it (the read-model updater) can bind ``context.aws_request_id`` the same way.
    """
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def _current_span_ids() -> tuple[str, str] | None:
    # Only look at the OpenTelemetry API if something already imported it: when tracing is off
    # nothing has, and logging must not be the thing that drags it in.
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return None
    ctx = trace_api.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object on one line.

    Fields: ``timestamp`` (ISO 8601, UTC), ``level``, ``message``, ``logger``, ``service``,
    ``trace_id`` / ``span_id`` (W3C hex, when a span is current), ``request_id`` (when bound),
    ``exception`` / ``stack`` (formatted, when present), then any ``extra=`` fields.
    """

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name
        # (second, its ISO 8601 text): every line of one second shares the text up to the
        # milliseconds, so it is formatted once a second rather than once a line.
        self._second: tuple[int, str] = (-1, "")

    def timestamp(self, record: logging.LogRecord) -> str:
        """``record.created`` in ISO 8601, UTC, milliseconds: ``2024-01-02T03:04:05.678Z``."""
        created = record.created
        second = int(created)
        cached_second, text = self._second
        if second != cached_second:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self.timestamp(record),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "service": self.service_name,
        }
        ids = _current_span_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        request_id = _request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in _CORE_FIELDS:
                entry[key] = value
        return _ENCODER.encode(entry)


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler ``configure_logging`` owns (recognised by type to stay idempotent)."""


def configure_logging(
    service_name: str, level: str | int = "INFO", *, stream: IO[str] | None = None
) -> None:
    """Send every log record, as one JSON line, to ``stream`` (default: standard output).

    Idempotent: calling it again replaces the handler it installed before instead of adding a
    second one. It also removes the AWS Lambda runtime's own root handler, which would otherwise
    write every record a second time in its own format. Other handlers (pytest's, for example)
    are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JsonHandler) or type(handler).__name__ == "LambdaLoggerHandler":
            root.removeHandler(handler)
            if isinstance(handler, _JsonHandler):
                handler.close()
    handler = _JsonHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(service_name))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
