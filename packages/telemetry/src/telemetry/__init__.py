"""OpenTelemetry tracing and JSON logging, set up the same way by every process.

Typical use in a service's composition root::

    import telemetry

    def create_app(settings: Settings) -> FastAPI:
        telemetry.configure("command-service")          # JSON logs; tracing if OTEL_* ask for it
        app = FastAPI()
        app.add_middleware(telemetry.AccessLogMiddleware)
        telemetry.instrument_fastapi(app)
        return app

    tracer = telemetry.get_tracer(__name__)               # fine at import time

Tracing is off unless an OTLP endpoint or ``OTEL_TRACES_EXPORTER`` is configured, and while it is
off neither ``import telemetry`` nor ``configure`` imports OpenTelemetry. See the package README for
the environment variables.
"""

from telemetry._asgi import REQUEST_ID_HEADER, AccessLogMiddleware
from telemetry._core import (
    DEFAULT_FLUSH_TIMEOUT_MILLIS,
    Telemetry,
    configure,
    extract_context,
    flush,
    get_tracer,
    inject_context,
    instrument_fastapi,
    link_from,
    shutdown,
    tracing_enabled,
)
from telemetry._logging import JsonFormatter, bind_request_id, configure_logging, current_request_id
from telemetry._settings import TelemetryConfigError, TelemetrySettings

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT_MILLIS",
    "REQUEST_ID_HEADER",
    "AccessLogMiddleware",
    "JsonFormatter",
    "Telemetry",
    "TelemetryConfigError",
    "TelemetrySettings",
    "bind_request_id",
    "configure",
    "configure_logging",
    "current_request_id",
    "extract_context",
    "flush",
    "get_tracer",
    "inject_context",
    "instrument_fastapi",
    "link_from",
    "shutdown",
    "tracing_enabled",
]
