"""Typed settings read once from the environment, standard library only.

Not pydantic-settings: importing it costs some 110 ms of a Lambda cold start, for a few numbers
and a URL. A service declares its settings as a tuple of `SettingsField` and a frozen dataclass
that subclasses `EnvSettings`:

    FIELDS = (SettingsField("port", int, 3001, "HTTP port", ge=1, le=65535), ...)

    @dataclass(frozen=True, slots=True, init=False)
    class Settings(EnvSettings):
        FIELDS: ClassVar = FIELDS
        port: int

`Settings(**overrides)` then takes the given values, the environment's for the others (names
matched case-insensitively), else the defaults. Every value is checked: ValueError naming the
variable for a value out of its type or bounds, TypeError for an unknown name.

The rules for text: surrounding whitespace is ignored; an integer is written in ASCII digits,
with an optional sign and `_` between digits (`+5`, `050`, `1_000`), or with a zero fraction
(`5.0`); a number is any finite decimal or exponent notation (`0.5`, `1e1`), never `inf`/`nan`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

__all__ = ["EnvSettings", "SettingsField", "read_settings"]

# An integer with a zero fraction (`5.0`, `1_000.00`); `int()` takes the rest of the syntax.
_ZERO_FRACTION: Final = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)\.0+")


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
        if isinstance(value, str):
            return value
        for bound, holds, words in (
            (self.ge, self.ge is None or value >= self.ge, "greater than or equal to"),
            (self.gt, self.gt is None or value > self.gt, "greater than"),
            (self.le, self.le is None or value <= self.le, "less than or equal to"),
        ):
            if not holds:
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
            if isinstance(raw, str) and raw.isascii():
                text = raw.strip()
                whole = _ZERO_FRACTION.fullmatch(text)
                try:
                    return int(whole.group(1) if whole else text)
                except ValueError:
                    pass
            raise ValueError(f"{self.variable} must be a whole number, got {raw!r}")
        if isinstance(raw, int | float):
            number = float(raw)
        elif isinstance(raw, str) and raw.isascii():
            try:
                number = float(raw.strip())
            except ValueError:
                raise ValueError(f"{self.variable} must be a number, got {raw!r}") from None
        else:
            raise ValueError(f"{self.variable} must be a number, got {raw!r}")
        if not math.isfinite(number):
            raise ValueError(f"{self.variable} must be a finite number, got {raw!r}")
        return number


def read_settings(
    fields: tuple[SettingsField, ...],
    overrides: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str | int | float]:
    """Each field's value: from `overrides`, else from `environ` (default: the process
    environment; names matched case-insensitively), else its default. Raises ValueError for a
    value out of its type or bounds, TypeError for a name in `overrides` that is no field's."""
    unknown = set(overrides) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    source = os.environ if environ is None else environ
    env = {name.lower(): value for name, value in source.items()}
    values: dict[str, str | int | float] = {}
    for spec in fields:
        if spec.name in overrides:
            values[spec.name] = spec.convert(overrides[spec.name])
        elif spec.name in env:
            values[spec.name] = spec.convert(env[spec.name])
        else:
            values[spec.name] = spec.default
    return values


class EnvSettings:
    """Base of a service's settings: a frozen dataclass (`init=False`) whose fields are those of
    its `FIELDS`, built by `read_settings`. Override `_check` for rules across fields."""

    __slots__ = ()

    FIELDS: ClassVar[tuple[SettingsField, ...]] = ()

    def __init__(self, *, environ: Mapping[str, str] | None = None, **overrides: Any) -> None:
        for name, value in read_settings(self.FIELDS, overrides, environ).items():
            # The dataclass is frozen: this constructor is the one place that sets its fields.
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        """Raise ValueError when the values, each valid, do not fit together."""
