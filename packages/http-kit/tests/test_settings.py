"""`http_kit.settings`: typed settings from overrides, then the environment, then defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest
from http_kit.settings import EnvSettings, SettingsField, read_settings

FIELDS = (
    SettingsField("url", str, "memory://", "where"),
    SettingsField("count", int, 3, "how many", ge=0, le=10),
    SettingsField("delay", float, 1.5, "how long", gt=0),
)


@dataclass(frozen=True, slots=True, init=False)
class Example(EnvSettings):
    FIELDS: ClassVar[tuple[SettingsField, ...]] = FIELDS

    url: str
    count: int
    delay: float

    def _check(self) -> None:
        if self.url == "memory://" and self.count > 5:
            raise ValueError("COUNT above 5 needs a URL")


def test_defaults_when_nothing_is_given_or_set() -> None:
    assert read_settings(FIELDS, {}, {}) == {"url": "memory://", "count": 3, "delay": 1.5}


def test_overrides_win_over_the_environment_which_wins_over_defaults() -> None:
    values = read_settings(FIELDS, {"count": "4"}, {"COUNT": "9", "Delay": "2", "other": "x"})

    assert values == {"url": "memory://", "count": 4, "delay": 2.0}


def test_reads_the_process_environment_when_given_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URL", "sqlite:///x.db")

    assert read_settings(FIELDS, {})["url"] == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("7", 7), (" 7 ", 7), ("+7", 7), ("07", 7), ("1_0", 10), ("7.0", 7), ("7.00", 7), (7, 7)],
)
def test_a_whole_number_is_read_from_lax_text(raw: object, value: int) -> None:
    number = FIELDS[1].convert(raw)

    assert (number, type(number)) == (value, int)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("7.5", "COUNT must be a whole number, got '7.5'"),
        ("1e1", "COUNT must be a whole number"),
        ("", "COUNT must be a whole number"),
        ("\u0667", "COUNT must be a whole number"),  # ARABIC-INDIC DIGIT SEVEN: not ASCII
        ("7.", "COUNT must be a whole number"),
        (True, "COUNT must be a number"),
        (7.5, "COUNT must be a whole number"),
        ("-1", "COUNT must be greater than or equal to 0, got '-1'"),
        ("11", "COUNT must be less than or equal to 10"),
    ],
)
def test_a_whole_number_out_of_its_type_or_bounds_is_refused(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FIELDS[1].convert(raw)


@pytest.mark.parametrize(("raw", "value"), [("0.5", 0.5), (" 1e1 ", 10.0), ("2", 2.0), (3, 3.0)])
def test_a_number_is_read_from_decimal_or_exponent_notation(raw: object, value: float) -> None:
    number = FIELDS[2].convert(raw)

    assert (number, type(number)) == (value, float)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("soon", "DELAY must be a number"),
        ("inf", "DELAY must be a finite number"),
        ("nan", "DELAY must be a finite number"),
        ("0", "DELAY must be greater than 0"),
        (None, "DELAY must be a number"),
    ],
)
def test_a_number_out_of_its_type_or_bounds_is_refused(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FIELDS[2].convert(raw)


def test_a_string_setting_takes_only_a_string() -> None:
    with pytest.raises(ValueError, match="URL must be a string"):
        FIELDS[0].convert(1)


def test_an_unknown_override_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown settings: cuont"):
        read_settings(FIELDS, {"cuont": 1}, {})


def test_a_settings_class_is_built_from_its_fields() -> None:
    example = Example(environ={"url": "sqlite:///x.db"}, count=8)

    assert (example.url, example.count, example.delay) == ("sqlite:///x.db", 8, 1.5)
    assert [f.name for f in dataclasses.fields(Example)] == [f.name for f in FIELDS]
    assert example == Example(environ={"URL": "sqlite:///x.db", "COUNT": "8"})


def test_a_settings_class_checks_its_fields_together() -> None:
    with pytest.raises(ValueError, match="COUNT above 5 needs a URL"):
        Example(environ={}, count=6)


def test_a_settings_class_is_immutable() -> None:
    example = Example(environ={})

    with pytest.raises(dataclasses.FrozenInstanceError):
        example.count = 1  # type: ignore[misc]
