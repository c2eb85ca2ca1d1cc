"""Request and response bodies of the REST API (camelCase on the wire).

These models only check the JSON shape (which fields, of which JSON type). Values — ids, names,
contents, roles — are validated by the domain's parsers, whose errors name the field, so there is
one set of rules whichever API (REST, GraphQL, Lambda) a command comes through.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

_GROUP_CHAT_ID = Field(
    description="group chat id, `GroupChat-<ULID>` or the bare ULID",
    examples=["GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z"],
)
_EXECUTOR_ID = Field(
    description="the user account running the command, `UserAccount-<ULID>` or the bare ULID",
    examples=["UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"],
)
_USER_ACCOUNT_ID = Field(
    description="the member's user account, `UserAccount-<ULID>` or the bare ULID",
    examples=["UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B"],
)
_MESSAGE_ID = Field(description="message id (a ULID)", examples=["01H42K4ABWQ5V2XQEP3A48VE3C"])
_NAME = Field(description="1 to 100 characters after trimming", examples=["developers"])
_CONTENT = Field(description="1 to 4,000 characters, not blank", examples=["Hello!"])
_ROLE = Field(
    description="`administrator` or `member` (case-insensitive; `admin` also accepted)",
    examples=["member"],
)


class _Body(BaseModel):
    # Strict JSON types (a number is not a string); unknown fields are ignored, as clients of the
    # other implementations of this API may send more than we read.
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False, strict=True
    )


class CreateGroupChatRequest(_Body):
    """Body of `create`."""

    name: str = _NAME
    executor_id: str = _EXECUTOR_ID


class RenameGroupChatRequest(_Body):
    """Body of `rename`."""

    group_chat_id: str = _GROUP_CHAT_ID
    name: str = _NAME
    executor_id: str = _EXECUTOR_ID


class DeleteGroupChatRequest(_Body):
    """Body of `delete`."""

    group_chat_id: str = _GROUP_CHAT_ID
    executor_id: str = _EXECUTOR_ID


class AddMemberRequest(_Body):
    """Body of `add-member`."""

    group_chat_id: str = _GROUP_CHAT_ID
    user_account_id: str = _USER_ACCOUNT_ID
    role: str = _ROLE
    executor_id: str = _EXECUTOR_ID


class RemoveMemberRequest(_Body):
    """Body of `remove-member`."""

    group_chat_id: str = _GROUP_CHAT_ID
    user_account_id: str = _USER_ACCOUNT_ID
    executor_id: str = _EXECUTOR_ID


class PostMessageRequest(_Body):
    """Body of `post-message`."""

    group_chat_id: str = _GROUP_CHAT_ID
    content: str = _CONTENT
    executor_id: str = _EXECUTOR_ID


class EditMessageRequest(_Body):
    """Body of `edit-message`."""

    group_chat_id: str = _GROUP_CHAT_ID
    message_id: str = _MESSAGE_ID
    content: str = _CONTENT
    executor_id: str = _EXECUTOR_ID


class DeleteMessageRequest(_Body):
    """Body of `delete-message`."""

    group_chat_id: str = _GROUP_CHAT_ID
    message_id: str = _MESSAGE_ID
    executor_id: str = _EXECUTOR_ID


class _Output(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True
    )


class GroupChatIdResponse(_Output):
    """The group chat a command applied to (always prefixed)."""

    group_chat_id: str = Field(examples=["GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z"])


class MessageIdResponse(_Output):
    """The group chat and the message a command applied to."""

    group_chat_id: str = Field(examples=["GroupChat-01H42K4ABWQ5V2XQEP3A48VE0Z"])
    message_id: str = Field(examples=["01H42K4ABWQ5V2XQEP3A48VE3C"])


class ProblemModel(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(default="about:blank", description="URI of the problem type")
    title: str = Field(description="the HTTP status phrase", examples=["Unprocessable Content"])
    status: int = Field(description="the HTTP status code", examples=[422])
    detail: str = Field(
        description="what went wrong, for a human",
        examples=["UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B is not an administrator"],
    )
    code: str = Field(
        description="stable machine-readable error code", examples=["not_an_administrator"]
    )
    field: str | None = Field(
        default=None,
        description="the offending request field of a `validation_error`, when there is one",
        examples=["groupChatId"],
    )
