"""The tracing pipeline: imported only when tracing is enabled (it pulls in the SDK)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telemetry._settings import TelemetryConfigError, TelemetrySettings

try:
    from opentelemetry import propagate, trace
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.propagators.aws.aws_xray_propagator import AwsXRayLambdaPropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.propagators.textmap import Getter, TextMapPropagator
    from opentelemetry.sdk.extension.aws.resource._lambda import AwsLambdaResourceDetector
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise TelemetryConfigError(
        "tracing is enabled but the OpenTelemetry SDK is not installed; "
        f"depend on telemetry[otel] ({exc})"
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator


class CaseInsensitiveGetter(Getter[Mapping[str, str]]):
    """Reads carriers whose keys may have been re-cased on the way (``x-amzn-trace-id``)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            value = next((v for k, v in carrier.items() if k.lower() == lowered), None)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


CASE_INSENSITIVE_GETTER = CaseInsensitiveGetter()


def _baggage() -> W3CBaggagePropagator:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    return W3CBaggagePropagator()


_HTTP_PROPAGATORS = {
    "tracecontext": TraceContextTextMapPropagator,
    "baggage": _baggage,
    "xray": AwsXRayPropagator,
    "xray-lambda": AwsXRayLambdaPropagator,
}


def http_propagator(names: tuple[str, ...]) -> TextMapPropagator:
    """The propagator for HTTP headers, from ``OTEL_PROPAGATORS`` names (later ones win)."""
    return CompositePropagator([_HTTP_PROPAGATORS[name]() for name in names if name != "none"])


def metadata_propagator() -> TextMapPropagator:
    """The fixed propagator for event metadata: both formats, whatever ``OTEL_PROPAGATORS`` says.

    Event metadata is stored for good and read by another process, possibly deployed with other
    settings, so its format must not depend on configuration. On extraction the W3C
    ``traceparent`` (listed last) wins; both carry the same ids anyway.
    """
    return CompositePropagator([AwsXRayPropagator(), TraceContextTextMapPropagator()])


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The SDK objects of one ``configure`` call."""

    provider: TracerProvider
    http_propagator: TextMapPropagator
    metadata_propagator: TextMapPropagator


def _otlp_exporter(settings: TelemetrySettings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    region = settings.signing_region
    session = None
    if region is not None:
        from telemetry._sigv4 import sigv4_session

        session = sigv4_session(region, service="xray")
    # Headers, timeout and compression still come from the standard OTEL_EXPORTER_OTLP_* vars.
    return OTLPSpanExporter(endpoint=settings.traces_endpoint, session=session)


def build_pipeline(service_name: str, settings: TelemetrySettings) -> Pipeline:
    """Build (but do not install) the provider, exporters and propagators for ``settings``."""
    # Our attributes win over what Resource.create reads from the environment itself, so explicit
    # settings passed to ``configure`` are honoured.
    resource = Resource.create({**settings.resource_attributes, "service.name": service_name})
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        resource = AwsLambdaResourceDetector().detect().merge(resource)
    # Sampling follows OTEL_TRACES_SAMPLER (default: parent-based always-on), read by the SDK.
    provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
    try:
        for name in settings.exporters:
            if name == "otlp":
                provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
            elif name == "console":
                # Standard error, so standard output stays pure JSON log lines.
                provider.add_span_processor(
                    SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr))
                )
    except BaseException:
        provider.shutdown()
        raise
    return Pipeline(provider, http_propagator(settings.propagators), metadata_propagator())


def install_globals(pipeline: Pipeline, global_provider: trace.TracerProvider) -> None:
    """Make third-party instrumentation use this pipeline's propagator and our provider."""
    propagate.set_global_textmap(pipeline.http_propagator)
    # The global provider can be set once per process; ours delegates to whichever pipeline is
    # current, so setting it the first time is enough. A provider someone else installed first
    # (an auto-instrumentation layer, say) is left in place.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(global_provider)
