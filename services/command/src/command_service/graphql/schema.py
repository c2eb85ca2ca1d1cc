"""The write schema of API.md (names, casing and nullability are the contract), on strawberry.

Each mutation parses its input with the domain's parsers (which name the offending field) and
runs the command through the app's `CommandHandler`, like the REST routes: one set of rules,
whichever API a command comes through. The handler blocks on the event store, so it runs in the
thread pool, as FastAPI runs the synchronous REST routes.

Every input also has an optional `idempotencyKey: String` (API.md's inputs are all required;
an optional field added to them keeps every existing client working): a mutation sent again
with the same key and the same other fields returns the original output and appends nothing,
as the REST `Idempotency-Key` header does (see `command_service.idempotency`). REST and GraphQL
share the keys: a retry may even switch API.

Importing this module imports strawberry: only `command_service.graphql.view` does, on the first
GraphQL request.
"""

# No `from __future__ import annotations`: strawberry reads these annotations at runtime.
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import strawberry
from chat_domain import (
    AddMember,
    Command,
    CreateGroupChat,
    DeleteGroupChat,
    DeleteMessage,
    EditMessage,
    PostMessage,
    RemoveMember,
    RenameGroupChat,
    UserAccountId,
)
from http_kit.graphql_limits import document_limits
from starlette.concurrency import run_in_threadpool
from strawberry.schema.config import StrawberryConfig

from command_service.handlers import CommandHandler
from command_service.idempotency import CommandResponse, IdempotencyKey, parse_client_key

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_TOKENS",
    "CommandContext",
    "create_schema",
]

MAX_ALIASES = 20
"""Most aliases one document may use: each aliased mutation is one more command to run."""
MAX_DEPTH = 8
"""Deepest selection a document may have (introspection excluded; graphql-core bounds it).
Every operation of this schema is two levels deep: the limit only refuses abuse."""
MAX_TOKENS = 1000
"""Most lexical tokens a document may have, checked while parsing: a huge document is refused
before it costs more (the standard introspection query has about 160)."""

_GROUP_CHAT_ID = "Group chat id: `GroupChat-<ULID>` or the bare ULID."
_EXECUTOR_ID = "The user account running the command: `UserAccount-<ULID>` or the bare ULID."
_USER_ACCOUNT_ID = "The member's user account: `UserAccount-<ULID>` or the bare ULID."
_MESSAGE_ID = "Message id (a ULID)."
_NAME = "1-100 characters after trimming."
_CONTENT = "1-4,000 characters, not blank."
_ROLE = "`administrator` or `member`, case-insensitive (`ADMIN` is also accepted)."
_IDEMPOTENCY_KEY = (
    "Optional. Makes the mutation idempotent: sent again with the same key and the same other "
    "fields, it returns the original output and changes nothing. 1-255 printable ASCII "
    "characters (e.g. a UUID), kept 24 hours; the same key with other fields is an error "
    '(`"422"`, reason `idempotency_key_reused`).'
)


