"""The server span of a request served by `http_kit.lambda_http` (imported with tracing on only).

Named and attributed as OpenTelemetry's ASGI instrumentation (under the FastAPI one) does for
the same request behind Mangum, with the default (pre-stable) HTTP semantic conventions: the
traces of a request look the same whichever path served it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import unquote

import telemetry
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from http_kit.lambda_http import Request

__all__ = ["server_span"]

_tracer = telemetry.get_tracer("http_kit.lambda_http")


class _HeaderGetter(Getter[Mapping[str, str]]):
    """Reads the request's (lower-case) headers case-insensitively, as the ASGI getter does:
    the X-Ray propagators ask for `X-Amzn-Trace-Id`."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


class _Span:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def finish(self, status: int) -> None:
        self._span.set_attribute("http.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR))


class _NoSpan:
    def finish(self, status: int) -> None:
        pass


def _default_excluded(url: str) -> bool:
    from opentelemetry.util.http import get_excluded_urls

    return get_excluded_urls("FASTAPI").url_disabled(url)


def request_attributes(request: Request, template: str) -> dict[str, AttributeValue]:
    """The span attributes the ASGI instrumentation derives from the scope Mangum builds."""
    headers = request.headers
    host = headers.get("host")
    server_name = host or "mangum"
    if ":" in server_name:
        server_name, port_text = server_name.split(":", 1)
    else:
        port_text = headers.get("x-forwarded-port", "80")
    port = int(port_text) if port_text.isdigit() else 80
    server_host = server_name if port == 80 else f"{server_name}:{port}"
    scheme = headers.get("x-forwarded-proto", "https")
    url = f"{scheme}://{host or server_host}{request.path}"
    if request.raw_query:
        url += "?" + unquote(request.raw_query)
    attributes: dict[str, AttributeValue] = {
        "http.scheme": scheme,
        "http.host": server_host,
        "net.host.port": port,
        "http.flavor": "1.1",
        "http.target": request.path,
        "http.url": url,
        "http.method": request.method,
        "http.route": template,
    }
    if host:
        attributes["http.server_name"] = host
    user_agent = headers.get("user-agent")
    if user_agent:
        attributes["http.user_agent"] = user_agent
    if request.source_ip:
        attributes["net.peer.ip"] = request.source_ip
    return attributes


@contextmanager
def server_span(
    request: Request, template: str, excluded_urls: Callable[[str], bool] | None
) -> Iterator[_Span | _NoSpan]:
    """A SERVER span `<METHOD> <template>` around the request, child of the incoming context."""
    attributes = request_attributes(request, template)
    excluded = excluded_urls or _default_excluded
    if excluded(str(attributes["http.url"])):
        yield _NoSpan()
        return
    parent = extract(request.headers, getter=_GETTER)
    span = _tracer.start_span(
        f"{request.method} {template}", context=parent, kind=SpanKind.SERVER, attributes=attributes
    )
    with trace.use_span(span, end_on_exit=True):
        yield _Span(span)
