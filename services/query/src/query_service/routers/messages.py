"""Messages: `GET /query/v1/group-chats/{groupChatId}/messages` (cursor pages) and
`GET /query/v1/messages/{messageId}`."""

# No `from __future__ import annotations` here: the `limit` parameter's annotation refers to the
# factory's `settings`, which FastAPI can only see in an evaluated annotation.
from typing import Annotated

from fastapi import APIRouter, Query, Response

from query_service import rest
from query_service.dependencies import Caller, EngineDep, GroupChatIdDep, MessageIdDep
from query_service.problems import problem_responses
from query_service.routers.group_chats import json_response
from query_service.schemas import Message, MessagePage
from query_service.settings import Settings


def create_router(settings: Settings) -> APIRouter:
    """The message routes; `limit` is bounded by `settings.page_size_max`."""
    router = APIRouter(prefix="/query/v1", tags=["messages"])

    @router.get(
        "/group-chats/{groupChatId}/messages",
        response_model=MessagePage,
        operation_id="getMessages",
        summary="A page of a group chat's messages",
        description=(
            "Up to `limit` messages older than the `before` cursor (absent: the newest), oldest "
            "first within the page. `nextBefore` is the cursor for the page of older messages, "
            "or null when there is none."
        ),
        responses=problem_responses(400, 404, 503),
    )
    def get_messages(
        engine: EngineDep,
        group_chat_id: GroupChatIdDep,
        caller: Caller,
        limit: Annotated[
            int | None,
            Query(
                ge=1,
                le=settings.page_size_max,
                description=f"page size (default {settings.page_size_default})",
            ),
        ] = None,
        before: Annotated[
            str | None,
            Query(
                max_length=rest.BEFORE_MAX_LENGTH,
                description="a `nextBefore` cursor from a previous page",
            ),
        ] = None,
    ) -> Response:
        return json_response(
            rest.messages(
                engine,
                group_chat_id,
                caller,
                limit=limit or settings.page_size_default,
                before=before,
            )
        )

    @router.get(
        "/messages/{messageId}",
        response_model=Message,
        operation_id="getMessage",
        summary="One message of a group chat the caller is a member of",
        responses=problem_responses(400, 404, 503),
    )
    def get_message(engine: EngineDep, message_id: MessageIdDep, caller: Caller) -> Response:
        return json_response(rest.message(engine, message_id, caller))

    return router
