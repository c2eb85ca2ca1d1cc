"""`cqrs-es updater` as a real process: catches up, stops cleanly on SIGTERM, resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from event_store.url import open_event_store
from read_model import ReadModelUnavailableError, create_engine_for
from read_model_updater.poller import Poller
from read_model_updater.testing import HistoryBuilder, append, domain_view, read_model_view
from sqlalchemy import Engine

pytestmark = pytest.mark.slow

WAIT_SECONDS = 60.0  # a failure guard for a loaded machine, not a timing assertion


def _env(events_url: str, read_model_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        EVENT_STORE_URL=events_url,
        READ_MODEL_URL=read_model_url,
        UPDATER_POLL_INTERVAL_SECONDS="0.01",
        UPDATER_BATCH_SIZE="16",
    )
    return env


@contextmanager
def updater(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", "updater", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_position(engine: Engine, store_url: str, expected: int) -> None:
    store = open_event_store(store_url)
    try:
        poller = Poller(store, engine)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if poller.position() >= expected:
                    return
            except ReadModelUnavailableError:
                pass  # not migrated yet: the updater was started with --migrate
            time.sleep(0.02)
        raise AssertionError(f"the updater did not reach position {expected}")
    finally:
        store.close()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=WAIT_SECONDS)
    return process.returncode, output


def test_updater_stops_cleanly_and_resumes_when_restarted(tmp_path: Path) -> None:
    events_url = f"sqlite:///{tmp_path / 'events.db'}"
    read_model_url = f"sqlite:///{tmp_path / 'read_model.db'}"
    env = _env(events_url, read_model_url)
    builder = HistoryBuilder(seed=21)
    store = open_event_store(events_url)
    engine = create_engine_for(read_model_url)
    try:
        append(store, builder.grow(50))
        with updater(env, "--migrate") as process:
            wait_for_position(engine, events_url, 50)
            append(store, builder.grow(30))  # written while it runs
            wait_for_position(engine, events_url, 80)
            code, output = stop(process)
        assert code == 0, output
        assert "updater stopped" in output

        append(store, builder.grow(40))  # written while it is down
        with updater(env) as process:
            wait_for_position(engine, events_url, 120)
            code, output = stop(process)
        assert code == 0, output
        assert read_model_view(engine) == domain_view(list(builder.states.values()), builder.events)
    finally:
        store.close()
        engine.dispose()


def test_updater_exits_with_a_hint_when_the_read_model_is_not_migrated(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'events.db'}", f"sqlite:///{tmp_path / 'rm.db'}")

    with updater(env) as process:
        output, _ = process.communicate(timeout=WAIT_SECONDS)

    assert process.returncode == 2
    assert "cqrs-es migrate" in output
