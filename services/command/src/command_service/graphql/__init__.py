"""GraphQL API of the command service: the write schema of API.md at `/command/graphql`.

`mount_graphql(app)` routes `/command/graphql` and `/command/graphql/` to a lazily built
strawberry app. Nothing here imports strawberry: the first GraphQL request does (see
`http_kit.lazy`), so REST-only processes and Lambda cold starts do not pay for it.

- `command_service.graphql.schema`: the strawberry types and resolvers (`create_schema()`).
  Every mutation parses its input with the domain's parsers and runs through the app's
  `CommandHandler`, exactly as the REST routes do.
- `command_service.graphql.view`: the ASGI app (`create_graphql_app()`) and its error format.
- `command_service.graphql.errors`: which `extensions.code` each error gets.
"""

from __future__ import annotations

from fastapi import FastAPI
from http_kit.lazy import LazyASGIApp, mount_lazy_graphql
from starlette.types import ASGIApp

from command_service.paths import GRAPHQL_PATH  # where it answers (with or without a "/")

__all__ = ["GRAPHQL_PATH", "LazyASGIApp", "mount_graphql"]


def _build_graphql_app() -> ASGIApp:
    from command_service.graphql.view import create_graphql_app

    return create_graphql_app()


def mount_graphql(app: FastAPI) -> LazyASGIApp:
    """Serve GraphQL at `GRAPHQL_PATH` (and with a trailing slash) on `app`; return the endpoint.

    The routes are plain Starlette routes, left out of the OpenAPI document: the GraphQL schema
    is published by introspection and in `docs/graphql/command.graphql`. The mutations use
    `app.state.command_handler`, which `create_app` sets.
    """
    return mount_lazy_graphql(app, GRAPHQL_PATH, _build_graphql_app)
