"""The JSON shapes of the REST API (camelCase; times ISO 8601 UTC with milliseconds and `Z`),
as the OpenAPI document describes them.

The bodies themselves are built by `query_service.rest` (shared with the Lambda fast path,
which has no pydantic); the tests check that they are instances of these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from query_service.rest import format_timestamp

__all__ = ["GroupChat", "Member", "Message", "MessagePage", "Timestamp", "format_timestamp"]


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


class Member(_Schema):
    """A member of a group chat (`id` is the membership's id)."""

    id: str
    group_chat_id: str
    user_account_id: str
    role: str
    created_at: Timestamp
    updated_at: Timestamp


class Message(_Schema):
    """A message; `userAccountId` is its sender."""

    id: str
    group_chat_id: str
    user_account_id: str
    text: str
    created_at: Timestamp
    updated_at: Timestamp


class MessagePage(_Schema):
    """A page of messages, oldest first, and the cursor for the older page (or null)."""

    items: list[Message]
    next_before: str | None
