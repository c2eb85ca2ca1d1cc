"""Smoke tests: each benchmark runs in its quickest mode and prints its figures.

They keep the benchmarks from rotting as the code they measure changes. Nothing is timed or
compared: the machine is shared and noisy, and the figures are for people to read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_quick(script: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _require_bench_group() -> None:
    try:
        import eventsourcing  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("the bench dependency group is not installed (uv sync --group bench)")


@pytest.mark.slow
def test_prints_both_stores_rates_and_load_times_when_event_store_benchmark_runs_quick() -> None:
    _require_bench_group()
    out = _run_quick("event_store.py")
    assert "ours/theirs" in out
    assert "sqlite" in out
    assert "load+decode+fold ms" in out
    assert "back to back" in out
    assert "about the ratio's ceiling here" in out
    if os.environ.get("CI") == "true":
        assert "postgres " in out


@pytest.mark.slow
def test_prints_rate_latency_lag_and_ratio_when_http_benchmark_runs_quick() -> None:
    out = _run_quick("http.py")
    for figure in ("commands/s (HTTP)", "latency p99", "projection lag p99", "HTTP / in-process"):
        assert figure in out
    assert "errors: none" in out


@pytest.mark.slow
def test_prints_every_handler_and_the_baseline_when_cold_start_benchmark_runs_quick() -> None:
    out = _run_quick("cold_start.py")
    for handler in ("command", "query", "updater", "baseline"):
        assert f"\n{handler} " in out


@pytest.mark.slow
def test_prints_apply_and_bare_rates_for_sqlite_when_projector_benchmark_runs_quick() -> None:
    out = _run_quick("projector.py")
    for figure in ("apply ev/s (posts)", "bare executemany rows/s", "apply / bare"):
        assert figure in out
    assert "\nsqlite " in out
    if os.environ.get("CI") == "true":
        assert "\npostgres " in out


@pytest.mark.slow
def test_prints_cpu_per_read_for_every_operation_when_query_cpu_benchmark_runs_quick() -> None:
    out = _run_quick("query_cpu.py")
    for operation in ("getGroupChats", "getMessages", "getMessage"):
        assert operation in out
    assert "sqlite" in out
