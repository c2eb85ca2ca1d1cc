"""`Settings`: the query service's environment, one class for the server, the app and Lambda."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from query_service.settings import SETTINGS_FIELDS, Settings

_NUMBERS = ("port", "page_size_default", "page_size_max", "max_body_bytes", "body_timeout_seconds")


def _read(environ: dict[str, str]) -> tuple[object, ...]:
    settings = Settings(environ=environ)
    return (settings.read_model_url, *(getattr(settings, name) for name in _NUMBERS))


def test_defaults_when_the_environment_sets_nothing() -> None:
    assert _read({}) == ("sqlite:///var/read_model.db", 3002, 50, 200, 65536, 10.0)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {
                "read_model_url": "postgresql://u@db:5432/rm",
                "Page_Size_Max": "7",
                "page_size_default": "7",
                "Port": "8080",
            },
            ("postgresql://u@db:5432/rm", 8080, 7, 7, 65536, 10.0),
        ),
        (
            {"PAGE_SIZE_DEFAULT": " 20 ", "PAGE_SIZE_MAX": "+300"},
            ("sqlite:///var/read_model.db", 3002, 20, 300, 65536, 10.0),
        ),
        (
            {"PAGE_SIZE_MAX": "1_000", "MAX_BODY_BYTES": "1024.0", "BODY_TIMEOUT_SECONDS": "1e1"},
            ("sqlite:///var/read_model.db", 3002, 50, 1000, 1024, 10.0),
        ),
        (
            {"BODY_TIMEOUT_SECONDS": "0.5", "PAGE_SIZE_DEFAULT": "050"},
            ("sqlite:///var/read_model.db", 3002, 50, 200, 65536, 0.5),
        ),
    ],
)
def test_reads_every_variable_case_insensitively_with_lax_numbers(
    environ: dict[str, str], expected: tuple[object, ...]
) -> None:
    assert _read(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BODY_TIMEOUT_SECONDS": "0"}, "BODY_TIMEOUT_SECONDS must be greater than 0"),
        ({"BODY_TIMEOUT_SECONDS": "-1"}, "BODY_TIMEOUT_SECONDS must be greater than 0"),
        ({"BODY_TIMEOUT_SECONDS": "nan"}, "BODY_TIMEOUT_SECONDS must be a finite number"),
        ({"BODY_TIMEOUT_SECONDS": "inf"}, "BODY_TIMEOUT_SECONDS must be a finite number"),
        ({"BODY_TIMEOUT_SECONDS": "soon"}, "BODY_TIMEOUT_SECONDS must be a number"),
        ({"PAGE_SIZE_DEFAULT": "0"}, "PAGE_SIZE_DEFAULT must be greater than or equal to 1"),
        ({"PAGE_SIZE_DEFAULT": "-5"}, "PAGE_SIZE_DEFAULT must be greater than or equal to 1"),
        ({"PAGE_SIZE_DEFAULT": "5.5"}, "PAGE_SIZE_DEFAULT must be a whole number"),
        ({"PAGE_SIZE_DEFAULT": "1e2"}, "PAGE_SIZE_DEFAULT must be a whole number"),
        ({"PAGE_SIZE_DEFAULT": "fifty"}, "PAGE_SIZE_DEFAULT must be a whole number"),
        ({"PAGE_SIZE_DEFAULT": ""}, "PAGE_SIZE_DEFAULT must be a whole number"),
        ({"PAGE_SIZE_MAX": "many"}, "PAGE_SIZE_MAX must be a whole number"),
        ({"PAGE_SIZE_DEFAULT": "201"}, r"PAGE_SIZE_DEFAULT \(201\) exceeds PAGE_SIZE_MAX \(200\)"),
        ({"PAGE_SIZE_DEFAULT": "10", "PAGE_SIZE_MAX": "5"}, "PAGE_SIZE_DEFAULT .* exceeds"),
        ({"MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES must be greater than or equal to 1"),
        ({"PORT": "99999"}, "PORT must be less than or equal to 65535"),
    ],
)
def test_refuses_a_value_out_of_its_type_or_bounds_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(environ=environ)


def test_given_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READ_MODEL_URL", "postgresql://db/rm")
    monkeypatch.setenv("PAGE_SIZE_MAX", "10")

    settings = Settings(page_size_default=3, page_size_max=5)

    assert (settings.read_model_url, settings.page_size_default, settings.page_size_max) == (
        "postgresql://db/rm",
        3,
        5,
    )


def test_refuses_an_unknown_name_when_given_one() -> None:
    with pytest.raises(TypeError, match="page_sise_max"):
        Settings(page_sise_max=1)


def test_settings_are_immutable() -> None:
    settings = Settings(environ={})

    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_every_field_is_documented() -> None:
    assert [f.name for f in SETTINGS_FIELDS] == [f.name for f in dataclasses.fields(Settings)]
    assert all(f.description for f in SETTINGS_FIELDS)


def test_importing_the_settings_imports_no_pydantic() -> None:
    code = "import sys, query_service.settings; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
