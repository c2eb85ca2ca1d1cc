"""GraphQL API of the command service: the write schema of API.md at `/command/graphql`.

`mount_graphql(app)` routes `/command/graphql` and `/command/graphql/` to a lazily built
strawberry app. Nothing here imports strawberry: the first GraphQL request does (see
`command_service.graphql.lazy`), so REST-only processes and Lambda cold starts do not pay for it.

- `command_service.graphql.schema`: the strawberry types and resolvers (`create_schema()`).
  Every mutation parses its input with the domain's parsers and runs through the app's
  `CommandHandler`, exactly as the REST routes do.
- `command_service.graphql.view`: the ASGI app (`create_graphql_app()`) and its error format.
- `command_service.graphql.errors`: which `extensions.code` each error gets.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from command_service.graphql.lazy import LazyASGIApp

__all__ = ["GRAPHQL_PATH", "LazyASGIApp", "mount_graphql"]

GRAPHQL_PATH = "/command/graphql"
"""Where the GraphQL endpoint answers (with or without a trailing slash)."""


def _build_graphql_app() -> ASGIApp:
    from command_service.graphql.view import create_graphql_app

    return create_graphql_app()


def mount_graphql(app: FastAPI) -> LazyASGIApp:
    """Serve GraphQL at `GRAPHQL_PATH` (and with a trailing slash) on `app`; return the endpoint.

    The routes are plain Starlette routes, left out of the OpenAPI document: the GraphQL schema
    is published by introspection and in `docs/graphql/command.graphql`. The mutations use
    `app.state.command_handler`, which `create_app` sets.
    """
    endpoint = LazyASGIApp(_build_graphql_app)
    for path in (GRAPHQL_PATH, f"{GRAPHQL_PATH}/"):
        # Both paths explicitly: a redirect of a POST to the slash form would lose clients.
        app.router.add_route(path, endpoint, include_in_schema=False)  # type: ignore[arg-type]
    app.state.graphql = endpoint
    return endpoint
