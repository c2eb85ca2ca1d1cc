"""strawberry's ASGI view and schema with API.md's GraphQL error format (imports strawberry).

Errors follow API.md: the standard `errors` array, each error with `extensions.code` and
`extensions.reason` (see `http_kit.graphql_errors`); which code a resolver's exception gets is
the service's `error_info_for`, set as a class attribute on its subclasses of `ApiGraphQL` and
`LoggingSchema`.

- A document that does not parse or validate (unknown field, missing argument, bad variable)
  gets HTTP 200 with `data: null` and `"400"` errors, as the GraphQL-over-HTTP spec asks for
  `application/json` responses.
- A request that is not a GraphQL request at all (body not JSON, no `query`, a mutation over
  GET, an unsupported content type) gets its HTTP status (400, 405) and the same JSON shape.
- Resolver errors get HTTP 200; an unexpected one is logged with its traceback and reported
  with a generic message and code `"500"`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionContext, ExecutionResult

from http_kit.graphql_errors import INTERNAL_ERROR, ErrorInfo, invalid_request

__all__ = ["ApiGraphQL", "ErrorMapper", "LoggingSchema", "describe_error", "format_error"]

ErrorMapper = Callable[[BaseException], ErrorInfo]
"""How an exception raised by a resolver is reported (the service's REST mapping)."""

ContextT = TypeVar("ContextT")

_log = logging.getLogger(__name__)


def _unexpected(_exc: BaseException) -> ErrorInfo:
    return INTERNAL_ERROR


def describe_error(error: GraphQLError, error_info_for: ErrorMapper) -> ErrorInfo:
    """How a GraphQL error is reported to the client.

    GraphQL's own errors (syntax, validation, argument and variable coercion) carry no original
    exception, or another `GraphQLError`: the request was invalid. Any other original exception
    was raised by a resolver and is mapped by `error_info_for`, like its REST counterpart.
    """
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return invalid_request(error.message)
    return error_info_for(original)


def format_error(error: GraphQLError, error_info_for: ErrorMapper) -> dict[str, Any]:
    """`error` as it goes on the wire, with this API's message and `extensions`."""
    info = describe_error(error, error_info_for)
    formatted: dict[str, Any] = dict(error.formatted)
    formatted["message"] = info.message
    formatted["extensions"] = info.extensions()
    return formatted


class LoggingSchema(Schema):
    """A schema that logs only what deserves it.

    strawberry logs every error at ERROR level; here the caller's mistakes (4xx) are not logged
    at all, an unavailable backend is a warning, and unexpected errors are logged with their
    traceback (the client gets a generic message). Subclasses set `error_info_for`.
    """

    error_info_for: ClassVar[ErrorMapper] = staticmethod(_unexpected)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            info = describe_error(error, type(self).error_info_for)
            if not info.expected:
                _log.error(
                    "unexpected error in GraphQL field %s",
                    ".".join(map(str, error.path or ())) or "-",
                    exc_info=error.original_error,
                )
            elif info.code == "500":
                _log.warning("GraphQL %s: %s", info.reason, error.original_error)


class ApiGraphQL(GraphQL[ContextT, None]):
    """strawberry's ASGI view with API.md's errors; subclasses set `error_info_for` and
    implement `get_context`."""

    error_info_for: ClassVar[ErrorMapper] = staticmethod(_unexpected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Routed from HTTP routes only: this API has no subscriptions, hence no WebSockets.
        try:
            response: Response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = _request_error(exc.status_code, exc.reason)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """A JSON request body (or `variables`/`extensions` of a GET): an object, or a batch list.

        strawberry expects an object and fails with an unexpected error on any other JSON value
        (`"x"`, `5`, `null`), on bytes that are not UTF-8/16/32, and when Python's parser runs out
        of stack on deeply nested arrays. All are the client's mistake: 400.
        """
        try:
            decoded = json.loads(data)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON: not UTF-8") from exc
        except RecursionError as exc:
            raise HTTPException(
                400, "Unable to parse request body as JSON: nested too deeply"
            ) from exc
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "The GraphQL request must be a JSON object")
        return decoded

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            mapper = type(self).error_info_for
            response["errors"] = [format_error(error, mapper) for error in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response


_REQUEST_ERROR_REASONS = {400: "validation_error", 404: "not_found", 405: "method_not_allowed"}


def _request_error(status: int, message: str) -> JSONResponse:
    """A request refused before GraphQL ran it, in the shape of a GraphQL response."""
    if status >= 500:
        code, reason = "500", "internal_error"
    else:
        code, reason = str(status), _REQUEST_ERROR_REASONS.get(status, f"http_{status}")
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, "reason": reason}}]},
        status_code=status,
    )
