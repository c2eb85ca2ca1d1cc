"""The JSON shapes of the REST API (camelCase; times ISO 8601 UTC with milliseconds and `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel
from read_model.queries import GroupChatView, MemberView, MessageView
from read_model.queries import MessagePage as MessagePageView


def format_timestamp(value: datetime) -> str:
    """`2026-11-28T10:00:00.123Z`: UTC, milliseconds, `Z`."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "examples": ["2026-11-28T10:00:00.123Z"]}
    ),
]
"""A UTC time, written `YYYY-MM-DDTHH:MM:SS.mmmZ`."""


class _Schema(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, from_attributes=True
    )


class GroupChat(_Schema):
    """A group chat."""

    id: str
    name: str
    owner_id: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: GroupChatView) -> Self:
        """The response shape of a read-model view."""
        return cls.model_validate(view)


class Member(_Schema):
    """A member of a group chat (`id` is the membership's id)."""

    id: str
    group_chat_id: str
    user_account_id: str
    role: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: MemberView) -> Self:
        """The response shape of a read-model view."""
        return cls.model_validate(view)


class Message(_Schema):
    """A message; `userAccountId` is its sender."""

    id: str
    group_chat_id: str
    user_account_id: str
    text: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: MessageView) -> Self:
        """The response shape of a read-model view."""
        return cls.model_validate(view)


class MessagePage(_Schema):
    """A page of messages, oldest first, and the cursor for the older page (or null)."""

    items: list[Message]
    next_before: str | None

    @classmethod
    def of(cls, page: MessagePageView) -> Self:
        """The response shape of a read-model page."""
        return cls(items=[Message.of(item) for item in page.items], next_before=page.next_before)
