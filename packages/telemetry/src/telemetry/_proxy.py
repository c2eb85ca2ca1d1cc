"""A tracer provider that always follows the pipeline ``telemetry.configure`` installed last.

OpenTelemetry lets a process set its global tracer provider only once, and instrumentations
capture tracers early (at import or app build time). Handing out these delegating objects instead
of the SDK provider means a tracer obtained before ``configure`` still records once tracing is on,
and tests can configure several pipelines in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace

try:
    # What the API's own ProxyTracer uses, so the result also decorates async functions.
    from opentelemetry.util._decorator import _agnosticcontextmanager
except ImportError:  # pragma: no cover - older opentelemetry-api
    from contextlib import contextmanager as _agnosticcontextmanager  # type: ignore[assignment]

ProviderSource = Callable[[], "trace.TracerProvider | None"]

_NOOP_TRACER = trace.NoOpTracer()


class DelegatingTracer(trace.Tracer):
    """Forwards to the current pipeline's tracer, or to a no-op tracer while tracing is off."""

    def __init__(
        self,
        source: ProviderSource,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> None:
        self._source = source
        self._args = (name, version, schema_url, attributes)
        self._cached: tuple[trace.TracerProvider | None, trace.Tracer] = (None, _NOOP_TRACER)

    @property
    def _tracer(self) -> trace.Tracer:
        provider = self._source()
        cached_provider, tracer = self._cached
        if provider is cached_provider:
            return tracer
        tracer = _NOOP_TRACER if provider is None else provider.get_tracer(*self._args)
        self._cached = (provider, tracer)
        return tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer.start_span(*args, **kwargs)

    @_agnosticcontextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:
        with self._tracer.start_as_current_span(*args, **kwargs) as span:
            yield span


class DelegatingTracerProvider(trace.TracerProvider):
    """Hands out :class:`DelegatingTracer` objects bound to ``source``."""

    def __init__(self, source: ProviderSource) -> None:
        self._source = source

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return DelegatingTracer(
            self._source,
            instrumenting_module_name,
            instrumenting_library_version,
            schema_url,
            attributes,
        )
