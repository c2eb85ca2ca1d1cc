"""GraphQL API of the query service: the read schema of API.md at `/query/graphql`.

`mount_graphql(app)` routes `/query/graphql` and `/query/graphql/` to a lazily built strawberry
app. Nothing here imports strawberry: the first GraphQL request does (see
`http_kit.lazy`), so REST-only processes and Lambda cold starts do not pay for it.

- `query_service.graphql.schema`: the strawberry types and resolvers (`create_schema()`). Every
  query runs the same `read_model.queries` function as its REST counterpart, with the same
  visibility rules.
- `query_service.graphql.view`: the ASGI app (`create_graphql_app()`) and its error format.
- `query_service.graphql.errors`: which `extensions.code` each error gets.
"""

from __future__ import annotations

from fastapi import FastAPI
from http_kit.lazy import LazyASGIApp, mount_lazy_graphql
from starlette.types import ASGIApp

__all__ = ["GRAPHQL_PATH", "LazyASGIApp", "mount_graphql"]

GRAPHQL_PATH = "/query/graphql"
"""Where the GraphQL endpoint answers (with or without a trailing slash)."""


def _build_graphql_app() -> ASGIApp:
    from query_service.graphql.view import create_graphql_app

    return create_graphql_app()


def mount_graphql(app: FastAPI) -> LazyASGIApp:
    """Serve GraphQL at `GRAPHQL_PATH` (and with a trailing slash) on `app`; return the endpoint.

    The routes are plain Starlette routes, left out of the OpenAPI document: the GraphQL schema
    is published by introspection and in `docs/graphql/query.graphql`. The resolvers use
    `app.state.engine` and `app.state.settings`, which `create_app` sets.
    """
    return mount_lazy_graphql(app, GRAPHQL_PATH, _build_graphql_app)
