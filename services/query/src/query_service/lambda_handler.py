"""AWS Lambda entry point of the query service: API Gateway HTTP API events (payload 2.0).

The image's CMD is `query_service.lambda_handler.handler`. Importing this module is cheap on
purpose: FastAPI, the routes, SQLAlchemy, the PostgreSQL driver and OpenTelemetry are imported
and the app is built on the first invocation, once per execution environment, and reused by
every later one (`http_kit.aws_lambda.HttpApiHandler`: stage stripping, span flush, no lifespan,
so the connection pool lives as long as the execution environment). A failed build (bad
`READ_MODEL_URL`, say) is not cached: the next invocation tries again.
"""

from __future__ import annotations

from typing import Any

from http_kit.aws_lambda import HttpApiHandler

__all__ = ["handler"]


def _create_app() -> Any:
    from query_service.app import create_app
    from query_service.settings import Settings

    return create_app(Settings())


handler = HttpApiHandler(_create_app)
"""Serve one API Gateway HTTP API (payload format 2.0) request with the query service."""
