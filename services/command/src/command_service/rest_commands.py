"""The REST commands without a web framework: body parsing, the command, the answer.

Both the FastAPI routes (`command_service.routes`) and the Lambda fast path
(`command_service.lambda_routes`) call these, so a command behaves the same whichever served it:

- `parse_body` reads a JSON body as FastAPI reads it into the routes' strict pydantic models
  (`command_service.schemas`) and refuses it with the same 400 `validation_error` problem:
  invalid JSON, a body that is not a JSON object, a missing field, a field that is not a string;
- `execute` builds the domain command (the domain's parsers check every value and name the
  field), checks the executor (`authorize`), applies the `Idempotency-Key` and runs it through
  the `CommandHandler`.

The errors `execute` raises are mapped to problems by `command_service.problems.problem_for`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

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

from command_service.handlers import CommandHandler
from command_service.idempotency import CommandResponse, IdempotencyKey, parse_client_key
from command_service.paths import GROUP_CHATS_PREFIX, HEALTHCHECK_PATH
from command_service.problems import Problem, validation_error

__all__ = [
    "ADD_MEMBER",
    "CREATE",
    "DELETE",
    "DELETE_MESSAGE",
    "EDIT_MESSAGE",
    "GROUP_CHATS_PREFIX",
    "HEALTHCHECK_PATH",
    "POST_MESSAGE",
    "REMOVE_MEMBER",
    "RENAME",
    "REST_COMMANDS",
    "BodyError",
    "RestCommand",
    "execute",
    "parse_body",
    "validation_problem",
]

BODY_REQUIRED: Final = "is required: a JSON object (Content-Type: application/json)"
BODY_NOT_AN_OBJECT: Final = "must be a JSON object (sent with Content-Type: application/json)"
FIELD_REQUIRED: Final = "Field required"
NOT_A_STRING: Final = "Input should be a valid string"
BODY_UNPARSABLE: Final = "There was an error parsing the body"


@dataclass(frozen=True, slots=True)
class RestCommand:
    """One command of the REST API: `POST <GROUP_CHATS_PREFIX>/<name>`.

    `fields`: the body's fields (wire names), in the order of its request model (errors are
    reported in that order). `build` makes the domain command from the fields' values.
    """

    name: str
    fields: tuple[str, ...]
    build: Callable[[Mapping[str, str], CommandHandler], Command]

    @property
    def path(self) -> str:
        """The path of the command."""
        return f"{GROUP_CHATS_PREFIX}/{self.name}"


CREATE: Final = RestCommand(
    "create",
    ("name", "executorId"),
    lambda f, h: CreateGroupChat.parse(
        name=f["name"], executor_id=f["executorId"], generator=h.generator
    ),
)
RENAME: Final = RestCommand(
    "rename",
    ("groupChatId", "name", "executorId"),
    lambda f, _h: RenameGroupChat.parse(
        group_chat_id=f["groupChatId"], name=f["name"], executor_id=f["executorId"]
    ),
)
DELETE: Final = RestCommand(
    "delete",
    ("groupChatId", "executorId"),
    lambda f, _h: DeleteGroupChat.parse(
        group_chat_id=f["groupChatId"], executor_id=f["executorId"]
    ),
)
ADD_MEMBER: Final = RestCommand(
    "add-member",
    ("groupChatId", "userAccountId", "role", "executorId"),
    lambda f, h: AddMember.parse(
        group_chat_id=f["groupChatId"],
        user_account_id=f["userAccountId"],
        role=f["role"],
        executor_id=f["executorId"],
        generator=h.generator,
    ),
)
REMOVE_MEMBER: Final = RestCommand(
    "remove-member",
    ("groupChatId", "userAccountId", "executorId"),
    lambda f, _h: RemoveMember.parse(
        group_chat_id=f["groupChatId"],
        user_account_id=f["userAccountId"],
        executor_id=f["executorId"],
    ),
)
POST_MESSAGE: Final = RestCommand(
    "post-message",
    ("groupChatId", "content", "executorId"),
    lambda f, h: PostMessage.parse(
        group_chat_id=f["groupChatId"],
        content=f["content"],
        executor_id=f["executorId"],
        generator=h.generator,
    ),
)
EDIT_MESSAGE: Final = RestCommand(
    "edit-message",
    ("groupChatId", "messageId", "content", "executorId"),
    lambda f, _h: EditMessage.parse(
        group_chat_id=f["groupChatId"],
        message_id=f["messageId"],
        content=f["content"],
        executor_id=f["executorId"],
    ),
)
DELETE_MESSAGE: Final = RestCommand(
    "delete-message",
    ("groupChatId", "messageId", "executorId"),
    lambda f, _h: DeleteMessage.parse(
        group_chat_id=f["groupChatId"], message_id=f["messageId"], executor_id=f["executorId"]
    ),
)
REST_COMMANDS: Final = (
    CREATE,
    RENAME,
    DELETE,
    ADD_MEMBER,
    REMOVE_MEMBER,
    POST_MESSAGE,
    EDIT_MESSAGE,
    DELETE_MESSAGE,
)
"""The eight group-chat commands of API.md."""


# -- request bodies ----------------------------------------------------------------------------


class BodyError(Exception):
    """The request body is not what the command takes; `problem` is the 400 to answer."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def validation_problem(described: Sequence[tuple[str, str]]) -> Problem:
    """The 400 `validation_error` for `(field, reason)` pairs: `detail` lists them all
    (`"name: Field required; executorId: ..."`), `field` names the field when there is one."""
    if not described:
        return validation_error("the request is invalid")
    fields = {field for field, _ in described}
    detail = "; ".join(f"{field}: {reason}" for field, reason in described)
    return validation_error(detail, field=fields.pop() if len(fields) == 1 else None)


