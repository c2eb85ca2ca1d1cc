"""The reliability figures of the fault, concurrency and fuzz suites, recorded while they run.

Import the fixture and the hooks into a suite's conftest (pytest finds them by name)::

    # tests/<suite>/conftest.py
    from cqrs_es.testing.reliability import (  # noqa: F401 (a fixture and hooks, found by name)
        pytest_runtest_logreport,
        pytest_sessionfinish,
        reliability,
    )

A test calls `reliability.record(suite, scenario, **figures)` with what it did and saw
(commands issued, processes killed, changes lost or duplicated, fuzz cases, 5xx found...). At
the end of a session that recorded anything, the figures, each with its test's outcome, are
written as JSON to `.reliability/results.json` at the repository root (or `$RELIABILITY_RESULTS`).
`tools/reliability_report.py` renders that file as `docs/reliability.md`.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

RESULTS_ENV = "RELIABILITY_RESULTS"
DEFAULT_RESULTS = Path(".reliability") / "results.json"
"""Relative to the pytest root directory."""

# Module-level, not per config: several conftests import the hooks, and the session hook must
# write the figures once (it runs once per importing conftest).
_records: list[dict[str, Any]] = []


class ReliabilityRecorder:
    """Records one test's figures; each `record` call is one row of the report."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid
        self._started = time.monotonic()

    def record(self, suite: str, scenario: str, **figures: Any) -> None:
        """Record `figures` (JSON values) of `scenario` in `suite` (`faults`, `fuzz`, ...)."""
        _records.append(
            {
                "suite": suite,
                "scenario": scenario,
                "test": self.nodeid,
                "figures": figures,
                "seconds": round(time.monotonic() - self._started, 1),
                "outcome": None,  # the test's outcome: set by pytest_runtest_logreport
            }
        )


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> ReliabilityRecorder:
    """The recorder of this test's reliability figures."""
    return ReliabilityRecorder(request.node.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Attach the test's outcome to its figures (a failure in any phase wins)."""
    if report.when != "call" and not report.failed:
        return
    for record in _records:
        if record["test"] == report.nodeid and record["outcome"] != "failed":
            record["outcome"] = report.outcome


def results_path(rootdir: Path) -> Path:
    """Where the figures go: `$RELIABILITY_RESULTS`, else `.reliability/results.json`."""
    configured = os.environ.get(RESULTS_ENV)
    return Path(configured) if configured else rootdir / DEFAULT_RESULTS


def _git_commit(directory: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the session's figures, if it recorded any (once, however many conftests import it)."""
    if not _records:
        return
    rootdir = Path(session.config.rootpath)
    path = results_path(rootdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _git_commit(rootdir),
        "machine": {
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
        },
        "exit_status": int(exitstatus),
        "records": list(_records),
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    _records.clear()
