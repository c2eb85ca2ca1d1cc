"""Telemetry settings, read once from the standard OpenTelemetry environment variables.

A plain dataclass rather than pydantic-settings: this module is imported by every process at
start-up (including Lambda cold starts), so it stays dependency-free and cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["KNOWN_EXPORTERS", "KNOWN_PROPAGATORS", "TelemetryConfigError", "TelemetrySettings"]

#: Values accepted in ``OTEL_TRACES_EXPORTER``.
KNOWN_EXPORTERS = frozenset({"otlp", "console", "none"})
#: Values accepted in ``OTEL_PROPAGATORS``.
KNOWN_PROPAGATORS = frozenset({"tracecontext", "baggage", "xray", "xray-lambda", "none"})

DEFAULT_PROPAGATORS: tuple[str, ...] = ("tracecontext", "xray")
DEFAULT_OTLP_TRACES_ENDPOINT = "http://localhost:4318/v1/traces"
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})

# The X-Ray OTLP endpoint (https://xray.<region>.amazonaws.com/v1/traces) only accepts
# SigV4-signed requests; the region in the host name is the signing region.
_XRAY_ENDPOINT = re.compile(
    r"^https://xray\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::443)?(?:/|$)"
)


class TelemetryConfigError(ValueError):
    """The telemetry configuration (environment or settings) is invalid or cannot be honoured."""


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in value.split(",") if item.strip())


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise TelemetryConfigError(f"{name} must be true or false, got {value!r}")


def parse_resource_attributes(value: str) -> dict[str, str]:
    """Parse ``OTEL_RESOURCE_ATTRIBUTES`` (``key1=value1,key2=value2``, values percent-encoded)."""
    attributes: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TelemetryConfigError(
                f"OTEL_RESOURCE_ATTRIBUTES entries must look like key=value, got {item.strip()!r}"
            )
        attributes[key.strip()] = unquote(raw.strip())
    return attributes


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """How a process records traces and writes logs.

    Build it with :meth:`from_env` (what the services do) or directly in tests. Tracing is
    **off** unless an exporter is asked for, either explicitly (``OTEL_TRACES_EXPORTER``) or
    implicitly by configuring an OTLP endpoint: a laptop run without a collector therefore pays
    nothing for tracing (the OpenTelemetry SDK is not even imported).
    """

    #: ``OTEL_SDK_DISABLED``: true turns all tracing off, whatever else is set.
    sdk_disabled: bool = False
    #: ``OTEL_TRACES_EXPORTER`` as a tuple (``otlp``, ``console``, ``none``); ``None`` = not set.
    traces_exporter: tuple[str, ...] | None = None
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT``: base URL, ``/v1/traces`` is appended.
    otlp_endpoint: str | None = None
    #: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: full URL of the traces endpoint, used as is.
    otlp_traces_endpoint: str | None = None
    #: ``OTEL_SERVICE_NAME``: overrides the name the process passes to ``configure``.
    service_name: str | None = None
    #: ``OTEL_RESOURCE_ATTRIBUTES`` parsed (``service.name`` in it also overrides the name).
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    #: ``OTEL_PROPAGATORS``: how trace context travels in HTTP headers.
    propagators: tuple[str, ...] = DEFAULT_PROPAGATORS
    #: ``LOG_LEVEL``: level of the root logger.
    log_level: str = "INFO"
    #: ``TELEMETRY_SIGV4_REGION``: sign OTLP requests with AWS SigV4 for this region even when
    #: the endpoint is not ``xray.<region>.amazonaws.com`` (for example a VPC endpoint).
    sigv4_region: str | None = None

    def __post_init__(self) -> None:
        if self.traces_exporter is not None:
            unknown = set(self.traces_exporter) - KNOWN_EXPORTERS
            if unknown:
                raise TelemetryConfigError(
                    f"OTEL_TRACES_EXPORTER: unsupported exporter(s) {sorted(unknown)}; "
                    f"use one of {sorted(KNOWN_EXPORTERS)}"
                )
        unknown = set(self.propagators) - KNOWN_PROPAGATORS
        if unknown:
            raise TelemetryConfigError(
                f"OTEL_PROPAGATORS: unsupported propagator(s) {sorted(unknown)}; "
                f"use any of {sorted(KNOWN_PROPAGATORS)}"
            )
        level = self.log_level.strip().upper()
        if level not in _LOG_LEVELS:
            raise TelemetryConfigError(
                f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}"
            )
        object.__setattr__(self, "log_level", level)
        for name, url in (
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.otlp_endpoint),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", self.otlp_traces_endpoint),
        ):
            if url is not None and not url.startswith(("http://", "https://")):
                raise TelemetryConfigError(f"{name} must be an http(s) URL, got {url!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelemetrySettings:
        """Read the settings from ``environ`` (default: ``os.environ``).

        Empty values count as unset, as the OpenTelemetry specification asks.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol is not None and protocol != "http/protobuf":
            raise TelemetryConfigError(
                f"OTLP protocol {protocol!r} is not supported; only http/protobuf is"
            )
        exporter = get("OTEL_TRACES_EXPORTER")
        propagators = get("OTEL_PROPAGATORS")
        return cls(
            sdk_disabled=_parse_bool("OTEL_SDK_DISABLED", get("OTEL_SDK_DISABLED") or "false"),
            traces_exporter=_split_list(exporter) if exporter is not None else None,
            otlp_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            otlp_traces_endpoint=get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            service_name=get("OTEL_SERVICE_NAME"),
            resource_attributes=parse_resource_attributes(get("OTEL_RESOURCE_ATTRIBUTES") or ""),
            propagators=_split_list(propagators) if propagators else DEFAULT_PROPAGATORS,
            log_level=get("LOG_LEVEL") or "INFO",
            sigv4_region=get("TELEMETRY_SIGV4_REGION"),
        )

    @property
    def exporters(self) -> tuple[str, ...]:
        """The span exporters that will actually run (empty when tracing is off)."""
        if self.sdk_disabled:
            return ()
        if self.traces_exporter is None:
            return ("otlp",) if self.otlp_endpoint or self.otlp_traces_endpoint else ()
        return tuple(dict.fromkeys(e for e in self.traces_exporter if e != "none"))

    @property
    def tracing_enabled(self) -> bool:
        """Whether spans are recorded and exported at all."""
        return bool(self.exporters)

    @property
    def traces_endpoint(self) -> str:
        """The URL OTLP spans are posted to (the specification's resolution rules)."""
        if self.otlp_traces_endpoint:
            return self.otlp_traces_endpoint
        if self.otlp_endpoint:
            return self.otlp_endpoint.rstrip("/") + "/v1/traces"
        return DEFAULT_OTLP_TRACES_ENDPOINT

    @property
    def signing_region(self) -> str | None:
        """The AWS region OTLP requests are SigV4-signed for, or ``None`` to send them unsigned."""
        if self.sigv4_region:
            return self.sigv4_region
        match = _XRAY_ENDPOINT.match(self.traces_endpoint)
        return match.group("region") if match else None

    def resolve_service_name(self, default: str) -> str:
        """The service name: ``OTEL_SERVICE_NAME``, else ``service.name`` in
        ``OTEL_RESOURCE_ATTRIBUTES``, else ``default``."""
        return self.service_name or self.resource_attributes.get("service.name") or default
