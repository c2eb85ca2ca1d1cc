"""REST routes: the group-chat commands under `/command/v1/group-chats`, and the health check.

Endpoints are plain `def`s: FastAPI runs them in its thread pool, which is what the synchronous
event store needs. The request models (`command_service.schemas`) give the OpenAPI document and
the JSON shape check; what a command does is `command_service.rest_commands.execute`, shared with
the Lambda fast path (`command_service.lambda_routes`): the domain's parsers validate every value
and name the field, the `CommandHandler` runs the command, the answer carries the ids.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from command_service import rest_commands
from command_service.authentication import authorize_executor
from command_service.handlers import CommandHandler
from command_service.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER
from command_service.problems import PROBLEM_MEDIA_TYPE
from command_service.rest_commands import GROUP_CHATS_PREFIX, HEALTHCHECK_PATH, RestCommand
from command_service.schemas import (
    AddMemberRequest,
    CreateGroupChatRequest,
    DeleteGroupChatRequest,
    DeleteMessageRequest,
    EditMessageRequest,
    GroupChatIdResponse,
    MessageIdResponse,
    PostMessageRequest,
    RemoveMemberRequest,
    RenameGroupChatRequest,
)

__all__ = [
    "GROUP_CHATS_PREFIX",
    "HEALTHCHECK_PATH",
    "CommandHandlerDep",
    "IdempotencyKeyHeader",
    "get_command_handler",
    "group_chats_router",
    "health_router",
    "problem_responses",
]

_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`): malformed JSON, a missing field or a wrong type, "
    "or an invalid id, name, content or role. `detail` (and `field`) name the field.",
    404: "No such group chat (`group_chat_not_found`).",
    409: "The group chat kept being modified concurrently (`conflict`): send the command again. "
    "On create: the id is taken (`group_chat_already_exists`). A concurrent request with the "
    "same `Idempotency-Key` is still in progress (`idempotency_in_progress`).",
    413: "The request body is larger than the limit (`payload_too_large`).",
    422: "The command breaks a rule of the group chat; `code` names it (e.g. "
    "`not_an_administrator`, `group_chat_deleted`, `not_a_member`, `too_many_members`, "
    "`too_many_messages`), or the `Idempotency-Key` was already used for a different request "
    "(`idempotency_key_reused`).",
    500: "Unexpected server error (`internal_error`).",
    503: "The event store is unavailable (`service_unavailable`); retry after `Retry-After`.",
}
_COMMAND_ERRORS = (400, 404, 409, 413, 422, 500, 503)
_CREATE_ERRORS = (400, 409, 413, 422, 500, 503)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries (problem+json) for the error `statuses` of an operation."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


async def get_command_handler(request: Request) -> CommandHandler:
    """The application's `CommandHandler` (built by `create_app`)."""
    handler: CommandHandler = request.app.state.command_handler
    return handler


CommandHandlerDep = Annotated[CommandHandler, Depends(get_command_handler)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        description="Makes the command idempotent: a retry with the same key and the same body "
        "gets the original response (status and body; header `Idempotent-Replayed: true`) and "
        "appends nothing. 1 to 255 printable ASCII characters, e.g. a UUID; kept 24 hours. The "
        "same key with a different body is 422 `idempotency_key_reused`.",
        examples=["4f7d2c8e-9b1a-4c3e-8f6d-2a5b7c9e1d3f"],
    ),
]


def _respond(
    request: Request,
    handler: CommandHandler,
    command: RestCommand,
    body: BaseModel,
    key: str | None,
) -> JSONResponse:
    """Run `command` with the fields of `body` (idempotently when a key is given) and answer
    with its response. With authentication on, only the executor itself may run it."""
    authenticator = request.app.state.authenticator
    response = rest_commands.execute(
        command,
        body.model_dump(by_alias=True),
        handler,
        authorize=lambda executor_id: authorize_executor(authenticator, request.scope, executor_id),
        idempotency_key=key,
    )
    headers = {IDEMPOTENT_REPLAYED_HEADER: "true"} if response.replayed else None
    return JSONResponse(dict(response.body), status_code=response.status, headers=headers)


def health_router() -> APIRouter:
    """`GET /command/v1/healthcheck`: 200 `OK` (text/plain) while the process serves requests."""
    router = APIRouter(tags=["health"])

    @router.get(
        HEALTHCHECK_PATH,
        operation_id="healthcheck",
        summary="Liveness check",
        response_class=PlainTextResponse,
        responses={200: {"description": "`OK`", "content": {"text/plain": {"example": "OK"}}}},
    )
    async def healthcheck() -> str:
        return "OK"

    return router


def group_chats_router() -> APIRouter:
    """The eight group-chat commands of API.md, under `/command/v1/group-chats`."""
    router = APIRouter(prefix=GROUP_CHATS_PREFIX, tags=["group chats"])

    @router.post(
        "/create",
        operation_id="createGroupChat",
        summary="Create a group chat; the executor becomes its administrator",
        status_code=201,
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_CREATE_ERRORS),
    )
    def create_group_chat(
        body: CreateGroupChatRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.CREATE, body, idempotency_key)

    @router.post(
        "/rename",
        operation_id="renameGroupChat",
        summary="Rename a group chat (administrators)",
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def rename_group_chat(
        body: RenameGroupChatRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.RENAME, body, idempotency_key)

    @router.post(
        "/delete",
        operation_id="deleteGroupChat",
        summary="Delete a group chat (administrators)",
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def delete_group_chat(
        body: DeleteGroupChatRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.DELETE, body, idempotency_key)

    @router.post(
        "/add-member",
        operation_id="addMember",
        summary="Add a member (administrators)",
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def add_member(
        body: AddMemberRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.ADD_MEMBER, body, idempotency_key)

    @router.post(
        "/remove-member",
        operation_id="removeMember",
        summary="Remove a member (administrators)",
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def remove_member(
        body: RemoveMemberRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.REMOVE_MEMBER, body, idempotency_key)

    @router.post(
        "/post-message",
        operation_id="postMessage",
        summary="Post a message (members)",
        status_code=201,
        response_model=MessageIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def post_message(
        body: PostMessageRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.POST_MESSAGE, body, idempotency_key)

    @router.post(
        "/edit-message",
        operation_id="editMessage",
        summary="Edit a message (its sender)",
        response_model=MessageIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def edit_message(
        body: EditMessageRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.EDIT_MESSAGE, body, idempotency_key)

    @router.post(
        "/delete-message",
        operation_id="deleteMessage",
        summary="Delete a message (its sender or an administrator)",
        response_model=GroupChatIdResponse,
        responses=problem_responses(*_COMMAND_ERRORS),
    )
    def delete_message(
        body: DeleteMessageRequest,
        handler: CommandHandlerDep,
        request: Request,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        return _respond(request, handler, rest_commands.DELETE_MESSAGE, body, idempotency_key)

    return router
