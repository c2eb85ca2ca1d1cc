"""Members: `GET /query/v1/group-chats/{groupChatId}/members[/{memberUserAccountId}]`."""

from __future__ import annotations

from fastapi import APIRouter

from query_service import traced_queries as queries
from query_service.dependencies import Caller, EngineDep, GroupChatIdDep, MemberUserAccountIdDep
from query_service.problems import ProblemError, problem_responses
from query_service.routers.group_chats import group_chat_not_found
from query_service.schemas import Member


def create_router() -> APIRouter:
    """The member routes."""
    router = APIRouter(prefix="/query/v1/group-chats/{groupChatId}/members", tags=["members"])

    @router.get(
        "",
        operation_id="getMembers",
        summary="The current members of a group chat, oldest first",
        responses=problem_responses(400, 404, 503),
    )
    def get_members(
        engine: EngineDep, group_chat_id: GroupChatIdDep, caller: Caller
    ) -> list[Member]:
        views = queries.get_members(engine, str(group_chat_id), str(caller))
        if views is None:
            raise group_chat_not_found(str(group_chat_id))
        return [Member.of(view) for view in views]

    @router.get(
        "/{memberUserAccountId}",
        operation_id="getMember",
        summary="One current member of a group chat, by user account",
        responses=problem_responses(400, 404, 503),
    )
    def get_member(
        engine: EngineDep,
        group_chat_id: GroupChatIdDep,
        member: MemberUserAccountIdDep,
        caller: Caller,
    ) -> Member:
        view = queries.get_member(engine, str(group_chat_id), str(member), str(caller))
        if view is not None:
            return Member.of(view)
        # Tell "no such chat" from "no such member", revealing nothing the caller may not see.
        if queries.get_group_chat(engine, str(group_chat_id), str(caller)) is None:
            raise group_chat_not_found(str(group_chat_id))
        raise ProblemError.not_found(
            "member_not_found", f"{member} is not a member of group chat {group_chat_id}"
        )

    return router
