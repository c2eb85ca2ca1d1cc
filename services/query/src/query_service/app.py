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
from auth import AuthSettings
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from http_kit.fast_path_app import FastPathApp
from http_kit.limits import BodySizeLimitMiddleware
from read_model import create_engine_for
from sqlalchemy import Engine

from query_service.authentication import (
    AuthenticationMiddleware,
    authenticator_for,
    protection_for,
    refusal_renderer,
)
from query_service.graphql import GRAPHQL_PATH, mount_graphql
from query_service.lambda_rest import Runtime, build_fast_path
from query_service.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers
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
    already documents. With authentication on, the reads document the bearer scheme, 401 and
    403.
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
    if app.state.authenticator.enabled:
        _document_bearer_auth(document)
    app.openapi_schema = document
    return document


def _document_bearer_auth(document: dict[str, Any]) -> None:
    document["components"].setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT whose `sub` is the caller's user account id (`userAccountId`).",
    }
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    descriptions = {
        "401": "No acceptable bearer token (`unauthorized`): see `WWW-Authenticate`.",
        "403": "`userAccountId` is not the authenticated caller (`forbidden`).",
    }
    for path, path_item in document.get("paths", {}).items():
        if "healthcheck" in path:
            continue
        for operation in path_item.values():
            operation["security"] = [{"bearerAuth": []}]
            for status, description in descriptions.items():
                operation["responses"][status] = {"description": description, "content": problem}


def create_app(
    settings: Settings | None = None,
    *,
    auth: AuthSettings | None = None,
    engine: Engine | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """The query service for `settings` (default: read from the environment).

    `auth` defaults to `AuthSettings.from_env()` (`AUTH_MODE`, …; see
    `query_service.authentication`). `engine` is the read model's engine when it already exists
    (the Lambda handler shares its fast path's); its owner disposes of it. By default the app
    creates one for `settings.read_model_url` and disposes of it when it shuts down.

    The REST endpoints are served by `http_kit.asgi_fast_path.FastPathMiddleware` on the
    framework-free endpoints of `query_service.lambda_rest` (the Lambda handler's), in front of
    the FastAPI routes, which then document them (OpenAPI) and serve nothing else; the answers
    are the same (parity tests), at a fraction of the CPU. With tracing off the middleware runs
    before FastAPI's own layers (`http_kit.fast_path_app`). `fast_path=False` leaves every request
    to FastAPI (the parity tests compare the two).
    """
    settings = settings or Settings()
    authenticator = authenticator_for(auth if auth is not None else AuthSettings.from_env())
    telemetry.configure("query-service")
    owns_engine = engine is None
    engine = create_engine_for(settings.read_model_url) if engine is None else engine

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_engine:
                engine.dispose()

    app = FastPathApp(
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
    app.state.authenticator = authenticator
    install_problem_handlers(app)
    # Added innermost first. Authentication comes before the body limit, so the body of a
    # request without a caller is never read; the access log sees every response.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
    )
    app.add_middleware(
        AuthenticationMiddleware,
        authenticator=authenticator,
        protection=protection_for(GRAPHQL_PATH),
        render=refusal_renderer(GRAPHQL_PATH),
    )
    app.add_middleware(telemetry.AccessLogMiddleware)
    if fast_path:
        verifier = authenticator.verifier
        app.serve_fast_path(
            fast_path=build_fast_path(Runtime(settings, engine, authenticator)),
            body_timeout_seconds=settings.body_timeout_seconds,
            guard_blocks=verifier is not None and verifier.fetches_keys,
        )
    telemetry.instrument_fastapi(app)
    app.include_router(health.create_router())
    app.include_router(group_chats.create_router())
    app.include_router(members.create_router())
    app.include_router(messages.create_router(settings))
    mount_graphql(app)  # strawberry is imported on the first GraphQL request, not here
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
