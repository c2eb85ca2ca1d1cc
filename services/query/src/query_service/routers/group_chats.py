"""Group chats: `GET /query/v1/group-chats` and `GET /query/v1/group-chats/{groupChatId}`."""

from __future__ import annotations

from fastapi import APIRouter

from query_service import traced_queries as queries
from query_service.dependencies import Caller, EngineDep, GroupChatIdDep
from query_service.problems import ProblemError, problem_responses
from query_service.schemas import GroupChat


def create_router() -> APIRouter:
    """The group-chat routes."""
    router = APIRouter(prefix="/query/v1/group-chats", tags=["group chats"])

    @router.get(
        "",
        operation_id="getGroupChats",
        summary="The caller's group chats, newest first",
        responses=problem_responses(400, 503),
    )
    def get_group_chats(engine: EngineDep, caller: Caller) -> list[GroupChat]:
        return [GroupChat.of(view) for view in queries.get_group_chats(engine, str(caller))]

    @router.get(
        "/{groupChatId}",
        operation_id="getGroupChat",
        summary="One group chat the caller is a member of",
        responses=problem_responses(400, 404, 503),
    )
    def get_group_chat(
        engine: EngineDep, group_chat_id: GroupChatIdDep, caller: Caller
    ) -> GroupChat:
        view = queries.get_group_chat(engine, str(group_chat_id), str(caller))
        if view is None:
            raise group_chat_not_found(str(group_chat_id))
        return GroupChat.of(view)

    return router


def group_chat_not_found(group_chat_id: str) -> ProblemError:
    """404 `group_chat_not_found` (also when the caller may not see the chat)."""
    return ProblemError.not_found(
        "group_chat_not_found", f"no group chat {group_chat_id} visible to the caller"
    )
