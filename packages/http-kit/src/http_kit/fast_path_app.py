"""A FastAPI app whose framework-free REST endpoints are served before FastAPI sees a request.

`FastPathMiddleware` added with `app.add_middleware` sits inside FastAPI's own layers: every
request it serves still goes through `FastAPI.__call__`, Starlette's `ServerErrorMiddleware`,
FastAPI's exception-telemetry and body-limit middleware (with a check per request of whether
FastAPI's native OpenTelemetry support is on), and each of them is resumed again whenever the
request awaits. `FastPathApp.serve_fast_path` puts the middleware in front of all that: the
requests it routes never enter FastAPI, and the rest (GraphQL, docs, OpenAPI, unknown paths,
the lifespan) go through `FastAPI.__call__` as before. What a client gets does not change: the
middleware already answers its own 405s, 413s and 500s (the parity tests compare the answers
with FastAPI's routes).

With tracing on, the middleware stays inside the app instead (added last, so outermost among
the app's own middleware): OpenTelemetry's FastAPI instrumentation wraps the app's middleware
stack, and its server span must enclose these requests as it encloses the others.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import telemetry
from fastapi import FastAPI

from http_kit.asgi_fast_path import FastPathMiddleware, Receive, Scope, Send

__all__ = ["FastPathApp"]


class FastPathApp(FastAPI):
    """`FastAPI`, plus `serve_fast_path` (see the module docstring)."""

    _fast_path_front: FastPathMiddleware | None = None

    def serve_fast_path(self, **options: Any) -> None:
        """Serve a `FastPathMiddleware(app, **options)` first; call once, after the routes and
        middleware are added and telemetry is configured."""
        if telemetry.tracing_enabled():
            self.add_middleware(FastPathMiddleware, **options)
        else:
            self._fast_path_front = FastPathMiddleware(partial(FastAPI.__call__, self), **options)

    @property
    def fast_path_front(self) -> FastPathMiddleware | None:
        """The middleware serving before FastAPI; None when there is none in front (tracing on,
        or `serve_fast_path` not called)."""
        return self._fast_path_front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._fast_path_front
        if front is None:
            await super().__call__(scope, receive, send)
        else:
            await front(scope, receive, send)
