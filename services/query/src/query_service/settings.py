"""Settings of the query service, read once from the environment.

The Lambda fast path reads the same variables without pydantic
(`query_service.lambda_settings.LambdaSettings`); the defaults live there.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from query_service import lambda_settings as defaults


class Settings(BaseSettings):
    """Environment variables (case-insensitive): `READ_MODEL_URL`, `PORT`, `PAGE_SIZE_DEFAULT`,
    `PAGE_SIZE_MAX`, `MAX_BODY_BYTES`, `BODY_TIMEOUT_SECONDS`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    read_model_url: str = Field(
        default=defaults.DEFAULT_READ_MODEL_URL,
        description="read-model database: sqlite:///path or postgresql://…",
    )
    port: int = Field(default=3002, ge=1, le=65535, description="HTTP port of `cqrs-es query`")
    page_size_default: int = Field(
        default=defaults.DEFAULT_PAGE_SIZE_DEFAULT,
        ge=1,
        description="messages per page when `limit` is absent",
    )
    page_size_max: int = Field(
        default=defaults.DEFAULT_PAGE_SIZE_MAX, ge=1, description="largest accepted `limit`"
    )
    max_body_bytes: int = Field(
        default=defaults.DEFAULT_MAX_BODY_BYTES,
        ge=1,
        description="largest accepted request body (GraphQL); larger: 413",
    )
    body_timeout_seconds: float = Field(
        default=defaults.DEFAULT_BODY_TIMEOUT_SECONDS,
        gt=0,
        description="longest a request body may take to arrive; slower: 408",
    )

    @model_validator(mode="after")
    def _default_fits_max(self) -> Self:
        if self.page_size_default > self.page_size_max:
            raise ValueError(
                f"PAGE_SIZE_DEFAULT ({self.page_size_default}) exceeds "
                f"PAGE_SIZE_MAX ({self.page_size_max})"
            )
        return self
