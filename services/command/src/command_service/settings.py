"""Settings of the command service, read once from the environment (standard library only).

Not pydantic-settings: importing it costs some 110 ms of a Lambda cold start, for nine numbers and
a URL. The rules are the same: names are case-insensitive, a value given to the constructor wins
over the environment, which wins over the default, and every value is checked (`ValueError`
naming the variable).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from chat_domain import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_MESSAGES, Limits

from command_service.aggregate_cache import DEFAULT_AGGREGATE_CACHE_SIZE
from command_service.idempotency import DEFAULT_IDEMPOTENCY_TTL_SECONDS

__all__ = ["SETTINGS_FIELDS", "Settings", "SettingsField"]


@dataclass(frozen=True, slots=True)
class SettingsField:
    """One setting: its type, default, bounds and what it is for."""

    name: str
    kind: type[str] | type[int] | type[float]
    default: str | int | float
    description: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    @property
    def variable(self) -> str:
        """The environment variable (upper case; matched case-insensitively)."""
        return self.name.upper()

    def convert(self, raw: object) -> str | int | float:
        """`raw` (from the environment or a caller) as this setting's value; ValueError if it
        is not one."""
        value = self._typed(raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            for bound, holds, words in (
                (self.ge, lambda b: value >= b, "greater than or equal to"),
                (self.gt, lambda b: value > b, "greater than"),
                (self.le, lambda b: value <= b, "less than or equal to"),
            ):
                if bound is not None and not holds(bound):
                    raise ValueError(f"{self.variable} must be {words} {bound:g}, got {raw!r}")
        return value

    def _typed(self, raw: object) -> str | int | float:
        if self.kind is str:
            if not isinstance(raw, str):
                raise ValueError(f"{self.variable} must be a string, got {raw!r}")
            return raw
        if isinstance(raw, bool):
            raise ValueError(f"{self.variable} must be a number, got {raw!r}")
        if self.kind is int:
            if isinstance(raw, int):
                return raw
            if isinstance(raw, float) and raw.is_integer():
                return int(raw)
            if isinstance(raw, str):
                try:
                    return int(raw.strip())
                except ValueError:
                    pass
            raise ValueError(f"{self.variable} must be a whole number, got {raw!r}")
        if isinstance(raw, int | float):
            number = float(raw)
        else:
            try:
                number = float(str(raw).strip())
            except ValueError:
                raise ValueError(f"{self.variable} must be a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.variable} must be a finite number, got {raw!r}")
        return number


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
class Settings:
    """Environment variables (case-insensitive): `EVENT_STORE_URL`, `SNAPSHOT_INTERVAL`,
    `COMMAND_MAX_RETRIES`, `MAX_BODY_BYTES`, `BODY_TIMEOUT_SECONDS`, `IDEMPOTENCY_TTL_SECONDS`,
    `MAX_MEMBERS_PER_GROUP_CHAT`, `MAX_MESSAGES_PER_GROUP_CHAT`, `AGGREGATE_CACHE_SIZE`, `PORT`
    (see `SETTINGS_FIELDS` for defaults and bounds).

    `Settings(**overrides)` takes the given values, the environment's for the others (or
    `environ`'s), else the defaults; it raises ValueError for a value out of its type or bounds
    and TypeError for an unknown name. Build it once in the composition root (`create_app()`
    does when given none) and pass it on; nothing else reads the environment.
    """

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

    def __init__(self, *, environ: Mapping[str, str] | None = None, **overrides: Any) -> None:
        unknown = set(overrides) - {f.name for f in SETTINGS_FIELDS}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        source = os.environ if environ is None else environ
        env = {name.lower(): value for name, value in source.items()}
        for spec in SETTINGS_FIELDS:
            if spec.name in overrides:
                value = spec.convert(overrides[spec.name])
            elif spec.name in env:
                value = spec.convert(env[spec.name])
            else:
                value = spec.default
            object.__setattr__(self, spec.name, value)

    @property
    def limits(self) -> Limits:
        """The group-chat size limits to pass to the domain."""
        return Limits(
            max_members=self.max_members_per_group_chat,
            max_messages=self.max_messages_per_group_chat,
        )
