"""The read schema of API.md (names, casing and nullability are the contract), on strawberry.

Every query runs the same `read_model.queries` function as its REST counterpart, so the
visibility rules are the same: the caller (`userAccountId`) sees a group chat only while it is a
current member of it. A single-object read of something the caller may not see is a `"404"`
error, exactly like a read of something that does not exist; a list read gives `[]`.

`getMessages` returns the chat's newest `PAGE_SIZE_MAX` messages (200 by default), oldest first.
The REST API pages further back (`GET /query/v1/group-chats/{id}/messages?before=`); this field
keeps API.md's signature, which has no paging arguments.

The queries block on the database, so they run in the thread pool, as FastAPI runs the
synchronous REST routes. Importing this module imports strawberry: only
`query_service.graphql.view` does, on the first GraphQL request.
"""

# No `from __future__ import annotations`: strawberry reads these annotations at runtime.
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

import strawberry
from chat_domain.ids import GroupChatId, MessageId, UserAccountId
from http_kit.graphql_limits import document_limits
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from strawberry.schema.config import StrawberryConfig

from query_service import traced_queries as queries
from query_service.errors import ProblemError
from query_service.routers.group_chats import group_chat_not_found
from query_service.schemas import format_timestamp
from query_service.settings import Settings

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_TOKENS",
    "QueryContext",
    "create_schema",
]

MAX_ALIASES = 20
"""Most aliases one document may use: each aliased field is one more database query."""
MAX_DEPTH = 8
"""Deepest selection a document may have (introspection excluded; graphql-core bounds it).
Every operation of this schema is two levels deep: the limit only refuses abuse."""
MAX_TOKENS = 1000
"""Most lexical tokens a document may have, checked while parsing: a huge document is refused
before it costs more (the standard introspection query has about 160)."""

