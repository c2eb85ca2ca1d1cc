"""Serving REST endpoints on AWS Lambda without a web framework (API Gateway HTTP API, payload 2.0).

On a cold start, importing FastAPI, Starlette, Mangum and pydantic and building the routes' models
costs more than the request itself. The services therefore route their REST endpoints here, to
plain functions, and keep the full ASGI app for everything else (GraphQL, the OpenAPI document,
unknown paths), built on first need. This module imports the standard library and `telemetry`
only; OpenTelemetry is imported when tracing is on, and then only its API.

    router = Router()

    @router.route("POST", "/command/v1/group-chats/create")
    def create(request: Request) -> Response:
        return Response.json({"groupChatId": "..."}, status=201)

    fast_path = FastPath(router, max_body_bytes=65536, guard=authenticate)
    result = fast_path.serve(strip_stage(event))   # the v2 result, or None: not routed here

`FastPath.serve` gives a routed request what the services' ASGI middleware gives it, in the same
order: the request id (`x-request-id`, bound for the log lines and echoed), one access log line
(logger `telemetry.access`, same fields), the `guard` (authentication), the body size limit (413
`payload_too_large`), 405 with `Allow` for a routed path asked with another method, and a 500
`internal_error` problem (logged, no internals) for an unexpected exception. With tracing on,
all of it runs in a server span named and attributed as OpenTelemetry's ASGI instrumentation
names it (`POST /command/v1/group-chats/create`, `http.route`, `http.status_code`, ...), continuing
the incoming trace context.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import unquote

import telemetry

from http_kit.problems import PROBLEM_MEDIA_TYPE, Problem, internal_error, payload_too_large

__all__ = [
    "REQUEST_ID_HEADER",
    "Endpoint",
    "FastPath",
    "Guard",
    "Match",
    "MethodNotAllowed",
    "Request",
    "Response",
    "Route",
    "Router",
    "log_access",
    "method_not_allowed_problem",
    "request_id_for",
]

_log = logging.getLogger(__name__)
_access_log = logging.getLogger("telemetry.access")

REQUEST_ID_HEADER: Final = telemetry.REQUEST_ID_HEADER
# The rule of telemetry's AccessLogMiddleware: a client's id is echoed and logged, so only short
# plain tokens are taken; anything else gets API Gateway's id (or a fresh one).
_VALID_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


# -- request and response ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as API Gateway's payload 2.0 event describes it.

    `path` is the path below the stage (see `http_kit.aws_lambda.strip_stage`), percent-decoded
    as Mangum decodes it for the ASGI app, so that both route alike; `headers` have
    lower-case names (API Gateway joins repeated headers with commas; cookies are folded into
    `cookie`), `query` is `queryStringParameters` (repeated parameters comma-joined), `body` is
    the decoded body. `claims` are the JWT claims API Gateway's JWT authorizer verified, if any;
    `apigw_request_id` is API Gateway's request id. `scope` is an ASGI-like view of the request
    (`type`, `method`, `path`, `headers`, `query_string`, `aws.event`) for code written against
    ASGI scopes (authentication), and where such code leaves per-request state.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)
    raw_query: str = ""
    path_params: Mapping[str, str] = field(default_factory=dict)
    claims: Mapping[str, Any] | None = None
    apigw_request_id: str | None = None
    source_ip: str | None = None
    event: Mapping[str, Any] = field(default_factory=dict, repr=False)
    scope: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        """The request of an HTTP API payload 2.0 `event` (its stage already stripped).

        Raises ValueError when the event is not one (no `requestContext.http`) or its
        base64 body cannot be decoded.
        """
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        if not isinstance(context, Mapping) or not isinstance(http, Mapping):
            raise ValueError("not an API Gateway HTTP API (payload 2.0) event")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        cookies = event.get("cookies")
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        raw_body = event.get("body")
        if raw_body is None:
            body = b""
        elif event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"the event's base64 body cannot be decoded: {exc}") from None
        else:
            body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
        method = str(http.get("method", "GET")).upper()
        # Percent-decoded, as Mangum decodes it for the ASGI app: both route the same path.
        path = unquote(str(http.get("path") or event.get("rawPath") or "/"))
        raw_query = str(event.get("rawQueryString") or "")
        request_id = context.get("requestId")
        source_ip = http.get("sourceIp")
        scope: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "query_string": raw_query.encode(),
            "aws.event": event,
        }
        return cls(
            method=method,
            path=path,
            headers=headers,
            body=body,
            query=dict(event.get("queryStringParameters") or {}),
            raw_query=raw_query,
            claims=_authorizer_claims(context),
            apigw_request_id=request_id if isinstance(request_id, str) and request_id else None,
            source_ip=source_ip if isinstance(source_ip, str) else None,
            event=event,
            scope=scope,
        )

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), or None."""
        return self.headers.get(name.lower())


