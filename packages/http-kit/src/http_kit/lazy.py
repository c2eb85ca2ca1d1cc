"""An ASGI app that builds the real one on its first request, and the GraphQL routes using it.

Importing strawberry and building a schema takes about a second on a small machine (see the
README's performance notes). A process that only serves REST, and a Lambda cold start, must not
pay for it: the GraphQL paths are routed to a `LazyASGIApp` whose factory imports strawberry the
first time a GraphQL request arrives. This module imports Starlette's thread pool helper only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["LazyASGIApp", "mount_lazy_graphql"]


class LazyASGIApp:
    """Delegates to the ASGI app `factory()` returns, calling `factory` once, on first use.

    If `factory` raises, the request fails (the service's catch-all answers 500) and the next
    request tries again. `load()` builds the app ahead of time, e.g. to warm a process up.
    """

    def __init__(self, factory: Callable[[], ASGIApp]) -> None:
        self._factory = factory
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the real app has been built."""
        return self._app is not None

    def load(self) -> ASGIApp:
        """The real app, built now if it was not yet (thread-safe; built only once)."""
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._factory()
                app = self._app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            # In a worker thread: while the imports run, the event loop keeps serving the
            # other requests (REST ones, or GraphQL ones that then wait on the lock).
            app = await run_in_threadpool(self.load)
        await app(scope, receive, send)


def mount_lazy_graphql(app: Starlette, path: str, factory: Callable[[], ASGIApp]) -> LazyASGIApp:
    """Serve `factory()`'s app at `path` and `path + "/"` on `app`, built on the first request.

    The routes are plain Starlette routes, left out of the OpenAPI document (a GraphQL schema is
    published by introspection). The endpoint is also `app.state.graphql` (to warm it up).
    """
    endpoint = LazyASGIApp(factory)
    for route in (path, f"{path}/"):
        # Both paths explicitly: a redirect of a POST to the slash form would lose clients.
        app.router.add_route(route, endpoint, include_in_schema=False)  # type: ignore[arg-type]
    app.state.graphql = endpoint
    return endpoint
