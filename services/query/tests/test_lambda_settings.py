"""`LambdaSettings.from_env` reads what `Settings` reads, without pydantic."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from query_service.lambda_settings import LambdaSettings
from query_service.settings import Settings

_FIELDS = (
    "read_model_url",
    "page_size_default",
    "page_size_max",
    "max_body_bytes",
    "body_timeout_seconds",
)

ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"READ_MODEL_URL": "postgresql://u@db:5432/rm"},
    {"read_model_url": "sqlite:///tmp/x.db", "Page_Size_Max": "7", "PAGE_SIZE_DEFAULT": "7"},
    {"PAGE_SIZE_DEFAULT": " 20 ", "PAGE_SIZE_MAX": "+300"},
    {"PAGE_SIZE_MAX": "1_000", "MAX_BODY_BYTES": "1024.0"},
    {"BODY_TIMEOUT_SECONDS": "0.5"},
    {"BODY_TIMEOUT_SECONDS": "1e1"},
    {"BODY_TIMEOUT_SECONDS": "inf"},
    {"BODY_TIMEOUT_SECONDS": "0"},
    {"BODY_TIMEOUT_SECONDS": "-1"},
    {"BODY_TIMEOUT_SECONDS": "nan"},
    {"BODY_TIMEOUT_SECONDS": "soon"},
    {"PAGE_SIZE_DEFAULT": "0"},
    {"PAGE_SIZE_DEFAULT": "-5"},
    {"PAGE_SIZE_DEFAULT": "5.5"},
    {"PAGE_SIZE_DEFAULT": "1e2"},
    {"PAGE_SIZE_DEFAULT": "fifty"},
    {"PAGE_SIZE_DEFAULT": ""},
    {"PAGE_SIZE_DEFAULT": "201"},
    {"PAGE_SIZE_DEFAULT": "10", "PAGE_SIZE_MAX": "5"},
    {"MAX_BODY_BYTES": "0"},
    {"PORT": "99999"},  # not read on Lambda; Settings refuses it
]


def _settings() -> Any:
    """The fields of `Settings()` read from the process environment, or "invalid"."""
    try:
        settings = Settings()
    except ValidationError:
        return "invalid"
    return tuple(getattr(settings, name) for name in _FIELDS)


def _lambda_settings(environ: dict[str, str]) -> Any:
    try:
        settings = LambdaSettings.from_env(environ)
    except ValueError:
        return "invalid"
    return tuple(getattr(settings, name) for name in _FIELDS)


@pytest.mark.parametrize("environ", ENVIRONMENTS, ids=lambda e: ",".join(e) or "defaults")
def test_lambda_settings_are_the_settings_of_the_same_environment(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("READ_MODEL_URL", "PORT", *(f.upper() for f in _FIELDS)):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    expected = _settings()
    if "PORT" in environ:
        assert expected == "invalid"
        expected = tuple(getattr(Settings(port=3002), name) for name in _FIELDS)

    assert _lambda_settings(environ) == expected


def test_error_names_the_variable_when_a_number_is_malformed() -> None:
    with pytest.raises(ValueError, match="PAGE_SIZE_MAX must be an integer"):
        LambdaSettings.from_env({"PAGE_SIZE_MAX": "many"})