def _authorizer_claims(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    authorizer = context.get("authorizer")
    jwt_part = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    claims = jwt_part.get("claims") if isinstance(jwt_part, Mapping) else None
    return claims if isinstance(claims, Mapping) else None


def _is_text(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type.endswith(("json", "xml"))
        or media_type == "application/javascript"
    )


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response; `to_result()` is what the Lambda handler returns to API Gateway.

    Header names are sent lower-case (as an ASGI server sends them). The constructors (`json`,
    `text`, `problem`, `of`) set `content-type` and `content-length`.
    """

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, value: object, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """`value` as `application/json`, encoded as Starlette's `JSONResponse` encodes it."""
        body = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return cls.of(status, body.encode(), "application/json", headers)

    @classmethod
    def text(
        cls, text: str, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """`text` as `text/plain; charset=utf-8`."""
        return cls.of(status, text.encode(), "text/plain; charset=utf-8", headers)

    @classmethod
    def problem(cls, problem: Problem, *, close: bool = False) -> Response:
        """`problem` as `application/problem+json`, with its headers.

        `close` adds `Connection: close`, as `http_kit.problems.send_problem` does for an answer
        sent before the body was read.
        """
        headers = dict(problem.headers)
        if close:
            headers["connection"] = "close"
        return cls.of(problem.status, problem.to_json(), PROBLEM_MEDIA_TYPE, headers)

    @classmethod
    def of(
        cls,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A response with `body`, its `content-type` and `content-length`, and `headers`."""
        fixed = {"content-type": content_type, "content-length": str(len(body))}
        return cls(status, body, {**fixed, **(headers or {})})

    def with_headers(self, headers: Mapping[str, str]) -> Response:
        """This response with `headers` added (replacing same-named ones)."""
        return replace(self, headers={**self.headers, **headers})

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def to_result(self) -> dict[str, Any]:
        """The API Gateway HTTP API (payload 2.0) result: text bodies as text, others base64."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        text = _is_text(headers.get("content-type", "application/json"))
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": self.body.decode() if text else base64.b64encode(self.body).decode("ascii"),
            "isBase64Encoded": not text,
        }


# -- routing -----------------------------------------------------------------------------------

Endpoint = Callable[[Request], Response]
"""A framework-free endpoint: the request (with its `path_params`) in, the response out."""


@dataclass(frozen=True, slots=True)
class Route:
    """`method` requests on paths of `template` (`{name}` matches one non-empty segment)."""

    method: str
    template: str
    endpoint: Endpoint
    pattern: re.Pattern[str] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Match:
    """A routed path: the matched `template` and its `params`, and the `endpoint` for the method.

    `endpoint` is None when the path is routed but not for the request's method: answer 405
    with `Allow: <allowed>`.
    """

    template: str
    endpoint: Endpoint | None
    params: Mapping[str, str]
    allowed: tuple[str, ...]


class Router:
    """Method and path template to endpoint, matched in the order the routes were added."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    @property
    def routes(self) -> Sequence[Route]:
        """The routes, in the order they were added."""
        return tuple(self._routes)

    def add(self, method: str, template: str, endpoint: Endpoint) -> None:
        """Route `method` requests on `template` to `endpoint`."""
        if not template.startswith("/"):
            raise ValueError(f"a path template starts with '/': {template!r}")
        parts: list[str] = []
        position = 0
        for param in _PARAM.finditer(template):
            parts.append(re.escape(template[position : param.start()]))
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
            position = param.end()
        parts.append(re.escape(template[position:]))
        pattern = re.compile("".join(parts))
        self._routes.append(Route(method.upper(), template, endpoint, pattern))

    def route(self, method: str, template: str) -> Callable[[Endpoint], Endpoint]:
        """Decorator form of `add`."""

        def register(endpoint: Endpoint) -> Endpoint:
            self.add(method, template, endpoint)
            return endpoint

        return register

    def match(self, method: str, path: str) -> Match | None:
        """The route of `method` `path`; a `Match` without endpoint when only other methods are
        routed there (405); None when the path is not routed here."""
        method = method.upper()
        partial: tuple[Route, dict[str, str]] | None = None
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return Match(route.template, route.endpoint, found.groupdict(), (route.method,))
            if partial is None:
                partial = (route, found.groupdict())
            if route.template == partial[0].template and route.method not in allowed:
                allowed.append(route.method)
        if partial is None:
            return None
        return Match(partial[0].template, None, partial[1], tuple(allowed))


# -- serving -----------------------------------------------------------------------------------

Guard = Callable[[Request], Response | None]
"""Runs before the body is looked at (authentication): a refusal to send, or None to go on.

It may leave per-request state in `request.scope` for the endpoint.
"""

MethodNotAllowed = Callable[[Request, Sequence[str]], Response]
"""Builds the 405 answer to a routed path asked with another method (`Allow` is added)."""


def method_not_allowed_problem(request: Request, allowed: Sequence[str]) -> Response:
    """405 `method_not_allowed`: "<METHOD> is not allowed on <path>"."""
    return Response.problem(
        Problem(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}")
    )


@dataclass(frozen=True)
class FastPath:
    """The routed endpoints and the cross-cutting behaviour around them (see the module doc).

    `max_body_bytes`: larger bodies get 413 `payload_too_large` (a declared `Content-Length`
    over it too). `guard`: authentication, run before the body limit (a request without a
    caller is refused without its body being looked at). `method_not_allowed`: the 405 answer
    (`Allow` is added). `excluded_urls`: no span for URLs it matches (a callable taking the full
    URL; by default `OTEL_PYTHON_FASTAPI_EXCLUDED_URLS` / `OTEL_PYTHON_EXCLUDED_URLS`, as
    for the FastAPI app).
    """

    router: Router
    max_body_bytes: int
    guard: Guard | None = None
    method_not_allowed: MethodNotAllowed = method_not_allowed_problem
    excluded_urls: Callable[[str], bool] | None = None

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")

    def serve(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The payload 2.0 result for `event` (stage already stripped), or None when its path is
        not routed here (the caller hands it to the full app)."""
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        if not isinstance(http, Mapping):
            return None
        match = self.router.match(
            str(http.get("method", "")),
            unquote(str(http.get("path") or event.get("rawPath") or "")),
        )
        if match is None:
            return None
        request = replace(Request.from_event(event), path_params=match.params)
        return self.handle(request, match).to_result()

    def handle(self, request: Request, match: Match) -> Response:
        """Serve `request`, routed to `match`, with the request id, access log and span."""
        request_id = request_id_for(request)
        started = time.perf_counter()
        with _server_span(request, match.template, self.excluded_urls) as span:
            with telemetry.bind_request_id(request_id):
                response, error = self._respond(request, match)
                response = response.with_headers({REQUEST_ID_HEADER: request_id})
                log_access(request, response.status, started, request_id, error)
            span.finish(response.status)
        return response

    def _respond(self, request: Request, match: Match) -> tuple[Response, Exception | None]:
        """The response, and the unexpected exception it stands for (None when there was none)."""
        try:
            if self.guard is not None:
                refusal = self.guard(request)
                if refusal is not None:
                    return refusal.with_headers({"connection": "close"}), None
            if _declared_length(request) > self.max_body_bytes or (
                len(request.body) > self.max_body_bytes
            ):
                return Response.problem(payload_too_large(self.max_body_bytes), close=True), None
            if match.endpoint is None:
                answer = self.method_not_allowed(request, match.allowed)
                return answer.with_headers({"allow": ", ".join(match.allowed)}), None
            return match.endpoint(request), None
        except Exception as exc:
            _log.exception("unhandled error in %s %s", request.method, request.path)
            return Response.problem(internal_error()), exc


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0  # the byte count still applies


def request_id_for(request: Request) -> str:
    """The request's id: the client's `x-request-id` when it is a plain token, else API
    Gateway's request id, else a fresh one (the rule of `telemetry.AccessLogMiddleware`)."""
    client = request.headers.get(REQUEST_ID_HEADER)
    if client is not None and _VALID_REQUEST_ID.match(client):
        return client
    return request.apigw_request_id or uuid.uuid4().hex


def log_access(
    request: Request,
    status: int | None,
    started: float,
    request_id: str,
    error: BaseException | None,
) -> None:
    """Write the access log line of `request`, as `telemetry.AccessLogMiddleware` writes it
    (same fields and levels); `status` None: no response was sent; `error` not an `Exception`
    (a cancellation): WARNING, as for a client that went away."""
    fields: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if request.apigw_request_id is not None and request.apigw_request_id != request_id:
        fields["apigw_request_id"] = request.apigw_request_id
    if error is not None:
        fields["error"] = type(error).__name__
    if isinstance(error, Exception) or (status is not None and status >= 500):
        level = logging.ERROR
    elif status is None or error is not None:
        level = logging.WARNING  # no response, or cancelled: the client went away
    else:
        level = logging.INFO
    logger = _access_log
    if logger.isEnabledFor(level):
        # `Logger.log` would first walk the stack for the caller's file and line (`findCaller`),
        # which an access line does not show: a quarter of its cost. The record is otherwise the
        # one `log` makes, and goes through the logger's filters and handlers the same way.
        record = logger.makeRecord(
            logger.name,
            level,
            __file__,
            0,
            "%s %s %s",
            (request.method, request.path, status),
            None,
            extra=fields,
        )
        logger.handle(record)


# -- tracing -----------------------------------------------------------------------------------


class _NoSpan:
    def finish(self, status: int) -> None:
        pass


def _server_span(
    request: Request, template: str, excluded_urls: Callable[[str], bool] | None
) -> AbstractContextManager[Any]:
    if not telemetry.tracing_enabled():
        return nullcontext(_NoSpan())
    from http_kit import _lambda_tracing  # OpenTelemetry's API, only with tracing on

    return _lambda_tracing.server_span(request, template, excluded_urls)