def _is_json(content_type: str) -> bool:
    # As FastAPI decides (through email.message): application/json or application/*+json.
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.count("/") != 1:
        return False
    main, sub = media_type.split("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def parse_body(body: bytes, content_type: str | None, fields: Sequence[str]) -> dict[str, str]:
    """The values of `fields` in the JSON object `body`; `BodyError` when it is not one with a
    string for each (reasons worded as the FastAPI app words them)."""
    if not body:
        raise BodyError(validation_problem([("body", BODY_REQUIRED)]))
    if not content_type or not _is_json(content_type):
        # FastAPI's strict content type: without a JSON one, the body is bytes, not an object.
        raise BodyError(validation_problem([("body", BODY_NOT_AN_OBJECT)]))
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        reason = f"is not valid JSON ({exc.msg} at position {exc.pos})"
        raise BodyError(validation_problem([("body", reason)])) from None
    except (ValueError, RecursionError):  # not UTF-8 (or -16/-32), nested too deep
        raise BodyError(validation_error(f"body: {BODY_UNPARSABLE}", field="body")) from None
    if not isinstance(value, dict):
        raise BodyError(validation_problem([("body", BODY_NOT_AN_OBJECT)]))
    problems = [
        (name, FIELD_REQUIRED if name not in value else NOT_A_STRING)
        for name in fields
        if not isinstance(value.get(name), str)
    ]
    if problems:
        raise BodyError(validation_problem(problems))
    return {name: value[name] for name in fields}


# -- running -----------------------------------------------------------------------------------


def execute(
    command_spec: RestCommand,
    fields: Mapping[str, str],
    handler: CommandHandler,
    *,
    authorize: Callable[[UserAccountId], None],
    idempotency_key: str | None,
) -> CommandResponse:
    """Run the command `fields` describe (idempotently when a key is given); its response.

    `authorize` checks the executor (raises `auth.AuthError` 401/403 when authentication is on).
    Raises the domain's `ValidationError` (400) for a bad value, and whatever the handler raises
    (see `command_service.problems.problem_for`).
    """
    command = command_spec.build(fields, handler)
    authorize(command.executor_id)
    idempotency = (
        None
        if idempotency_key is None
        else IdempotencyKey.of(parse_client_key(idempotency_key), command, dict(fields))
    )
    return handler.execute(command, idempotency=idempotency)
