"""The REST API's operations, framework-free: what each endpoint answers, in one place.

Two edges serve the REST API and both call this module, so that an answer is the same bytes
whichever serves it:

- the FastAPI routes (`query_service.routers`): FastAPI parses the parameters (and publishes
  them in the OpenAPI document), the routes call the typed operations (`group_chats`,
  `group_chat`, …) and send `render_json` of what they return;
- the Lambda fast path (`query_service.lambda_handler`): no FastAPI, so `OPERATIONS` take the
  raw inputs (`RestInputs`: path and query parameters as strings) and check them the way
  FastAPI does for those routes, down to the order of the checks and the wording of its
  request-validation errors (see `RestInputs`).

Operations return JSON-ready values (camelCase keys, times as `format_timestamp` writes them)
and raise `query_service.errors.ProblemError` (400, 404), `auth.AuthError` (403, from the
`authorize` callback) or `read_model.ReadModelUnavailableError` (503).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from chat_domain.errors import ValidationError
from chat_domain.ids import GroupChatId, MessageId, UserAccountId

from query_service import traced_queries as queries
from query_service.errors import (
    ProblemError,
    group_chat_not_found,
    member_not_found,
    message_not_found,
)

if TYPE_CHECKING:
    from read_model.queries import Bind, GroupChatView, MemberView, MessagePage, MessageView

__all__ = [
    "BEFORE_MAX_LENGTH",
    "JSON_MEDIA_TYPE",
    "OPERATIONS",
    "Json",
    "Operation",
    "RestContext",
    "RestInputs",
    "format_timestamp",
    "group_chat",
    "group_chats",
    "member",
    "members",
    "message",
    "messages",
    "parse_id",
    "render_json",
]

JSON_MEDIA_TYPE: Final = "application/json"
BEFORE_MAX_LENGTH: Final = 256
"""Longest accepted `before` cursor (the ones this service hands out are far shorter)."""

Json = dict[str, Any] | list[Any]
"""What an operation returns: the response body, ready for `render_json`."""

_Id = TypeVar("_Id", GroupChatId, UserAccountId, MessageId)


# -- JSON shapes ------------------------------------------------------------------------------


def format_timestamp(value: datetime) -> str:
    """`2026-11-28T10:00:00.123Z`: UTC, milliseconds (truncated), `Z`."""
    # isoformat rather than strftime: half the cost, twice per row of a message page.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def render_json(value: Json) -> bytes:
    """The response body: compact UTF-8 JSON, as FastAPI's `JSONResponse` renders it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _group_chat(view: GroupChatView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "ownerId": view.owner_id,
        "createdAt": format_timestamp(view.created_at),
        "updatedAt": format_timestamp(view.updated_at),
    }


def _member(view: MemberView) -> dict[str, Any]:
    return {
        "id": view.id,
        "groupChatId": view.group_chat_id,
        "userAccountId": view.user_account_id,
        "role": view.role,
        "createdAt": format_timestamp(view.created_at),
        "updatedAt": format_timestamp(view.updated_at),
    }


def _message(view: MessageView) -> dict[str, Any]:
    return {
        "id": view.id,
        "groupChatId": view.group_chat_id,
        "userAccountId": view.user_account_id,
        "text": view.text,
        "createdAt": format_timestamp(view.created_at),
        "updatedAt": format_timestamp(view.updated_at),
    }


def _message_page(page: MessagePage) -> dict[str, Any]:
    return {"items": [_message(item) for item in page.items], "nextBefore": page.next_before}


# -- typed operations -------------------------------------------------------------------------


def group_chats(bind: Bind, caller: UserAccountId) -> Json:
    """`getGroupChats`: the caller's group chats, newest first."""
    return [_group_chat(view) for view in queries.get_group_chats(bind, str(caller))]


def group_chat(bind: Bind, group_chat_id: GroupChatId, caller: UserAccountId) -> Json:
    """`getGroupChat`: one group chat the caller is a member of (404 otherwise)."""
    view = queries.get_group_chat(bind, str(group_chat_id), str(caller))
    if view is None:
        raise group_chat_not_found(str(group_chat_id))
    return _group_chat(view)


