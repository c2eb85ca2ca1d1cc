"""pytest fixtures over `cqrs_es.testing`, to import into the conftest of any test directory.

Fixtures and hooks are found by name in a conftest module, so importing them is enough::

    # tests/<suite>/conftest.py
    from cqrs_es.testing.fixtures import (  # noqa: F401 (fixtures and a hook, found by name)
        harness,
        postgres_backend,
        pytest_runtest_makereport,
        sqlite_backend,
    )

- `harness`: a `Harness` for the test, logs under `tmp_path / "processes"`; every process it
  started is stopped at teardown (SIGTERM together, then SIGKILL of any survivor's tree).
- `sqlite_backend`: SQLite files in `tmp_path / "data"`.
- `postgres_backend`: both stores in one fresh PostgreSQL database (the root `postgres_url`
  fixture); the harnesses' processes are stopped before that database is dropped.
- `pytest_runtest_makereport`: when a test fails, the end of every started process's log is
  added to its report (sections "process output: <name>").
- For fixtures of a wider scope: `process_harness(request, directory)` registers a harness the
  same way, and `postgres_database()` makes a database (skipped when the server is not reachable
  outside CI, as `postgres_url` is).

This module imports pytest; the rest of `cqrs_es.testing` does not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from cqrs_es.testing import Backend, Harness, temporary_postgres_database

_HARNESSES = pytest.StashKey[list[Harness]]()


@contextlib.contextmanager
def process_harness(request: pytest.FixtureRequest, directory: Path) -> Iterator[Harness]:
    """A `Harness` in `directory`, closed on exit, whose logs go into failure reports.

    It is registered on the requesting fixture's node (a test, a module, ...): the report of any
    failing test below that node shows the processes' output.
    """
    harness = Harness(directory)
    registered = request.node.stash.setdefault(_HARNESSES, [])
    registered.append(harness)
    try:
        yield harness
    finally:
        try:
            harness.close()
        finally:
            registered.remove(harness)


def close_harnesses(request: pytest.FixtureRequest) -> None:
    """Stop the processes of every harness registered on `request`'s node and its parents."""
    node: pytest.Item | pytest.Collector | None = request.node
    while node is not None:
        for harness in node.stash.get(_HARNESSES, []):
            harness.close()
        node = node.parent


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (`temporary_postgres_database`); skip if none is reachable.

    Like the root `postgres_url` fixture: outside CI an unreachable server skips the test; in CI
    (`CI=true`) it is an error.
    """
    import psycopg  # a dependency of cqrs-es (read-model): never a reason to skip

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_postgres_database())
        except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
            if os.environ.get("CI") == "true":
                raise
            pytest.skip(f"PostgreSQL is not reachable: {exc}")
        yield url


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A `Harness` whose logs (and `dev()` data) live under `tmp_path / "processes"`."""
    with process_harness(request, tmp_path / "processes") as harness:
        yield harness


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    """SQLite files in a fresh directory, `tmp_path / "data"`."""
    return Backend.sqlite(tmp_path / "data")


@pytest.fixture
def postgres_backend(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[Backend]:
    """Both stores in one fresh PostgreSQL database (from the root `postgres_url` fixture)."""
    yield Backend.postgres(postgres_url)
    # The database is dropped right after this: stop the processes using it first, so that they
    # do not fail (and log errors) while they are still being stopped.
    close_harnesses(request)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure (in any phase), add the end of every started process's log to the report."""
    report = yield
    if report.failed:
        for node in item.listchain():
            for harness in node.stash.get(_HARNESSES, []):
                for name, text in harness.reports():
                    report.sections.append((f"process output: {name}", text))
    return report
