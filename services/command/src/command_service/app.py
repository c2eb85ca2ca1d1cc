"""The command service's FastAPI application: `create_app(settings)` (no import-time globals).

    app = create_app()                    # settings from the environment, store from the URL
    app = create_app(settings, event_store=store)   # tests, or a store the caller owns
    app = create_app(runtime=runtime)     # on a `Runtime` shared with the Lambda fast path

The app keeps its objects in `app.state`: `settings`, `event_store`, `command_handler` (the
`CommandHandler` the GraphQL mutations and other entry points share) and `authenticator`
(`AUTH_MODE`; see `command_service.authentication`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import telemetry
from auth import AuthError, AuthSettings, AuthUnavailableError
from chat_domain import DomainError
from event_store import ConcurrencyError, EventStore, EventStoreUnavailableError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from http_kit.fast_path_app import FastPathApp
from starlette.exceptions import HTTPException as StarletteHTTPException

from command_service.authentication import (
    AuthenticationMiddleware,
    protection_for,
    refusal_renderer,
)
from command_service.graphql import GRAPHQL_PATH, mount_graphql
from command_service.handlers import CommandConflictError
from command_service.idempotency import IdempotencyInProgressError, IdempotencyKeyReusedError
from command_service.lambda_routes import build_fast_path
from command_service.middleware import BodySizeLimitMiddleware, UnhandledErrorMiddleware
from command_service.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    internal_error,
    problem_for,
    validation_error,
)
from command_service.rest_commands import (
    BODY_NOT_AN_OBJECT,
    BODY_REQUIRED,
    GROUP_CHATS_PREFIX,
    validation_problem,
)
from command_service.routes import group_chats_router, health_router
from command_service.runtime import SERVICE_NAME, Runtime, build_runtime, open_store
from command_service.schemas import ProblemModel
from command_service.settings import Settings

__all__ = [
    "SERVICE_NAME",
    "create_app",
    "describe_validation_errors",
    "install_problem_handlers",
    "open_store",
    "problem_response",
]

_log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    event_store: EventStore | None = None,
    auth: AuthSettings | None = None,
    runtime: Runtime | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """Build the command service: routes, error handling, middleware, telemetry.

    `settings` default to `Settings()` (the environment), `auth` to `AuthSettings.from_env()`
    (`AUTH_MODE`, …). The event store is opened here from `settings.event_store_url` and
    closed when the app shuts down, unless `event_store` is given: then the caller owns it
    (and closes it). Raises `ValueError` for a malformed `EVENT_STORE_URL` or `AUTH_*`
    setting and `EventStoreUnavailableError` when the store cannot be reached. With `runtime`
    (see `command_service.runtime`), the app serves on it as it is and the other arguments are
    ignored; it closes the store at shutdown if the runtime owns it.

    The REST endpoints are served by `http_kit.asgi_fast_path.FastPathMiddleware` on the
    framework-free endpoints of `command_service.lambda_routes` (the Lambda handler's), in front
    of the FastAPI routes, which then document them (OpenAPI) and serve nothing else; the
    answers are the same (parity tests), at a fraction of the CPU. With tracing off the
    middleware runs before FastAPI's own layers (`http_kit.fast_path_app`). `fast_path=False`
    leaves every request to FastAPI (the parity tests compare the two).
    """
    service = runtime or build_runtime(settings, event_store=event_store, auth=auth)
    settings, store = service.settings, service.event_store
    handler, authenticator = service.command_handler, service.authenticator

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    app = FastPathApp(
        title="cqrs-es command service",
        summary="Group-chat commands: every change is stored as an event.",
        version="0.1.0",
        openapi_url="/command/openapi.json",
        docs_url="/command/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.event_store = store
    app.state.command_handler = handler
    app.state.authenticator = authenticator

    app.include_router(health_router())
    app.include_router(group_chats_router())
    mount_graphql(app)  # strawberry is imported on the first GraphQL request, not here
    install_problem_handlers(app)
    _customize_openapi(app, auth_enabled=authenticator.enabled)

    # Added innermost first: the access log sees every response, 401s, 413s and 500s included,
    # and the catch-all logs while the request id is still bound. Authentication comes before
    # the body limit: the body of a request without a caller is never read.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
    )
    app.add_middleware(
        AuthenticationMiddleware,
        authenticator=authenticator,
        protection=protection_for(commands_prefix=GROUP_CHATS_PREFIX, graphql_path=GRAPHQL_PATH),
        render=refusal_renderer(GRAPHQL_PATH),
    )
    app.add_middleware(telemetry.AccessLogMiddleware)
    if fast_path:
        verifier = authenticator.verifier
        app.serve_fast_path(
            fast_path=build_fast_path(service),
            body_timeout_seconds=settings.body_timeout_seconds,
            guard_blocks=verifier is not None and verifier.fetches_keys,
        )
    return telemetry.instrument_fastapi(app)


# -- errors --------------------------------------------------------------------------------------


def problem_response(problem: Problem) -> JSONResponse:
    """`problem` as an `application/problem+json` response."""
    return JSONResponse(
        problem.to_dict(),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(problem.headers) or None,
    )


def _describe_one(error: Any) -> tuple[str, str]:
    location = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed")
        position = location[1] if len(location) > 1 else "?"
        return "body", f"is not valid JSON ({reason} at position {position})"
    # ("body", "groupChatId") -> "groupChatId"; the first element says where it came from.
    parts = [str(part) for part in location[1:]]
    field = ".".join(parts) or "body"
    if field == "body":
        return field, BODY_REQUIRED if kind == "missing" else BODY_NOT_AN_OBJECT
    return field, str(error.get("msg", "is invalid"))


def describe_validation_errors(exc: RequestValidationError) -> Problem:
    """The 400 `validation_error` for a request FastAPI could not parse; names the fields.

    Worded as `command_service.rest_commands.parse_body` words the same errors (the Lambda
    fast path's parsing): both end in `validation_problem`.
    """
    return validation_problem([_describe_one(error) for error in exc.errors()])


async def _on_expected_error(_request: Request, exc: Exception) -> JSONResponse:
    problem = problem_for(exc)
    if problem is None:  # pragma: no cover - registered only for the mapped classes
        raise exc
    if problem.status >= 500:
        _log.warning("%s: %s", type(exc).__name__, exc)
    return problem_response(problem)


async def _on_request_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(describe_validation_errors(exc))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 404:
        problem = Problem(404, "not_found", f"no such resource: {request.url.path}")
    elif status == 405:
        problem = Problem(
            405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}"
        )
    elif status == 400:
        problem = validation_error(f"body: {exc.detail}", field="body")
    elif status >= 500:
        problem = internal_error()
    else:
        problem = Problem(status, f"http_{status}", str(exc.detail))
    return problem_response(
        Problem(problem.status, problem.code, problem.detail, problem.field, headers)
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error `app` reports an `application/problem+json` document.

    Request validation errors become 400 (FastAPI's default is 422, which this API keeps for
    broken domain rules). Unexpected exceptions are handled by `UnhandledErrorMiddleware`.
    """
    for exc_class in (
        DomainError,
        CommandConflictError,
        ConcurrencyError,
        EventStoreUnavailableError,
        IdempotencyInProgressError,
        IdempotencyKeyReusedError,
        AuthError,
        AuthUnavailableError,
    ):
        app.add_exception_handler(exc_class, _on_expected_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


# -- OpenAPI -------------------------------------------------------------------------------------


_AUTH_RESPONSES = {
    "401": "No acceptable bearer token (`unauthorized`; `AUTH_MODE=jwt`): see `WWW-Authenticate`.",
    "403": "`executorId` is not the authenticated caller (`forbidden`).",
}


def _customize_openapi(app: FastAPI, *, auth_enabled: bool) -> None:
    """Document the real error responses: the Problem schema, and no FastAPI 422s.

    FastAPI adds a 422 `HTTPValidationError` response to every operation with a body that does
    not document a 422 of its own; this API answers malformed input with a 400 problem instead.
    With authentication on, the commands also document the bearer scheme, 401 and 403.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    responses = operation.get("responses", {})
                    default_422 = responses.get("422", {})
                    if "HTTPValidationError" in str(default_422.get("content", "")):
                        del responses["422"]
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            schemas["Problem"] = ProblemModel.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            if auth_enabled:
                _document_bearer_auth(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_bearer_auth(schema: dict[str, Any]) -> None:
    schema["components"].setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT whose `sub` is the caller's user account id.",
    }
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, path_item in schema.get("paths", {}).items():
        if not path.startswith(f"{GROUP_CHATS_PREFIX}/"):
            continue
        for operation in path_item.values():
            operation["security"] = [{"bearerAuth": []}]
            for status, description in _AUTH_RESPONSES.items():
                operation["responses"][status] = {"description": description, "content": problem}
