"""AWS Lambda entry point of the query service: API Gateway HTTP API events (payload 2.0).

The image's CMD is `query_service.lambda_handler.handler`. Two ways through, both built once per
execution environment and reused by every later invocation (`http_kit.aws_lambda.HttpApiHandler`:
stage stripping, span flush, no lifespan, so the connection pool lives as long as the
environment):

- the REST reads and the health checks take a fast path without FastAPI, Starlette, Mangum or
  pydantic (`query_service.lambda_rest`), built on the first invocation: settings, telemetry,
  the engine and the authenticator;
- everything else (GraphQL, the OpenAPI document and docs, unknown paths) goes to the FastAPI
  app, built on the first such request, over the fast path's engine.

Both answer alike: they share `query_service.rest`, and a test sends the same requests through
both. Importing this module is cheap on purpose: the fast path's libraries (SQLAlchemy, the
PostgreSQL driver, OpenTelemetry) are imported on the first invocation. A failed build (a bad
`READ_MODEL_URL`, say) is not cached: the next invocation tries again.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from http_kit.aws_lambda import HttpApiHandler

if TYPE_CHECKING:
    from http_kit.lambda_http import FastPath

    from query_service.lambda_rest import Runtime

__all__ = ["handler"]

_runtime: Runtime | None = None
_lock = threading.Lock()


def _shared_runtime() -> Runtime:
    """The environment's settings, engine and authenticator, created on first use."""
    global _runtime
    with _lock:
        if _runtime is None:
            from query_service.lambda_rest import Runtime

            _runtime = Runtime.from_env()
        return _runtime


def _build_fast_path() -> FastPath:
    from query_service.lambda_rest import build_fast_path

    return build_fast_path(_shared_runtime())


def _build_app() -> Any:
    from query_service.app import create_app

    runtime = _shared_runtime()
    return create_app(runtime.settings, engine=runtime.engine)


def reset() -> None:
    """Forget what was built, as a fresh execution environment would (tests)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.engine.dispose()
        _runtime = None
    handler.reset()


handler = HttpApiHandler(_build_app, fast_path=_build_fast_path)
"""Serve one API Gateway HTTP API (payload format 2.0) request with the query service."""
