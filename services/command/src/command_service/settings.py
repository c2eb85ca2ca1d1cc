"""Settings of the command service, read once from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment variables (case-insensitive): `EVENT_STORE_URL`, `SNAPSHOT_INTERVAL`,
    `COMMAND_MAX_RETRIES`, `MAX_BODY_BYTES`, `PORT`.

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
    port: int = Field(default=3001, ge=1, le=65535, description="HTTP port of `cqrs-es command`")
