"""``configure`` and the helpers that act on the pipeline it installs.

Nothing here imports OpenTelemetry at module level: with tracing off, ``configure`` and the
helpers never import the SDK or the exporters, and the API only when a tracer or context object
is actually asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from telemetry._logging import configure_logging
from telemetry._settings import TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, Tracer, TracerProvider
    from opentelemetry.util.types import Attributes

    from telemetry._sdk import Pipeline

__all__ = [
    "Telemetry",
    "configure",
    "extract_context",
    "flush",
    "get_tracer",
    "inject_context",
    "instrument_fastapi",
    "link_from",
    "shutdown",
    "tracing_enabled",
]

DEFAULT_FLUSH_TIMEOUT_MILLIS = 5000

_lock = threading.Lock()
_pipeline: Pipeline | None = None
_delegating_provider: TracerProvider | None = None


def _current_sdk_provider() -> TracerProvider | None:
    pipeline = _pipeline
    return None if pipeline is None else pipeline.provider


def _provider() -> TracerProvider:
    """The process-wide delegating provider (imports the OpenTelemetry API on first use)."""
    global _delegating_provider
    if _delegating_provider is None:
        from telemetry._proxy import DelegatingTracerProvider

        _delegating_provider = DelegatingTracerProvider(_current_sdk_provider)
    return _delegating_provider


@dataclass(frozen=True)
class Telemetry:
    """What ``configure`` set up; keep it to flush or shut down that pipeline."""

    service_name: str
    settings: TelemetrySettings
    _pipeline: Pipeline | None = field(default=None, repr=False)

    @property
    def tracing_enabled(self) -> bool:
        """Whether this configuration records and exports spans."""
        return self._pipeline is not None

    def flush(self, timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
        """Export buffered spans, waiting at most ``timeout_millis``; true if all went out."""
        if self._pipeline is None:
            return True
        return bool(self._pipeline.provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        """Flush and stop this pipeline's exporters (also done automatically at exit)."""
        if self._pipeline is not None:
            self._pipeline.provider.shutdown()


def configure(service_name: str, settings: TelemetrySettings | None = None) -> Telemetry:
    """Set up JSON logging and, when enabled, tracing for this process.

    ``settings`` default to :meth:`TelemetrySettings.from_env`. ``OTEL_SERVICE_NAME`` (or
    ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) overrides ``service_name``.

    Call it once per process at start-up (the services do it in ``create_app``). The settings
    are process-wide: one service name for all spans and log lines. Calling it again replaces the
    previous configuration: its pipeline is flushed and shut down, and tracers already handed out
    by :func:`get_tracer` switch to the new one. Raises :class:`TelemetryConfigError` for
    invalid settings or when tracing is enabled without the ``otel`` extra installed.
    """
    global _pipeline
    if settings is None:
        settings = TelemetrySettings.from_env()
    name = settings.resolve_service_name(service_name)
    configure_logging(name, settings.log_level)

    pipeline: Pipeline | None = None
    if settings.tracing_enabled:
        from telemetry import _sdk  # the SDK is imported only from here on

        pipeline = _sdk.build_pipeline(name, settings)
        _sdk.install_globals(pipeline, _provider())
    with _lock:
        previous, _pipeline = _pipeline, pipeline
    if previous is not None:
        previous.provider.shutdown()
    return Telemetry(name, settings, pipeline)


def shutdown() -> None:
    """Flush and stop tracing (tracers become no-ops); JSON logging stays as configured.

    Not needed at normal process exit, where the SDK flushes by itself.
    """
    global _pipeline
    with _lock:
        previous, _pipeline = _pipeline, None
    if previous is not None:
        previous.provider.shutdown()


def tracing_enabled() -> bool:
    """Whether the current configuration records and exports spans."""
    return _pipeline is not None


def get_tracer(name: str) -> Tracer:
    """A tracer for ``name`` (usually ``__name__``).

    Safe to call at import time, before :func:`configure`: the tracer follows whatever
    configuration is current when a span starts, and is the API's no-op tracer while tracing is
    off.
    """
    return _provider().get_tracer(name)


def flush(timeout_millis: int = DEFAULT_FLUSH_TIMEOUT_MILLIS) -> bool:
    """Export buffered spans now, waiting at most ``timeout_millis``.

    Call it at the end of every Lambda invocation: the function is frozen between invocations,
    so the batch processor's background thread cannot be relied on. A no-op (returning true)
    when tracing is off.
    """
    pipeline = _pipeline
    if pipeline is None:
        return True
    return bool(pipeline.provider.force_flush(timeout_millis))


_App = TypeVar("_App")


def instrument_fastapi(app: _App) -> _App:
    """Add OpenTelemetry's FastAPI instrumentation (server spans) to ``app`` when tracing is on.

    Incoming ``traceparent`` / ``X-Amzn-Trace-Id`` headers are continued according to
    ``OTEL_PROPAGATORS``; ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` excludes paths (health checks).
    Returns ``app`` unchanged, without importing anything, when tracing is off.
    """
    if _pipeline is None:
        return app
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One span per request: the per-message "http send" / "http receive" spans add cost (each is
    # stored and billed by X-Ray) without telling anything the server span does not.
    FastAPIInstrumentor.instrument_app(
        app,  # type: ignore[arg-type]
        tracer_provider=_provider(),
        exclude_spans=["receive", "send"],
    )
    return app


def inject_context() -> dict[str, str]:
    """The current trace context as a carrier dict, to store in an event's metadata.

    Always both formats (``traceparent`` and ``X-Amzn-Trace-Id``), whatever
    ``OTEL_PROPAGATORS`` says, because the metadata outlives this process's configuration.
    Empty when tracing is off or no span is current.
    """
    pipeline = _pipeline
    if pipeline is None:
        return {}
    carrier: dict[str, str] = {}
    pipeline.metadata_propagator.inject(carrier)
    return carrier


def extract_context(metadata: Mapping[str, str]) -> Context:
    """The trace context stored by :func:`inject_context` (keys matched case-insensitively).

    Use it as ``context=`` of a span that should be a child of the stored one: the read-model
    updater does so for the span that projects an event, so a command is one trace from the
    request to its projection. :func:`link_from` relates a span without joining the trace.
    """
    pipeline = _pipeline
    if pipeline is None:
        from opentelemetry.context import Context

        return Context()
    from telemetry._sdk import CASE_INSENSITIVE_GETTER

    return pipeline.metadata_propagator.extract(metadata, getter=CASE_INSENSITIVE_GETTER)


def link_from(metadata: Mapping[str, Any], attributes: Attributes = None) -> list[Link]:
    """Span links to the trace stored in ``metadata`` (empty if there is none or tracing is off).

    For ``links=`` of a span that should point at the stored trace without joining it (e.g. a
    batch span covering events of many commands).
    """
    if _pipeline is None:
        return []
    carrier = {k: v for k, v in metadata.items() if isinstance(v, str)}
    from opentelemetry import trace

    span_context = trace.get_current_span(extract_context(carrier)).get_span_context()
    if not span_context.is_valid:
        return []
    return [trace.Link(span_context, attributes)]
