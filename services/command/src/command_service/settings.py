"""Settings of the command service, read once from the environment."""

from __future__ import annotations

from chat_domain import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_MESSAGES, Limits
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from command_service.aggregate_cache import DEFAULT_AGGREGATE_CACHE_SIZE
from command_service.idempotency import DEFAULT_IDEMPOTENCY_TTL_SECONDS


class Settings(BaseSettings):
    """Environment variables (case-insensitive): `EVENT_STORE_URL`, `SNAPSHOT_INTERVAL`,
    `COMMAND_MAX_RETRIES`, `MAX_BODY_BYTES`, `BODY_TIMEOUT_SECONDS`, `IDEMPOTENCY_TTL_SECONDS`,
    `MAX_MEMBERS_PER_GROUP_CHAT`, `MAX_MESSAGES_PER_GROUP_CHAT`, `AGGREGATE_CACHE_SIZE`, `PORT`.

    Build it once in the composition root (`create_app()` does when given none) and pass it on;
    nothing else reads the environment.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    event_store_url: str = Field(
        default="sqlite:///var/events.db",
        description="event store: sqlite:///path, postgresql://…, dynamodb://journal?…, memory://",
    )
    snapshot_interval: int = Field(
        default=100, ge=0, description="write a snapshot every N events of a chat (0: never)"
    )
    command_max_retries: int = Field(
        default=3,
        ge=0,
        description="how many times a command is re-run (load, decide, append) after losing a "
        "race with a concurrent writer, before it fails with 409 `conflict`",
    )
    max_body_bytes: int = Field(
        default=65536, ge=1, description="largest accepted request body; larger ones get 413"
    )
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="longest a request body may take to arrive; slower ones get 408",
    )
    idempotency_ttl_seconds: int = Field(
        default=DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        ge=1,
        description="how long a command's response is kept for retries with its Idempotency-Key",
    )
    max_members_per_group_chat: int = Field(
        default=DEFAULT_MAX_MEMBERS,
        ge=1,
        description="most members a group chat may have; more is 422 `too_many_members`",
    )
    max_messages_per_group_chat: int = Field(
        default=DEFAULT_MAX_MESSAGES,
        ge=0,
        description="most messages (deleted ones included) a group chat may hold; more is "
        "422 `too_many_messages`",
    )
    aggregate_cache_size: int = Field(
        default=DEFAULT_AGGREGATE_CACHE_SIZE,
        ge=0,
        description="how many group chats' latest state each process keeps between commands, "
        "least recently used out first (0: none; every command loads its chat)",
    )
    port: int = Field(default=3001, ge=1, le=65535, description="HTTP port of `cqrs-es command`")

    @property
    def limits(self) -> Limits:
        """The group-chat size limits to pass to the domain."""
        return Limits(
            max_members=self.max_members_per_group_chat,
            max_messages=self.max_messages_per_group_chat,
        )
