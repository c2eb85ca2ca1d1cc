"""`cqrs-es migrate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_es.cli import main


def test_migrate_creates_the_read_model_when_given_a_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"

    assert main(["migrate", "--url", url]) == 0
    assert main(["migrate", "--url", url]) == 0

    assert "read model at revision" in capsys.readouterr().out
    assert (tmp_path / "rm.db").exists()


def test_migrate_reads_read_model_url_when_no_url_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("READ_MODEL_URL", f"sqlite:///{tmp_path / 'from_env.db'}")

    assert main(["migrate"]) == 0
    assert (tmp_path / "from_env.db").exists()


def test_migrate_exits_2_when_the_url_is_unsupported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--url", "mysql://db/rm"]) == 2
    assert "unsupported" in capsys.readouterr().err


def test_migrate_exits_1_when_the_database_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["migrate", "--url", "postgresql://postgres@127.0.0.1:1/rm"]) == 1
    assert "unavailable" in capsys.readouterr().err