def _anyone(_executor_id: UserAccountId) -> None:
    """No authentication: every executor is allowed."""


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What the resolvers get as `info.context`.

    `authorize(executor_id)` raises `auth.AuthError` (401/403) unless the request's caller may
    act as that executor (see `command_service.authentication`).
    """

    handler: CommandHandler
    authorize: Callable[[UserAccountId], None] = _anyone


Info = strawberry.Info[CommandContext, None]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


async def _execute(info: Info, command: Command, input: object) -> CommandResponse:
    """Run `command` through the handler (idempotently when the input carries a key)."""
    info.context.authorize(command.executor_id)
    key = getattr(input, "idempotency_key", None)
    idempotency = None
    if key is not None:
        # The fingerprint covers the fields under their wire names, as REST's body does.
        fields = {
            _camel(f.name): getattr(input, f.name)
            for f in dataclasses.fields(input)  # type: ignore[arg-type]
            if f.name != "idempotency_key"
        }
        idempotency = IdempotencyKey.of(
            parse_client_key(key, field="idempotencyKey"), command, fields
        )
    handler = info.context.handler
    response: CommandResponse = await run_in_threadpool(
        partial(handler.execute, command, idempotency=idempotency)
    )
    return response


# -- outputs -------------------------------------------------------------------------------------


@strawberry.type(description="The group chat a command applied to.")
class GroupChatOutput:
    group_chat_id: str = strawberry.field(description="`GroupChat-<ULID>`.")


@strawberry.type(description="The group chat and the message a command applied to.")
class MessageOutput:
    group_chat_id: str = strawberry.field(description="`GroupChat-<ULID>`.")
    message_id: str = strawberry.field(description="The message's ULID.")


@strawberry.type(description="Liveness of the command service.")
class HealthCheckOutput:
    value: str = strawberry.field(description='Always `"OK"`.')


def _group_chat(response: CommandResponse) -> GroupChatOutput:
    return GroupChatOutput(group_chat_id=response.body["groupChatId"])


def _message(response: CommandResponse) -> MessageOutput:
    return MessageOutput(
        group_chat_id=response.body["groupChatId"], message_id=response.body["messageId"]
    )


# -- inputs --------------------------------------------------------------------------------------


@strawberry.input(description="Create a group chat; the executor becomes its administrator.")
class CreateGroupChatInput:
    name: str = strawberry.field(description=_NAME)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Rename a group chat (administrators).")
class RenameGroupChatInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    name: str = strawberry.field(description=_NAME)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Delete a group chat (administrators).")
class DeleteGroupChatInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Add a member (administrators).")
class AddMemberInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    user_account_id: str = strawberry.field(description=_USER_ACCOUNT_ID)
    role: str = strawberry.field(description=_ROLE)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Remove a member (administrators).")
class RemoveMemberInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    user_account_id: str = strawberry.field(description=_USER_ACCOUNT_ID)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Post a message (members).")
class PostMessageInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    content: str = strawberry.field(description=_CONTENT)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Edit a message (its sender).")
class EditMessageInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    message_id: str = strawberry.field(description=_MESSAGE_ID)
    content: str = strawberry.field(description=_CONTENT)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


@strawberry.input(description="Delete a message (its sender or an administrator).")
class DeleteMessageInput:
    group_chat_id: str = strawberry.field(description=_GROUP_CHAT_ID)
    message_id: str = strawberry.field(description=_MESSAGE_ID)
    executor_id: str = strawberry.field(description=_EXECUTOR_ID)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)


# -- operations ----------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description='`{ value: "OK" }` while the service answers.')
    def health_check(self) -> HealthCheckOutput:
        return HealthCheckOutput(value="OK")


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a group chat; the executor becomes its administrator.")
    async def create_group_chat(self, info: Info, input: CreateGroupChatInput) -> GroupChatOutput:
        command = CreateGroupChat.parse(
            name=input.name, executor_id=input.executor_id, generator=info.context.handler.generator
        )
        return _group_chat(await _execute(info, command, input))

    @strawberry.mutation(description="Rename a group chat (administrators).")
    async def rename_group_chat(self, info: Info, input: RenameGroupChatInput) -> GroupChatOutput:
        command = RenameGroupChat.parse(
            group_chat_id=input.group_chat_id, name=input.name, executor_id=input.executor_id
        )
        return _group_chat(await _execute(info, command, input))

    @strawberry.mutation(description="Delete a group chat (administrators).")
    async def delete_group_chat(self, info: Info, input: DeleteGroupChatInput) -> GroupChatOutput:
        command = DeleteGroupChat.parse(
            group_chat_id=input.group_chat_id, executor_id=input.executor_id
        )
        return _group_chat(await _execute(info, command, input))

    @strawberry.mutation(description="Add a member (administrators).")
    async def add_member(self, info: Info, input: AddMemberInput) -> GroupChatOutput:
        command = AddMember.parse(
            group_chat_id=input.group_chat_id,
            user_account_id=input.user_account_id,
            role=input.role,
            executor_id=input.executor_id,
            generator=info.context.handler.generator,
        )
        return _group_chat(await _execute(info, command, input))

    @strawberry.mutation(description="Remove a member (administrators).")
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> GroupChatOutput:
        command = RemoveMember.parse(
            group_chat_id=input.group_chat_id,
            user_account_id=input.user_account_id,
            executor_id=input.executor_id,
        )
        return _group_chat(await _execute(info, command, input))

    @strawberry.mutation(description="Post a message (members).")
    async def post_message(self, info: Info, input: PostMessageInput) -> MessageOutput:
        command = PostMessage.parse(
            group_chat_id=input.group_chat_id,
            content=input.content,
            executor_id=input.executor_id,
            generator=info.context.handler.generator,
        )
        return _message(await _execute(info, command, input))

    @strawberry.mutation(description="Edit a message (its sender).")
    async def edit_message(self, info: Info, input: EditMessageInput) -> MessageOutput:
        command = EditMessage.parse(
            group_chat_id=input.group_chat_id,
            message_id=input.message_id,
            content=input.content,
            executor_id=input.executor_id,
        )
        return _message(await _execute(info, command, input))

    @strawberry.mutation(description="Delete a message (its sender or an administrator).")
    async def delete_message(self, info: Info, input: DeleteMessageInput) -> GroupChatOutput:
        command = DeleteMessage.parse(
            group_chat_id=input.group_chat_id,
            message_id=input.message_id,
            executor_id=input.executor_id,
        )
        return _group_chat(await _execute(info, command, input))


def create_schema(schema_class: type[strawberry.Schema] = strawberry.Schema) -> strawberry.Schema:
    """The write schema. `schema_class` lets the view plug in its error logging."""
    return schema_class(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(auto_camel_case=True),
        extensions=document_limits(
            max_tokens=MAX_TOKENS, max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES
        ),
    )
