"""Settings of the read-model updater, read once from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CHECKPOINT: str = "sql-journal"
"""The checkpoint (in `projection_checkpoints`) of the SQL poller's position in the journal."""


class Settings(BaseSettings):
    """Environment variables (case-insensitive): `EVENT_STORE_URL`, `READ_MODEL_URL`,
    `UPDATER_BATCH_SIZE`, `UPDATER_POLL_INTERVAL_SECONDS`, `UPDATER_MAX_BACKOFF_SECONDS`,
    `UPDATER_CHECKPOINT`. Keyword arguments use the field names."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    event_store_url: str = Field(
        default="sqlite:///var/events.db",
        description="the journal to tail: sqlite:///path or postgresql://… (DynamoDB uses the "
        "Streams Lambda instead)",
    )
    read_model_url: str = Field(
        default="sqlite:///var/read_model.db",
        description="read-model database: sqlite:///path or postgresql://…",
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        validation_alias="UPDATER_BATCH_SIZE",
        description="events read and applied per transaction",
    )
    poll_interval_seconds: float = Field(
        default=0.01,
        gt=0,
        le=60,
        validation_alias="UPDATER_POLL_INTERVAL_SECONDS",
        description="pause when the journal has nothing new (bounds the projection lag when idle)",
    )
    max_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias="UPDATER_MAX_BACKOFF_SECONDS",
        description="longest pause between retries while a database is unavailable",
    )
    checkpoint: str = Field(
        default=DEFAULT_CHECKPOINT,
        min_length=1,
        max_length=128,
        validation_alias="UPDATER_CHECKPOINT",
        description="name of the poller's journal position in projection_checkpoints",
    )