def members(bind: Bind, group_chat_id: GroupChatId, caller: UserAccountId) -> Json:
    """`getMembers`: the current members of a chat the caller sees, oldest first."""
    views = queries.get_members(bind, str(group_chat_id), str(caller))
    if views is None:
        raise group_chat_not_found(str(group_chat_id))
    return [_member(view) for view in views]


def member(
    bind: Bind, group_chat_id: GroupChatId, member_id: UserAccountId, caller: UserAccountId
) -> Json:
    """`getMember`: one current member of a chat the caller sees."""
    view = queries.get_member(bind, str(group_chat_id), str(member_id), str(caller))
    if view is not None:
        return _member(view)
    # Tell "no such chat" from "no such member", revealing nothing the caller may not see.
    if queries.get_group_chat(bind, str(group_chat_id), str(caller)) is None:
        raise group_chat_not_found(str(group_chat_id))
    raise member_not_found(str(member_id), str(group_chat_id))


def messages(
    bind: Bind,
    group_chat_id: GroupChatId,
    caller: UserAccountId,
    *,
    limit: int,
    before: str | None,
) -> Json:
    """`getMessages`: up to `limit` messages older than `before`, oldest first, and the cursor
    of the older page. A cursor this service did not hand out is a 400 about `before`."""
    try:
        page = queries.get_messages(
            bind, str(group_chat_id), str(caller), limit=limit, before=before
        )
    except queries.InvalidCursorError as error:
        raise ProblemError.validation("before", str(error)) from None
    if page is None:
        raise group_chat_not_found(str(group_chat_id))
    return _message_page(page)


def message(bind: Bind, message_id: MessageId, caller: UserAccountId) -> Json:
    """`getMessage`: one message of a chat the caller is a member of."""
    view = queries.get_message(bind, str(message_id), str(caller))
    if view is None:
        raise message_not_found(str(message_id))
    return _message(view)


def parse_id(id_type: type[_Id], raw: str, field: str) -> _Id:
    """`raw` (with or without its prefix, any case) as an id; a 400 naming `field` otherwise."""
    try:
        return id_type.parse(raw, field=field)
    except ValidationError as error:
        raise ProblemError.validation(error.field, error.reason) from None


# -- raw inputs (the Lambda fast path) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestContext:
    """What the operations read from, and the page sizes of `getMessages`."""

    bind: Bind
    page_size_default: int
    page_size_max: int


@dataclass(frozen=True, slots=True)
class RestInputs:
    """One request's inputs, as they arrived, checked as FastAPI checks them for the routes.

    `path_params` are the template's matches; `query_params` hold the last value of each name
    (as Starlette's `request.query_params[name]`). `authorize` is called with the caller
    (`userAccountId`) once parsed: a no-op with authentication off, else it raises
    `auth.AuthError` (401/403).

    The checks run in the order FastAPI resolves the routes' parameters (the order of the
    route function's parameters): an id that does not parse raises at once; a missing
    `userAccountId` and a bad `limit` or `before` are collected and reported together, as one
    400 whose detail joins `<field>: <pydantic's message>` with `; `.
    """

    path_params: Mapping[str, str]
    query_params: Mapping[str, str]
    authorize: Callable[[UserAccountId], None]

    def path_id(self, id_type: type[_Id], name: str) -> _Id:
        """The path parameter `name` as an id."""
        return parse_id(id_type, self.path_params[name], name)

    def caller(self, errors: list[tuple[str, str]]) -> UserAccountId | None:
        """The authorized caller; None (and an error in `errors`) when it is missing."""
        raw = self.query_params.get("userAccountId")
        if raw is None:
            errors.append(("userAccountId", "Field required"))
            return None
        caller = parse_id(UserAccountId, raw, "userAccountId")
        self.authorize(caller)
        return caller


def _raise_collected(errors: list[tuple[str, str]]) -> None:
    """One 400 for FastAPI-style request-validation errors (`query_service.problems`)."""
    if not errors:
        return
    fields = [name for name, _ in errors]
    detail = "; ".join(f"{name}: {text}" for name, text in errors)
    raise ProblemError(
        400, "validation_error", detail, field=fields[0] if len(set(fields)) == 1 else None
    )


