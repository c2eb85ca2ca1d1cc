"""The settings the Lambda fast path reads, without pydantic.

`query_service.settings.Settings` (pydantic-settings) costs some 110 ms of imports on a cold
start, more than the request. `LambdaSettings.from_env()` reads the same variables (names
matched case-insensitively), with the same defaults and the same bounds; a test holds the two
to each other. `PORT` is not read: nothing listens on Lambda.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_BODY_TIMEOUT_SECONDS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PAGE_SIZE_DEFAULT",
    "DEFAULT_PAGE_SIZE_MAX",
    "DEFAULT_READ_MODEL_URL",
    "LambdaSettings",
]

# The defaults of both settings classes (`Settings` takes them from here).
DEFAULT_READ_MODEL_URL: Final = "sqlite:///var/read_model.db"
DEFAULT_PAGE_SIZE_DEFAULT: Final = 50
DEFAULT_PAGE_SIZE_MAX: Final = 200
DEFAULT_MAX_BODY_BYTES: Final = 65536
DEFAULT_BODY_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class LambdaSettings:
    """`READ_MODEL_URL`, `PAGE_SIZE_DEFAULT`, `PAGE_SIZE_MAX`, `MAX_BODY_BYTES`,
    `BODY_TIMEOUT_SECONDS`, as `Settings` reads and checks them."""

    read_model_url: str = DEFAULT_READ_MODEL_URL
    page_size_default: int = DEFAULT_PAGE_SIZE_DEFAULT
    page_size_max: int = DEFAULT_PAGE_SIZE_MAX
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for name in ("page_size_default", "page_size_max", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()} must be at least 1, got {getattr(self, name)}")
        if not self.body_timeout_seconds > 0:
            raise ValueError(
                f"BODY_TIMEOUT_SECONDS must be greater than 0, got {self.body_timeout_seconds}"
            )
        if self.page_size_default > self.page_size_max:
            raise ValueError(
                f"PAGE_SIZE_DEFAULT ({self.page_size_default}) exceeds "
                f"PAGE_SIZE_MAX ({self.page_size_max})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LambdaSettings:
        """The settings in `environ` (default: the process environment). Raises ValueError."""
        env = {k.lower(): v for k, v in (os.environ if environ is None else environ).items()}
        return cls(
            read_model_url=env.get("read_model_url", DEFAULT_READ_MODEL_URL),
            page_size_default=_int(env, "page_size_default", DEFAULT_PAGE_SIZE_DEFAULT),
            page_size_max=_int(env, "page_size_max", DEFAULT_PAGE_SIZE_MAX),
            max_body_bytes=_int(env, "max_body_bytes", DEFAULT_MAX_BODY_BYTES),
            body_timeout_seconds=_float(env, "body_timeout_seconds", DEFAULT_BODY_TIMEOUT_SECONDS),
        )


# pydantic's lax rules for numbers in strings (surrounding whitespace is ignored): `+5`, `050`,
# `1_000` and `5.0` are integers, `5.5` and `1e3` are not; floats also take exponents, `inf`, `nan`.
_INTEGER: Final = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_FLOAT: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:_[0-9]+)*(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.isascii() or not _INTEGER.fullmatch(text):
        raise ValueError(f"{name.upper()} must be an integer, got {raw!r}")
    return int(text.partition(".")[0])


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.isascii() or not _FLOAT.fullmatch(text):
        raise ValueError(f"{name.upper()} must be a number, got {raw!r}")
    return float(text)
