"""AWS Lambda entry point of the command service: API Gateway HTTP API events (payload 2.0).

The image's CMD is `command_service.lambda_handler.handler`. Importing this module is cheap on
purpose: nothing of the service is imported until the first invocation. Then the service's
`Runtime` (settings, telemetry, event store, `CommandHandler`, authenticator) is built, once per
execution environment, and the REST endpoints (the health check and the eight commands) are
served by `command_service.lambda_routes` without FastAPI, Starlette, Mangum or pydantic: a
cold start pays for none of them. Any other request (GraphQL, the OpenAPI document, an unknown
path) goes to the FastAPI app, built on the same runtime when the first such request comes.

`http_kit.aws_lambda.HttpApiHandler` strips the stage, flushes spans before returning and runs
no lifespan (the event store lives as long as the execution environment). A failed build (bad
`EVENT_STORE_URL`, say) is not cached: the next invocation tries again.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from http_kit.aws_lambda import HttpApiHandler

if TYPE_CHECKING:
    from http_kit.lambda_http import FastPath

    from command_service.runtime import Runtime

__all__ = ["handler", "reset"]

_lock = threading.Lock()
_runtime: Runtime | None = None


def _get_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            from command_service.runtime import build_runtime

            _runtime = build_runtime()
        return _runtime


def _build_fast_path() -> FastPath:
    from command_service.lambda_routes import build_fast_path

    return build_fast_path(_get_runtime())


def _create_app() -> Any:
    from command_service.app import create_app

    return create_app(runtime=_get_runtime())


handler = HttpApiHandler(_create_app, fast_path=_build_fast_path)
"""Serve one API Gateway HTTP API (payload format 2.0) request with the command service."""


def reset() -> None:
    """Forget everything built, as a fresh execution environment would (tests)."""
    global _runtime
    with _lock:
        _runtime = None
    handler.reset()
