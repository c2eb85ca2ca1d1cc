"""FastAPI dependencies: the read model's engine, the caller, and ids parsed from the request.

Ids are accepted with or without their prefix and normalized to wire form with `chat_domain`'s
parsers; a malformed id is a 400 `validation_error` whose detail names the field.
"""

from __future__ import annotations

from typing import Annotated

from chat_domain.ids import GroupChatId, MessageId, UserAccountId
from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine

from query_service.authentication import authorize_caller
from query_service.rest import parse_id
from query_service.settings import Settings

_ULID_HELP = "26 Crockford base32 characters, case-insensitive"


def get_engine(request: Request) -> Engine:
    """The read model's engine, created by `create_app`."""
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def caller(
    request: Request,
    user_account_id: Annotated[
        str,
        Query(
            alias="userAccountId",
            description=f"The caller: `UserAccount-<ULID>` or a bare ULID ({_ULID_HELP}).",
            examples=["UserAccount-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"],
        ),
    ],
) -> UserAccountId:
    """The caller's user account (`userAccountId`, required).

    With authentication on, it must be the authenticated caller (401/403 otherwise).
    """
    parsed = parse_id(UserAccountId, user_account_id, "userAccountId")
    authorize_caller(request.app.state.authenticator, request.scope, parsed)
    return parsed


def group_chat_id(
    raw: Annotated[
        str,
        Path(
            alias="groupChatId",
            description=f"`GroupChat-<ULID>` or a bare ULID ({_ULID_HELP}).",
            examples=["GroupChat-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"],
        ),
    ],
) -> GroupChatId:
    """The group chat of the path (`groupChatId`)."""
    return parse_id(GroupChatId, raw, "groupChatId")


def member_user_account_id(
    raw: Annotated[
        str,
        Path(
            alias="memberUserAccountId",
            description=f"The member's `UserAccount-<ULID>` or a bare ULID ({_ULID_HELP}).",
            examples=["UserAccount-01JDQ4Z5V8X9Y0A1B2C3D4E5F6"],
        ),
    ],
) -> UserAccountId:
    """The member's user account of the path (`memberUserAccountId`)."""
    return parse_id(UserAccountId, raw, "memberUserAccountId")


def message_id(
    raw: Annotated[
        str,
        Path(
            alias="messageId",
            description=f"The message's ULID ({_ULID_HELP}).",
            examples=["01JDQ4Z5V8X9Y0A1B2C3D4E5F6"],
        ),
    ],
) -> MessageId:
    """The message of the path (`messageId`)."""
    return parse_id(MessageId, raw, "messageId")


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Caller = Annotated[UserAccountId, Depends(caller)]
GroupChatIdDep = Annotated[GroupChatId, Depends(group_chat_id)]
MemberUserAccountIdDep = Annotated[UserAccountId, Depends(member_user_account_id)]
MessageIdDep = Annotated[MessageId, Depends(message_id)]
