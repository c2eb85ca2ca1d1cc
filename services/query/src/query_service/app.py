"""The query service's FastAPI application: REST over the read model, under `/query`.

`create_app(settings)` builds everything; nothing is created at import time. The engine is created
here (it does not connect until the first request) and disposed when the app shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import telemetry
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from read_model import create_engine_for

from query_service.graphql import mount_graphql
from query_service.problems import Problem, install_problem_handlers
from query_service.routers import group_chats, health, members, messages
from query_service.settings import Settings

BASE_PATH = "/query"


def _version() -> str:
    try:
        return version("query-service")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with request-validation errors documented as what they are: 400s.

    FastAPI documents a 422 `HTTPValidationError` for every operation with parameters; this
    service answers those errors with a 400 problem document instead, which every operation
    already documents.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    app.openapi_schema = document
    return document


def create_app(settings: Settings | None = None) -> FastAPI:
    """The query service for `settings` (default: read from the environment)."""
    settings = settings or Settings()
    telemetry.configure("query-service")
    engine = create_engine_for(settings.read_model_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="cqrs-es query service",
        description=(
            "Reads of the group-chat read model. The caller is `userAccountId`: a group chat is "
            "visible only to its current members; deleted chats, removed members and deleted "
            "messages are invisible. Errors are `application/problem+json` (RFC 9457)."
        ),
        version=_version(),
        openapi_url=f"{BASE_PATH}/openapi.json",
        docs_url=f"{BASE_PATH}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_problem_handlers(app)
    app.add_middleware(telemetry.AccessLogMiddleware)
    telemetry.instrument_fastapi(app)
    app.include_router(health.create_router())
    app.include_router(group_chats.create_router())
    app.include_router(members.create_router())
    app.include_router(messages.create_router(settings))
    mount_graphql(app)  # strawberry is imported on the first GraphQL request, not here
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
