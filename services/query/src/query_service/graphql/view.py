"""The GraphQL ASGI app of the query service: `http_kit`'s view with this service's context.

The error format (API.md) and the request decoding are `http_kit.graphql_view`'s; which
`extensions.code` a resolver's exception gets is `query_service.graphql.errors.error_info_for`,
the REST mapping.
"""

from __future__ import annotations

from typing import Any

from http_kit.graphql_view import ApiGraphQL, LoggingSchema
from starlette.types import ASGIApp

from query_service.authentication import caller_check
from query_service.graphql.errors import error_info_for
from query_service.graphql.schema import QueryContext, create_schema

__all__ = ["QueryGraphQL", "QuerySchema", "create_graphql_app"]


class QuerySchema(LoggingSchema):
    """The read schema's class: logs only unexpected errors (with traceback) and outages."""

    error_info_for = staticmethod(error_info_for)


class QueryGraphQL(ApiGraphQL[QueryContext]):
    """strawberry's ASGI view, with the app's engine and settings as context and API.md's errors."""

    error_info_for = staticmethod(error_info_for)

    async def get_context(self, request: Any, response: Any) -> QueryContext:
        state = request.app.state
        return QueryContext(
            engine=state.engine,
            settings=state.settings,
            authorize=caller_check(state.authenticator, request.scope),
        )


def create_graphql_app() -> ASGIApp:
    """The GraphQL ASGI app of the read schema (GraphiQL on GET from a browser)."""
    return QueryGraphQL(create_schema(QuerySchema), graphql_ide="graphiql")
