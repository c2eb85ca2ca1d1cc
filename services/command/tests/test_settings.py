"""`Settings`: the environment read without pydantic-settings, with the same names and rules."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from command_service.settings import SETTINGS_FIELDS, Settings


def test_defaults_when_the_environment_sets_nothing() -> None:
    settings = Settings(environ={})

    assert settings.event_store_url == "sqlite:///var/events.db"
    assert (settings.snapshot_interval, settings.command_max_retries) == (100, 3)
    assert (settings.max_body_bytes, settings.body_timeout_seconds) == (65536, 10.0)
    assert (settings.idempotency_ttl_seconds, settings.port) == (86_400, 3001)
    assert (settings.max_members_per_group_chat, settings.max_messages_per_group_chat) == (
        1000,
        10_000,
    )


def test_reads_every_variable_case_insensitively() -> None:
    environ = {
        "EVENT_STORE_URL": "memory://",
        "snapshot_interval": "7",
        "Command_Max_Retries": "0",
        "MAX_BODY_BYTES": " 1024 ",
        "BODY_TIMEOUT_SECONDS": "2.5",
        "IDEMPOTENCY_TTL_SECONDS": "60",
        "MAX_MEMBERS_PER_GROUP_CHAT": "5",
        "MAX_MESSAGES_PER_GROUP_CHAT": "0",
        "AGGREGATE_CACHE_SIZE": "0",
        "PORT": "8080",
    }

    settings = Settings(environ=environ)

    assert settings.event_store_url == "memory://"
    assert settings.snapshot_interval == 7
    assert settings.command_max_retries == 0
    assert settings.max_body_bytes == 1024
    assert settings.body_timeout_seconds == 2.5
    assert settings.idempotency_ttl_seconds == 60
    assert settings.limits.max_members == 5
    assert settings.limits.max_messages == 0
    assert settings.aggregate_cache_size == 0
    assert settings.port == 8080


def test_given_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_STORE_URL", "memory://")
    monkeypatch.setenv("MAX_BODY_BYTES", "10")

    settings = Settings(max_body_bytes="20", snapshot_interval=0)

    assert (settings.event_store_url, settings.max_body_bytes) == ("memory://", 20)
    assert settings.snapshot_interval == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_BODY_BYTES", "0", "MAX_BODY_BYTES must be greater than or equal to 1"),
        ("MAX_BODY_BYTES", "lots", "MAX_BODY_BYTES must be a whole number"),
        ("SNAPSHOT_INTERVAL", "-1", "SNAPSHOT_INTERVAL must be greater than or equal to 0"),
        ("SNAPSHOT_INTERVAL", "", "SNAPSHOT_INTERVAL must be a whole number"),
        ("BODY_TIMEOUT_SECONDS", "0", "BODY_TIMEOUT_SECONDS must be greater than 0"),
        ("BODY_TIMEOUT_SECONDS", "nan", "BODY_TIMEOUT_SECONDS must be a finite number"),
        ("PORT", "70000", "PORT must be less than or equal to 65535"),
        ("IDEMPOTENCY_TTL_SECONDS", "1.5", "IDEMPOTENCY_TTL_SECONDS must be a whole number"),
    ],
)
def test_refuses_a_value_out_of_its_type_or_bounds(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(environ={variable: value})


def test_refuses_an_unknown_name_when_given_one() -> None:
    with pytest.raises(TypeError, match="max_bodybytes"):
        Settings(max_bodybytes=1)


def test_settings_are_immutable() -> None:
    settings = Settings(environ={})

    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_every_field_is_documented() -> None:
    assert [f.name for f in SETTINGS_FIELDS] == [f.name for f in dataclasses.fields(Settings)]
    assert all(f.description for f in SETTINGS_FIELDS)


def test_importing_the_settings_imports_no_pydantic() -> None:
    code = "import sys, command_service.settings; print('pydantic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