def _limit(raw: str | None, maximum: int, errors: list[tuple[str, str]]) -> int | None:
    """`limit` as FastAPI validates `int | None` with `ge=1, le=maximum`."""
    if raw is None:
        return None
    value = _as_int(raw)
    if value is None:
        errors.append(("limit", _NOT_AN_INTEGER))
    elif value < 1:
        errors.append(("limit", "Input should be greater than or equal to 1"))
    elif value > maximum:
        errors.append(("limit", f"Input should be less than or equal to {maximum}"))
    else:
        return value
    return None


_PLAIN_DIGITS_MAX: Final = 18
_NOT_AN_INTEGER: Final = "Input should be a valid integer, unable to parse string as an integer"


def _as_int(raw: str) -> int | None:
    """`raw` as an integer by pydantic's (lax) rules for strings; None when it is not one.

    Plain ASCII digits, by far the usual case, are read here; anything else (a sign, spaces,
    `_` separators, `3.0`, …) is left to `pydantic_core` itself, the validator FastAPI uses,
    so that what is accepted cannot drift. It is imported only then.
    """
    if raw.isascii() and raw.isdigit() and len(raw) <= _PLAIN_DIGITS_MAX:
        return int(raw)
    from pydantic_core import SchemaValidator
    from pydantic_core import ValidationError as PydanticValidationError
    from pydantic_core.core_schema import int_schema

    try:
        value: int = SchemaValidator(int_schema()).validate_python(raw)
    except PydanticValidationError:
        return None
    return value


def _before(raw: str | None, errors: list[tuple[str, str]]) -> str | None:
    """`before` as FastAPI validates `str | None` with `max_length=256`."""
    if raw is not None and len(raw) > BEFORE_MAX_LENGTH:
        errors.append(("before", f"String should have at most {BEFORE_MAX_LENGTH} characters"))
        return None
    return raw


def _get_group_chats(context: RestContext, inputs: RestInputs) -> Json:
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    _raise_collected(errors)
    assert caller is not None
    return group_chats(context.bind, caller)


def _get_group_chat(context: RestContext, inputs: RestInputs) -> Json:
    group_chat_id = inputs.path_id(GroupChatId, "groupChatId")
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    _raise_collected(errors)
    assert caller is not None
    return group_chat(context.bind, group_chat_id, caller)


def _get_members(context: RestContext, inputs: RestInputs) -> Json:
    group_chat_id = inputs.path_id(GroupChatId, "groupChatId")
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    _raise_collected(errors)
    assert caller is not None
    return members(context.bind, group_chat_id, caller)


def _get_member(context: RestContext, inputs: RestInputs) -> Json:
    group_chat_id = inputs.path_id(GroupChatId, "groupChatId")
    member_id = inputs.path_id(UserAccountId, "memberUserAccountId")
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    _raise_collected(errors)
    assert caller is not None
    return member(context.bind, group_chat_id, member_id, caller)


def _get_messages(context: RestContext, inputs: RestInputs) -> Json:
    group_chat_id = inputs.path_id(GroupChatId, "groupChatId")
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    limit = _limit(inputs.query_params.get("limit"), context.page_size_max, errors)
    before = _before(inputs.query_params.get("before"), errors)
    _raise_collected(errors)
    assert caller is not None
    return messages(
        context.bind,
        group_chat_id,
        caller,
        limit=limit or context.page_size_default,
        before=before,
    )


def _get_message(context: RestContext, inputs: RestInputs) -> Json:
    message_id = inputs.path_id(MessageId, "messageId")
    errors: list[tuple[str, str]] = []
    caller = inputs.caller(errors)
    _raise_collected(errors)
    assert caller is not None
    return message(context.bind, message_id, caller)


Operation = Callable[[RestContext, RestInputs], Json]

OPERATIONS: Final[Mapping[str, tuple[str, Operation]]] = {
    "getGroupChats": ("/query/v1/group-chats", _get_group_chats),
    "getGroupChat": ("/query/v1/group-chats/{groupChatId}", _get_group_chat),
    "getMembers": ("/query/v1/group-chats/{groupChatId}/members", _get_members),
    "getMember": (
        "/query/v1/group-chats/{groupChatId}/members/{memberUserAccountId}",
        _get_member,
    ),
    "getMessages": ("/query/v1/group-chats/{groupChatId}/messages", _get_messages),
    "getMessage": ("/query/v1/messages/{messageId}", _get_message),
}
"""The JSON GET operations by OpenAPI operation id: (path template, operation). A test checks
them against the FastAPI app's routes."""
