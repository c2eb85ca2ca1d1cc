"""AWS Lambda entry point of an ASGI service: API Gateway HTTP API events (payload format 2.0).

A service's handler module is one line: `handler = HttpApiHandler(build_app)`, or, with REST
endpoints served without the framework, `HttpApiHandler(build_app, fast_path=build_fast_path)`:
`build_fast_path()` returns an `http_kit.lambda_http.FastPath` (built on the first invocation,
like the app), whose router is tried first on every event; what it does not route (GraphQL,
the OpenAPI document, unknown paths) goes to the ASGI app, built on first need. Importing this
module is cheap on purpose (it imports `telemetry`, whose import is light): Mangum and whatever
`build_app` imports (FastAPI, the routes, the drivers, OpenTelemetry's SDK) are imported and the
app is built on the first invocation, once per execution environment, and reused by every later
one. A failed build (a bad database URL, say) is not cached: the next invocation tries again.

Paths: on a named stage, API Gateway puts the stage in front of the path
(`/Stage/command/v1/healthcheck`); on `$default` it does not. Mangum's `api_gateway_base_path`
can strip one fixed prefix only, so the stage is stripped here, per event, from
`requestContext.stage` (only when it is the path's whole first segment).

Lifespan: Mangum runs the ASGI lifespan around every invocation unless told not to, and an app's
shutdown closes its store or connection pool; it is switched off so those live as long as the
execution environment. Spans are flushed before each invocation returns, since the environment
may be frozen (and its exporter thread with it) right after.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import telemetry

from http_kit.lambda_http import FastPath

__all__ = ["FLUSH_TIMEOUT_MILLIS", "HttpApiHandler", "strip_stage"]

FLUSH_TIMEOUT_MILLIS: Final = 2000
"""Longest wait for the span export at the end of an invocation (well under the timeout)."""

_Adapter = Callable[[dict[str, Any], Any], dict[str, Any]]


class HttpApiHandler:
    """The Lambda handler of the ASGI app `build_app()` returns (built on first need), with an
    optional framework-free `fast_path` tried first (built on the first invocation).

    Call it with the API Gateway event and the Lambda context; it returns the API Gateway
    response. `reset()` forgets what was built, as a fresh execution environment would (tests).
    """

    def __init__(
        self,
        build_app: Callable[[], Any],
        *,
        fast_path: Callable[[], FastPath] | None = None,
        flush_timeout_millis: int = FLUSH_TIMEOUT_MILLIS,
    ) -> None:
        self._build_app = build_app
        self._build_fast_path = fast_path
        self._flush_timeout_millis = flush_timeout_millis
        self._adapter: _Adapter | None = None
        self._fast_path: FastPath | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the ASGI app has been built."""
        return self._adapter is not None

    @property
    def fast_path_built(self) -> bool:
        """Whether the fast path has been built."""
        return self._fast_path is not None

    def reset(self) -> None:
        """Forget the built app and fast path: the next invocation builds them again."""
        self._adapter = None
        self._fast_path = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Serve one API Gateway HTTP API (payload format 2.0) request."""
        cold = self._fast_path is None and self._adapter is None
        if cold:
            # The first invocation imports and builds what the environment keeps for its whole
            # life: collections then find nothing to free and cost ~45 ms of the cold start
            # (bench/cold_start.py). Collecting resumes afterwards, with all of it frozen.
            gc.disable()
        try:
            stripped = strip_stage(event)
            if self._build_fast_path is not None:
                result = self._fast().serve(stripped)
                if result is not None:
                    return result
            return self._adapt()(stripped, context)
        finally:
            telemetry.flush(timeout_millis=self._flush_timeout_millis)
            if cold:
                gc.freeze()
                gc.enable()

    def _fast(self) -> FastPath:
        fast_path = self._fast_path
        if fast_path is None:
            assert self._build_fast_path is not None
            with self._lock:
                if self._fast_path is None:
                    self._fast_path = self._build_fast_path()
                    gc.freeze()  # see _adapt
                fast_path = self._fast_path
        return fast_path

    def _adapt(self) -> _Adapter:
        adapter = self._adapter
        if adapter is None:
            # Lambda invokes one event at a time; the lock only matters to other callers.
            with self._lock:
                if self._adapter is None:
                    self._adapter = self._build()
                    # Everything built so far (modules, the app) lives as long as the
                    # environment: out of the collector's sight, a later invocation does not pay
                    # for a full collection that scans it all (~50 ms, measured on the second
                    # invocation).
                    gc.freeze()
                adapter = self._adapter
        return adapter

    def _build(self) -> _Adapter:
        from mangum import Mangum
        from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

        # "+json": problem details and GraphQL responses go out as text, not base64.
        adapter: _Adapter = Mangum(
            self._build_app(),
            lifespan="off",
            text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "+json"],
        )
        return adapter


def strip_stage(event: Mapping[str, Any]) -> dict[str, Any]:
    """`event` with the `/<stage>` prefix of a named stage removed from its path (a copy).

    `rawPath` and `requestContext.http.path` both carry the prefix on a named stage; both are
    rewritten so that whatever reads either sees the path the app routes on. Events of the
    `$default` stage, and paths that do not start with the stage segment, pass unchanged.
    """
    context = event.get("requestContext") or {}
    stage = context.get("stage")
    if not stage or stage == "$default":
        return dict(event)
    prefix = f"/{stage}"
    stripped = dict(event)
    if "rawPath" in event:
        stripped["rawPath"] = _without_prefix(event["rawPath"], prefix)
    http = context.get("http")
    if isinstance(http, Mapping) and "path" in http:
        stripped["requestContext"] = {
            **context,
            "http": {**http, "path": _without_prefix(http["path"], prefix)},
        }
    return stripped


def _without_prefix(path: str, prefix: str) -> str:
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return path
