"""Test helpers for apps served through `http_kit.asgi_fast_path` (not used by the services)."""

from __future__ import annotations

from typing import Any

from http_kit.asgi_fast_path import FastPathMiddleware, Receive, Scope, Send

__all__ = ["fall_throughs"]


def fall_throughs(app: Any) -> list[str]:
    """A list that records the paths of the HTTP requests `app`'s `FastPathMiddleware` hands to
    the app behind it (the requests its fast path does not answer).

    `app` is a `http_kit.fast_path_app.FastPathApp` serving the middleware in front, or a
    Starlette/FastAPI app with the middleware installed: then its middleware stack is built here
    (as it is on its first request). The layer behind the middleware is wrapped.
    """
    layer: Any = getattr(app, "fast_path_front", None)
    if layer is None:
        app.middleware_stack = app.build_middleware_stack()
        layer = app.middleware_stack
        while not isinstance(layer, FastPathMiddleware):
            layer = layer.app
    behind, paths = layer.app, []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            paths.append(str(scope["path"]))
        await behind(scope, receive, send)

    layer.app = recording
    return paths
