"""Group chats: `GET /query/v1/group-chats` and `GET /query/v1/group-chats/{groupChatId}`.

What they answer is `query_service.rest`'s (shared with the Lambda fast path); the response
models here only describe it in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from query_service import rest
from query_service.dependencies import Caller, EngineDep, GroupChatIdDep
from query_service.errors import group_chat_not_found
from query_service.problems import problem_responses
from query_service.schemas import GroupChat

__all__ = ["create_router", "group_chat_not_found", "json_response"]


def json_response(body: rest.Json) -> Response:
    """A 200 with `body` rendered by `rest.render_json` (the bytes the Lambda fast path sends)."""
    return Response(rest.render_json(body), media_type=rest.JSON_MEDIA_TYPE)


def create_router() -> APIRouter:
    """The group-chat routes."""
    router = APIRouter(prefix="/query/v1/group-chats", tags=["group chats"])

    @router.get(
        "",
        response_model=list[GroupChat],
        operation_id="getGroupChats",
        summary="The caller's group chats, newest first",
        responses=problem_responses(400, 503),
    )
    def get_group_chats(engine: EngineDep, caller: Caller) -> Response:
        return json_response(rest.group_chats(engine, caller))

    @router.get(
        "/{groupChatId}",
        response_model=GroupChat,
        operation_id="getGroupChat",
        summary="One group chat the caller is a member of",
        responses=problem_responses(400, 404, 503),
    )
    def get_group_chat(
        engine: EngineDep, group_chat_id: GroupChatIdDep, caller: Caller
    ) -> Response:
        return json_response(rest.group_chat(engine, group_chat_id, caller))

    return router