_GROUP_CHAT_ID = "Group chat id: `GroupChat-<ULID>` or the bare ULID."
_CALLER = "The caller: `UserAccount-<ULID>` or the bare ULID."
_MESSAGE_ID = "Message id (a ULID)."
_TIME = "ISO 8601 UTC with milliseconds, e.g. `2026-11-28T10:00:00.123Z`."

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _anyone(_caller: str) -> None:
    """No authentication: every caller is who it says it is."""


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What the resolvers get as `info.context`.

    `authorize(caller)` raises `auth.AuthError` (401/403) unless the request's authenticated
    caller is `caller` (a no-op with authentication off; see `query_service.authentication`).
    """

    engine: Engine
    settings: Settings
    authorize: Callable[[str], None] = _anyone


Info = strawberry.Info[QueryContext, None]


async def _read(query: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    return await run_in_threadpool(query, *args, **kwargs)


# -- outputs -------------------------------------------------------------------------------------


@strawberry.type(description="A group chat the caller is a member of.")
class GroupChatOutput:
    id: str = strawberry.field(description="`GroupChat-<ULID>`.")
    name: str = strawberry.field(description="The chat's name.")
    owner_id: str = strawberry.field(description="The creator: `UserAccount-<ULID>`.")
    created_at: str = strawberry.field(description=_TIME)
    updated_at: str = strawberry.field(description=_TIME)

    @classmethod
    def of(cls, view: queries.GroupChatView) -> "GroupChatOutput":
        return cls(
            id=view.id,
            name=view.name,
            owner_id=view.owner_id,
            created_at=format_timestamp(view.created_at),
            updated_at=format_timestamp(view.updated_at),
        )


@strawberry.type(description="A current member of a group chat.")
class MemberOutput:
    id: str = strawberry.field(description="The membership's id (a ULID).")
    group_chat_id: str = strawberry.field(description="`GroupChat-<ULID>`.")
    user_account_id: str = strawberry.field(description="The member: `UserAccount-<ULID>`.")
    role: str = strawberry.field(description="`administrator` or `member`.")
    created_at: str = strawberry.field(description=_TIME)
    updated_at: str = strawberry.field(description=_TIME)

    @classmethod
    def of(cls, view: queries.MemberView) -> "MemberOutput":
        return cls(
            id=view.id,
            group_chat_id=view.group_chat_id,
            user_account_id=view.user_account_id,
            role=view.role,
            created_at=format_timestamp(view.created_at),
            updated_at=format_timestamp(view.updated_at),
        )


@strawberry.type(description="A message that has not been deleted.")
class MessageOutput:
    id: str = strawberry.field(description="The message's id (a ULID).")
    group_chat_id: str = strawberry.field(description="`GroupChat-<ULID>`.")
    user_account_id: str = strawberry.field(description="The sender: `UserAccount-<ULID>`.")
    text: str = strawberry.field(description="The content.")
    created_at: str = strawberry.field(description=_TIME)
    updated_at: str = strawberry.field(description=_TIME)

    @classmethod
    def of(cls, view: queries.MessageView) -> "MessageOutput":
        return cls(
            id=view.id,
            group_chat_id=view.group_chat_id,
            user_account_id=view.user_account_id,
            text=view.text,
            created_at=format_timestamp(view.created_at),
            updated_at=format_timestamp(view.updated_at),
        )


# -- queries -------------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="One group chat the caller is a member of.")
    async def get_group_chat(
        self,
        info: Info,
        group_chat_id: Annotated[str, strawberry.argument(description=_GROUP_CHAT_ID)],
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> GroupChatOutput:
        chat = str(GroupChatId.parse(group_chat_id, field="groupChatId"))
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        view = await _read(queries.get_group_chat, info.context.engine, chat, caller)
        if view is None:
            raise group_chat_not_found(chat)
        return GroupChatOutput.of(view)

    @strawberry.field(description="The group chats the caller is a member of, newest first.")
    async def get_group_chats(
        self,
        info: Info,
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> list[GroupChatOutput]:
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        views = await _read(queries.get_group_chats, info.context.engine, caller)
        return [GroupChatOutput.of(view) for view in views]

    @strawberry.field(description="The caller's own membership of a group chat.")
    async def get_member(
        self,
        info: Info,
        group_chat_id: Annotated[str, strawberry.argument(description=_GROUP_CHAT_ID)],
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> MemberOutput:
        chat = str(GroupChatId.parse(group_chat_id, field="groupChatId"))
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        view = await _read(queries.get_member, info.context.engine, chat, caller, caller)
        if view is None:
            # The caller is not a current member: the chat is not visible to it either.
            raise ProblemError.not_found(
                "member_not_found", f"{caller} is not a member of a group chat {chat}"
            )
        return MemberOutput.of(view)

    @strawberry.field(
        description="The current members of a group chat, oldest first "
        "(empty when the caller may not see the chat)."
    )
    async def get_members(
        self,
        info: Info,
        group_chat_id: Annotated[str, strawberry.argument(description=_GROUP_CHAT_ID)],
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> list[MemberOutput]:
        chat = str(GroupChatId.parse(group_chat_id, field="groupChatId"))
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        views = await _read(queries.get_members, info.context.engine, chat, caller)
        return [MemberOutput.of(view) for view in views or ()]

    @strawberry.field(description="One message of a group chat the caller is a member of.")
    async def get_message(
        self,
        info: Info,
        message_id: Annotated[str, strawberry.argument(description=_MESSAGE_ID)],
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> MessageOutput:
        message = str(MessageId.parse(message_id, field="messageId"))
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        view = await _read(queries.get_message, info.context.engine, message, caller)
        if view is None:
            raise ProblemError.not_found(
                "message_not_found", f"no message {message} visible to the caller"
            )
        return MessageOutput.of(view)

    @strawberry.field(
        description="The newest messages of a group chat (at most the service's `PAGE_SIZE_MAX`, "
        "200 by default), oldest first; empty when the caller may not see the chat."
    )
    async def get_messages(
        self,
        info: Info,
        group_chat_id: Annotated[str, strawberry.argument(description=_GROUP_CHAT_ID)],
        user_account_id: Annotated[str, strawberry.argument(description=_CALLER)],
    ) -> list[MessageOutput]:
        chat = str(GroupChatId.parse(group_chat_id, field="groupChatId"))
        caller = str(UserAccountId.parse(user_account_id, field="userAccountId"))
        info.context.authorize(caller)
        page = await _read(
            queries.get_messages,
            info.context.engine,
            chat,
            caller,
            limit=info.context.settings.page_size_max,
        )
        return [] if page is None else [MessageOutput.of(view) for view in page.items]


def create_schema(schema_class: type[strawberry.Schema] = strawberry.Schema) -> strawberry.Schema:
    """The read schema. `schema_class` lets the view plug in its error logging."""
    return schema_class(
        query=Query,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=document_limits(
            max_tokens=MAX_TOKENS, max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES
        ),
    )
