"""Members: `GET /query/v1/group-chats/{groupChatId}/members[/{memberUserAccountId}]`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from query_service import rest
from query_service.dependencies import Caller, EngineDep, GroupChatIdDep, MemberUserAccountIdDep
from query_service.problems import problem_responses
from query_service.routers.group_chats import json_response
from query_service.schemas import Member


def create_router() -> APIRouter:
    """The member routes."""
    router = APIRouter(prefix="/query/v1/group-chats/{groupChatId}/members", tags=["members"])

    @router.get(
        "",
        response_model=list[Member],
        operation_id="getMembers",
        summary="The current members of a group chat, oldest first",
        responses=problem_responses(400, 404, 503),
    )
    def get_members(engine: EngineDep, group_chat_id: GroupChatIdDep, caller: Caller) -> Response:
        return json_response(rest.members(engine, group_chat_id, caller))

    @router.get(
        "/{memberUserAccountId}",
        response_model=Member,
        operation_id="getMember",
        summary="One current member of a group chat, by user account",
        responses=problem_responses(400, 404, 503),
    )
    def get_member(
        engine: EngineDep,
        group_chat_id: GroupChatIdDep,
        member: MemberUserAccountIdDep,
        caller: Caller,
    ) -> Response:
        return json_response(rest.member(engine, group_chat_id, member, caller))

    return router
