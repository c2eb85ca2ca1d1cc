"""The query service's REST API on AWS Lambda without FastAPI: `http_kit.lambda_http` routes.

`build_fast_path(runtime)` routes the health checks and the six JSON reads
(`query_service.rest.OPERATIONS`) to plain functions around `query_service.rest`, the module the
FastAPI routes call too, so that each answer is byte for byte the FastAPI app's. Around them,
`http_kit.lambda_http.FastPath` gives what the app's middleware gives: request id, access log,
server span, body limit, 500 problem. What the app's other layers do is reproduced here:

- authentication (`AUTH_MODE=jwt`): the same `Authenticator` (claims of API Gateway's JWT
  authorizer, else a bearer token) and the same refusals (`query_service.authentication`),
  before anything else, for the paths the app guards;
- the problems of `query_service.problems` (`query_service.errors.problem_for`), and 405 with
  `Allow: GET` for another method (HEAD included: FastAPI's routes do not add it);
- query parameters parsed from `rawQueryString` as Starlette parses them (the last value of a
  repeated name wins; API Gateway's `queryStringParameters` would join them with commas).

Importing this module loads SQLAlchemy and the read model's queries (not FastAPI, Starlette,
pydantic or Mangum); `query_service.lambda_handler` imports it on the first invocation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

import telemetry
from auth import SCOPE_KEY, AuthError, AuthSettings, AuthState, AuthUnavailableError
from chat_domain.ids import UserAccountId
from http_kit.lambda_http import Endpoint, FastPath, Request, Response, Router

from query_service import rest
from query_service.authentication import (
    authenticator_for,
    authorize_caller,
    protection_for,
    refusal_renderer,
)
from query_service.errors import method_not_allowed, problem_for
from query_service.settings import Settings

if TYPE_CHECKING:
    from auth import Authenticator
    from sqlalchemy import Engine

__all__ = ["HEALTHCHECK_PATHS", "SERVICE_NAME", "Runtime", "build_fast_path"]

SERVICE_NAME: Final = "query-service"
GRAPHQL_PATH: Final = "/query/graphql"  # query_service.graphql.GRAPHQL_PATH, without strawberry
HEALTHCHECK_PATHS: Final = ("/query/healthcheck", "/query/v1/healthcheck")


@dataclass(frozen=True)
class Runtime:
    """What one execution environment builds once: settings, the read model's engine (its
    pool lives as long as the environment) and the authenticator."""

    settings: Settings
    engine: Engine
    authenticator: Authenticator

    @classmethod
    def from_env(cls) -> Runtime:
        """Read the settings, configure telemetry and create the engine (it does not connect).

        The engine is created as `query_service.app.create_app` creates it.
        """
        from read_model import create_engine_for

        settings = Settings()
        authenticator = authenticator_for(AuthSettings.from_env())
        telemetry.configure(SERVICE_NAME)
        return cls(settings, create_engine_for(settings.read_model_url), authenticator)


def build_fast_path(runtime: Runtime) -> FastPath:
    """The routes of the fast path, for `http_kit.aws_lambda.HttpApiHandler`."""
    router = Router()
    for path in HEALTHCHECK_PATHS:
        router.add("GET", path, _healthcheck)
    context = rest.RestContext(
        runtime.engine, runtime.settings.page_size_default, runtime.settings.page_size_max
    )
    for template, operation in rest.OPERATIONS.values():
        router.add("GET", template, _json_endpoint(runtime.authenticator, context, operation))
    return FastPath(
        router,
        max_body_bytes=runtime.settings.max_body_bytes,
        guard=_guard(runtime.authenticator),
        method_not_allowed=_method_not_allowed,
    )


def _healthcheck(_request: Request) -> Response:
    return Response.text("OK")


def _json_endpoint(
    authenticator: Authenticator, context: rest.RestContext, operation: rest.Operation
) -> Endpoint:
    def serve(request: Request) -> Response:
        def authorize(caller: UserAccountId) -> None:
            authorize_caller(authenticator, request.scope, caller)

        inputs = rest.RestInputs(request.path_params, query_params(request.raw_query), authorize)
        try:
            body = operation(context, inputs)
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None:
                raise  # FastPath logs it and answers 500 internal_error
            return Response.problem(problem)
        return Response.of(200, rest.render_json(body), rest.JSON_MEDIA_TYPE)

    return serve


def query_params(raw_query: str) -> dict[str, str]:
    """The query parameters of `raw_query` as Starlette reads them (its `QueryParams` of the
    bytes Mangum puts in the scope): blank values kept, the last value of a name wins."""
    return dict(parse_qsl(raw_query.encode().decode("latin-1"), keep_blank_values=True))


def _guard(authenticator: Authenticator) -> Callable[[Request], Response | None]:
    """`auth.AuthenticationMiddleware`'s decision for the fast path's (required or public)
    paths, with the app's refusal renderer."""
    protection = protection_for(GRAPHQL_PATH)
    render = refusal_renderer(GRAPHQL_PATH)

    def guard(request: Request) -> Response | None:
        if not authenticator.enabled or protection(request.path) == "public":
            return None
        try:
            principal = authenticator.authenticate(request.scope)
        except (AuthError, AuthUnavailableError) as exc:
            status, headers, body = render(exc, request.scope)
            fields = {k.decode(): v.decode("latin-1") for k, v in headers}
            return Response.of(status, body, fields.pop("content-type"), fields)
        request.scope[SCOPE_KEY] = AuthState(principal)
        return None

    return guard


def _method_not_allowed(request: Request, _allowed: Sequence[str]) -> Response:
    return Response.problem(method_not_allowed(request.method))
