"""The command service's REST endpoints on Lambda, without FastAPI (`http_kit.lambda_http`).

`build_fast_path(runtime)` routes the health check and the eight commands to plain functions
around `command_service.rest_commands` (the same parsing, command and answer as the FastAPI
routes), inside `http_kit.lambda_http.FastPath`'s request id, access log, body limit and span,
with the same authentication as the app's `AuthenticationMiddleware` (`guard_for`). Everything
else (GraphQL, the OpenAPI document, unknown paths) is left to the FastAPI app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from auth import SCOPE_KEY, Authenticator, AuthError, AuthState, AuthUnavailableError
from http_kit.lambda_http import FastPath, Guard, Request, Response, Router

from command_service import rest_commands
from command_service.authentication import (
    authorize_executor,
    protection_for,
    refusal_renderer,
)
from command_service.handlers import CommandHandler
from command_service.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER
from command_service.paths import GRAPHQL_PATH
from command_service.problems import problem_for
from command_service.rest_commands import (
    GROUP_CHATS_PREFIX,
    HEALTHCHECK_PATH,
    BodyError,
    RestCommand,
)
from command_service.runtime import Runtime

__all__ = ["build_fast_path", "build_router", "guard_for"]

_log = logging.getLogger(__name__)


def guard_for(authenticator: Authenticator) -> Guard | None:
    """Authentication as the app's `AuthenticationMiddleware` does it, or None when it is off.

    Per path: the commands require a caller (401 before the body is looked at), the health
    check is public. The outcome is left in `request.scope` for `authorize_executor`.
    """
    if not authenticator.enabled:
        return None
    protection = protection_for(commands_prefix=GROUP_CHATS_PREFIX, graphql_path=GRAPHQL_PATH)
    render = refusal_renderer(GRAPHQL_PATH)

    def refuse(exc: Exception, request: Request) -> Response:
        status, headers, body = render(exc, request.scope)
        return Response(
            status, body, {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        )

    def guard(request: Request) -> Response | None:
        level = protection(request.path)
        if level == "public":
            return None
        try:
            request.scope[SCOPE_KEY] = AuthState(authenticator.authenticate(request.scope))
        except AuthError as exc:
            if level == "required" or request.header("authorization") is not None:
                return refuse(exc, request)
            request.scope[SCOPE_KEY] = AuthState(None, exc)
        except AuthUnavailableError as exc:
            return refuse(exc, request)
        return None

    return guard


def _command_endpoint(
    command: RestCommand, handler: CommandHandler, authenticator: Authenticator
) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        try:
            fields = rest_commands.parse_body(
                request.body, request.header("content-type"), command.fields
            )
            response = rest_commands.execute(
                command,
                fields,
                handler,
                authorize=lambda executor_id: authorize_executor(
                    authenticator, request.scope, executor_id
                ),
                idempotency_key=request.header(IDEMPOTENCY_KEY_HEADER),
            )
        except BodyError as exc:
            return Response.problem(exc.problem)
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None:
                raise  # the fast path's catch-all: logged, 500 internal_error
            if problem.status >= 500:
                _log.warning("%s: %s", type(exc).__name__, exc)
            return Response.problem(problem)
        headers = {IDEMPOTENT_REPLAYED_HEADER: "true"} if response.replayed else None
        return Response.json(dict(response.body), status=response.status, headers=headers)

    return endpoint


def _healthcheck(_request: Request) -> Response:
    return Response.text("OK")


def build_router(handler: CommandHandler, authenticator: Authenticator) -> Router:
    """The health check and the eight commands, as the FastAPI app routes them."""
    router = Router()
    router.add("GET", HEALTHCHECK_PATH, _healthcheck)
    for command in rest_commands.REST_COMMANDS:
        router.add("POST", command.path, _command_endpoint(command, handler, authenticator))
    return router


def build_fast_path(runtime: Runtime) -> FastPath:
    """The fast path of the command service on `runtime` (see the module docstring)."""
    return FastPath(
        build_router(runtime.command_handler, runtime.authenticator),
        max_body_bytes=runtime.settings.max_body_bytes,
        guard=guard_for(runtime.authenticator),
    )
