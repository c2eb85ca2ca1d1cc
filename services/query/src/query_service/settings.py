"""Settings of the query service, read once from the environment by `http_kit.settings`.

One class for the server, `create_app` and the Lambda fast path: names are case-insensitive, a
value given to the constructor wins over the environment, which wins over the default, and every
value is checked (`ValueError` naming the variable); no pydantic, which would cost some 110 ms
of a Lambda cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from http_kit.settings import EnvSettings, SettingsField

__all__ = ["SETTINGS_FIELDS", "Settings"]


SETTINGS_FIELDS: Final = (
    SettingsField(
        "read_model_url",
        str,
        "sqlite:///var/read_model.db",
        "read-model database: sqlite:///path or postgresql://…",
    ),
    SettingsField("port", int, 3002, "HTTP port of `cqrs-es query`", ge=1, le=65535),
    SettingsField("page_size_default", int, 50, "messages per page when `limit` is absent", ge=1),
    SettingsField("page_size_max", int, 200, "largest accepted `limit`", ge=1),
    SettingsField(
        "max_body_bytes", int, 65536, "largest accepted request body (GraphQL); larger: 413", ge=1
    ),
    SettingsField(
        "body_timeout_seconds",
        float,
        10.0,
        "longest a request body may take to arrive; slower: 408",
        gt=0,
    ),
)


@dataclass(frozen=True, slots=True, init=False)
class Settings(EnvSettings):
    """Environment variables (case-insensitive): `READ_MODEL_URL`, `PORT`, `PAGE_SIZE_DEFAULT`,
    `PAGE_SIZE_MAX`, `MAX_BODY_BYTES`, `BODY_TIMEOUT_SECONDS` (see `SETTINGS_FIELDS` for
    defaults and bounds). `PAGE_SIZE_DEFAULT` may not exceed `PAGE_SIZE_MAX`.

    `Settings(**overrides)` takes the given values, the environment's for the others (or
    `environ`'s), else the defaults; it raises ValueError for a value out of its type or bounds
    and TypeError for an unknown name. `PORT` is read everywhere but used only by
    `cqrs-es query` (nothing listens on Lambda).
    """

    FIELDS: ClassVar[tuple[SettingsField, ...]] = SETTINGS_FIELDS

    read_model_url: str
    port: int
    page_size_default: int
    page_size_max: int
    max_body_bytes: int
    body_timeout_seconds: float

    def _check(self) -> None:
        if self.page_size_default > self.page_size_max:
            raise ValueError(
                f"PAGE_SIZE_DEFAULT ({self.page_size_default}) exceeds "
                f"PAGE_SIZE_MAX ({self.page_size_max})"
            )
