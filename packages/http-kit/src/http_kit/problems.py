"""Errors as RFC 9457 problem details (`application/problem+json`), independent of any framework.

Every problem has a `status` and a stable machine-readable `code`. `type` is `about:blank`, so
`title` is the HTTP status phrase: `status` says what kind of problem it is, `code` which one.
Which exception is which problem is each service's business; the problems every service has
(500, and the body limits' 408 and 413) are built here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from http import HTTPStatus
from typing import Any, Final

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "RETRY_AFTER_SECONDS",
    "Problem",
    "internal_error",
    "payload_too_large",
    "request_timeout",
    "send_problem",
    "validation_error",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
RETRY_AFTER_SECONDS: Final = 1
"""How long a client should wait before retrying after a 503 (the backend is usually back soon)."""

_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: what the client gets as `application/problem+json`.

    `field` names the offending input field of a `validation_error` when there is exactly one
    (an RFC 9457 extension member, omitted otherwise). `headers` go on the HTTP response.
    """

    status: int
    code: str
    detail: str
    field: str | None = None
    headers: Mapping[str, str] = dataclass_field(default_factory=dict)
    type: str = "about:blank"

    @property
    def title(self) -> str:
        """The HTTP status phrase (RFC 9457 §4.2.1: the title of `about:blank`)."""
        return HTTPStatus(self.status).phrase

    def to_dict(self) -> dict[str, object]:
        """The JSON body: `type`, `title`, `status`, `detail`, `code` (and `field`)."""
        body: dict[str, object] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            body["field"] = self.field
        return body

    def to_json(self) -> bytes:
        """The JSON body as UTF-8 bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


async def send_problem(send: _Send, problem: Problem, *, close: bool = False) -> None:
    """Send `problem` as a complete `application/problem+json` response on an ASGI `send`.

    `close` adds `Connection: close`, for a response sent before the request body was read:
    the unread body must not be taken for the next request on the connection.
    """
    body = problem.to_json()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def internal_error() -> Problem:
    """The 500 problem: a generic detail, so that no internals leak to the client."""
    return Problem(500, "internal_error", "an unexpected error occurred")


def validation_error(detail: str, field: str | None = None) -> Problem:
    """A 400 `validation_error`; `detail` starts with the offending field's name."""
    return Problem(400, "validation_error", detail, field=field)


def request_timeout(seconds: float) -> Problem:
    """The 408 problem for a request body that did not arrive within `seconds`."""
    return Problem(
        408, "request_timeout", f"the request body did not arrive within {seconds:g} seconds"
    )


def payload_too_large(limit: int) -> Problem:
    """The 413 problem for a request body over `limit` bytes."""
    return Problem(413, "payload_too_large", f"the request body exceeds the limit of {limit} bytes")
