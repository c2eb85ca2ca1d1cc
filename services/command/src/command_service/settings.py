"""Settings of the command service, read once from the environment by `http_kit.settings`.

Names are case-insensitive, a value given to the constructor wins over the environment, which
wins over the default, and every value is checked (`ValueError` naming the variable); no
pydantic, which would cost some 110 ms of a Lambda cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from chat_domain import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_MESSAGES, Limits
from http_kit.settings import EnvSettings, SettingsField

from command_service.aggregate_cache import DEFAULT_AGGREGATE_CACHE_SIZE
from command_service.idempotency import DEFAULT_IDEMPOTENCY_TTL_SECONDS

__all__ = ["SETTINGS_FIELDS", "Settings", "SettingsField"]

SETTINGS_FIELDS: Final = (
    SettingsField(
        "event_store_url",
        str,
        "sqlite:///var/events.db",
        "event store: sqlite:///path, postgresql://…, dynamodb://journal?…, memory://",
    ),
    SettingsField(
        "snapshot_interval", int, 100, "write a snapshot every N events of a chat (0: never)", ge=0
    ),
    SettingsField(
        "command_max_retries",
        int,
        3,
        "how many times a command is re-run (load, decide, append) after losing a race with a "
        "concurrent writer, before it fails with 409 `conflict`",
        ge=0,
    ),
    SettingsField(
        "max_body_bytes", int, 65536, "largest accepted request body; larger ones get 413", ge=1
    ),
    SettingsField(
        "body_timeout_seconds",
        float,
        10.0,
        "longest a request body may take to arrive; slower ones get 408",
        gt=0,
    ),
    SettingsField(
        "idempotency_ttl_seconds",
        int,
        DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        "how long a command's response is kept for retries with its Idempotency-Key",
        ge=1,
    ),
    SettingsField(
        "max_members_per_group_chat",
        int,
        DEFAULT_MAX_MEMBERS,
        "most members a group chat may have; more is 422 `too_many_members`",
        ge=1,
    ),
    SettingsField(
        "max_messages_per_group_chat",
        int,
        DEFAULT_MAX_MESSAGES,
        "most messages (deleted ones included) a group chat may hold; more is 422 "
        "`too_many_messages`",
        ge=0,
    ),
    SettingsField(
        "aggregate_cache_size",
        int,
        DEFAULT_AGGREGATE_CACHE_SIZE,
        "how many group chats' latest state each process keeps between commands, least "
        "recently used out first (0: none; every command loads its chat)",
        ge=0,
    ),
    SettingsField("port", int, 3001, "HTTP port of `cqrs-es command`", ge=1, le=65535),
)


@dataclass(frozen=True, slots=True, init=False)
class Settings(EnvSettings):
    """Environment variables (case-insensitive): `EVENT_STORE_URL`, `SNAPSHOT_INTERVAL`,
    `COMMAND_MAX_RETRIES`, `MAX_BODY_BYTES`, `BODY_TIMEOUT_SECONDS`, `IDEMPOTENCY_TTL_SECONDS`,
    `MAX_MEMBERS_PER_GROUP_CHAT`, `MAX_MESSAGES_PER_GROUP_CHAT`, `AGGREGATE_CACHE_SIZE`, `PORT`
    (see `SETTINGS_FIELDS` for defaults and bounds).

    `Settings(**overrides)` takes the given values, the environment's for the others (or
    `environ`'s), else the defaults; it raises ValueError for a value out of its type or bounds
    and TypeError for an unknown name. Build it once in the composition root (`create_app()`
    does when given none) and pass it on; nothing else reads the environment.
    """

    FIELDS: ClassVar[tuple[SettingsField, ...]] = SETTINGS_FIELDS

    event_store_url: str
    snapshot_interval: int
    command_max_retries: int
    max_body_bytes: int
    body_timeout_seconds: float
    idempotency_ttl_seconds: int
    max_members_per_group_chat: int
    max_messages_per_group_chat: int
    aggregate_cache_size: int
    port: int

    @property
    def limits(self) -> Limits:
        """The group-chat size limits to pass to the domain."""
        return Limits(
            max_members=self.max_members_per_group_chat,
            max_messages=self.max_messages_per_group_chat,
        )
