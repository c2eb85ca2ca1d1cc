"""Errors as `application/problem+json` (RFC 9457), and the FastAPI handlers that produce them.

Every error response has `type`, `title`, `status`, `detail` and `code`, a stable
machine-readable string (`validation_error`, `group_chat_not_found`, `member_not_found`,
`message_not_found`, `not_found`, `method_not_allowed`, `service_unavailable`, `internal_error`;
with `AUTH_MODE=jwt` also `unauthorized` (401) and `forbidden` (403)).
`type` is `about:blank` (the status says what kind of problem it is; `code` says which one), so
`title` is the HTTP status phrase. A `validation_error` about exactly one input field also names it
in `field` (an extension member, omitted otherwise), as the command service does.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from auth import AuthError, AuthUnavailableError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from http_kit.problems import PROBLEM_MEDIA_TYPE, RETRY_AFTER_SECONDS, internal_error
from http_kit.problems import Problem as ProblemDetails
from pydantic import BaseModel, Field
from read_model import ReadModelUnavailableError
from starlette.exceptions import HTTPException as StarletteHTTPException

from query_service.errors import ProblemError, method_not_allowed, problem_for

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "RETRY_AFTER_SECONDS",
    "Problem",
    "ProblemError",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

_log = logging.getLogger(__name__)


class Problem(BaseModel):
    """An RFC 9457 problem document, as the OpenAPI document describes it.

    The responses themselves are rendered by `http_kit.problems.Problem` (shared with the
    command service); this model only publishes their schema.
    """

    type: str = Field(description="URI of the problem type", examples=["about:blank"])
    title: str = Field(description="the HTTP status phrase", examples=["Not Found"])
    status: int = Field(description="the HTTP status code", examples=[404])
    detail: str = Field(description="what went wrong, for a human", examples=["no such group chat"])
    code: str = Field(
        description="stable machine-readable error code", examples=["group_chat_not_found"]
    )
    field: str | None = Field(
        default=None,
        description="the offending input field of a validation_error, when there is one",
        examples=["groupChatId"],
    )


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem+json response for `status`, `code` and `detail` (and `field`)."""
    return _render(ProblemDetails(status, code, detail, field=field, headers=headers or {}))


def _render(problem: ProblemDetails) -> Response:
    return Response(
        problem.to_json(),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(problem.headers) or None,
    )


def _field_name(location: tuple[Any, ...]) -> str:
    # ("query", "userAccountId") -> "userAccountId"; the first element is where it came from.
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    return ".".join(parts) or "request"


def _describe_validation_errors(error: RequestValidationError) -> tuple[str, str | None]:
    fields, messages = [], []
    for item in error.errors():
        field = _field_name(tuple(item.get("loc", ())))
        fields.append(field)
        messages.append(f"{field}: {item.get('msg', 'is invalid')}")
    only_field = fields[0] if len(set(fields)) == 1 else None
    return "; ".join(messages) or "the request is invalid", only_field


async def _on_known_error(_request: Request, exc: Exception) -> Response:
    problem = problem_for(exc)
    return _render(problem if problem is not None else internal_error())


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail, field = _describe_validation_errors(exc)
    return problem_response(400, "validation_error", detail, field=field)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        code, detail = "not_found", f"no such resource: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        return _render(replace(method_not_allowed(request.method), headers=dict(exc.headers or {})))
    else:
        code, detail = HTTPStatus(exc.status_code).name.lower(), str(exc.detail)
    return problem_response(exc.status_code, code, detail, headers=dict(exc.headers or {}) or None)


async def _on_unexpected(_request: Request, exc: Exception) -> Response:
    _log.error("unexpected error", exc_info=exc)
    return _render(internal_error())


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of `app` a problem document (request validation errors become 400)."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for known in (ProblemError, AuthError, ReadModelUnavailableError, AuthUnavailableError):
        app.add_exception_handler(known, _on_known_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error `statuses` an operation can return."""
    descriptions = {
        400: "Invalid input (`validation_error`); `detail` names the field.",
        401: "No acceptable bearer token (`unauthorized`; `AUTH_MODE=jwt`): see "
        "`WWW-Authenticate`.",
        403: "`userAccountId` is not the authenticated caller (`forbidden`).",
        404: "Not found, or not visible to the caller.",
        503: "The read model's database is unavailable (`service_unavailable`); retry later.",
    }
    return {
        status: {
            "description": descriptions.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
