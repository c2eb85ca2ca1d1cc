"""The GraphQL ASGI app of the command service: `http_kit`'s view with this service's context.

The error format (API.md) and the request decoding are `http_kit.graphql_view`'s; which
`extensions.code` a resolver's exception gets is `command_service.graphql.errors.error_info_for`,
the REST mapping.
"""

from __future__ import annotations

from typing import Any

from http_kit.graphql_view import ApiGraphQL, LoggingSchema
from starlette.types import ASGIApp

from command_service.authentication import executor_check
from command_service.graphql.errors import error_info_for
from command_service.graphql.schema import CommandContext, create_schema

__all__ = ["CommandGraphQL", "CommandSchema", "create_graphql_app"]


class CommandSchema(LoggingSchema):
    """The write schema's class: logs only unexpected errors (with traceback) and outages."""

    error_info_for = staticmethod(error_info_for)


class CommandGraphQL(ApiGraphQL[CommandContext]):
    """strawberry's ASGI view, with the app's `CommandHandler` as context and API.md's errors."""

    error_info_for = staticmethod(error_info_for)

    async def get_context(self, request: Any, response: Any) -> CommandContext:
        state = request.app.state
        return CommandContext(
            handler=state.command_handler,
            authorize=executor_check(state.authenticator, request.scope),
        )


def create_graphql_app() -> ASGIApp:
    """The GraphQL ASGI app of the write schema (GraphiQL on GET from a browser)."""
    return CommandGraphQL(create_schema(CommandSchema), graphql_ide="graphiql")
