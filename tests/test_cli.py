import subprocess
import sys

import pytest

from cqrs_es import __version__
from cqrs_es.cli import main


def test_version_is_printed_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cqrs-es {__version__}"


def test_console_script_runs_in_a_fresh_process() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cqrs_es.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"cqrs-es {__version__}"


def test_usage_is_shown_and_exit_code_is_2_when_no_command_is_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    assert "usage: cqrs-es" in capsys.readouterr().out
