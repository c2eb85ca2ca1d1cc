"""Helpers shared by the benchmark scripts (not a benchmark itself).

The scripts run as `python bench/<name>.py`, which puts this directory first on `sys.path`.
Two of them are named like things they import (`http.py` shadows the standard library's `http`,
`event_store.py` the `event_store` package), so each script first calls `fix_sys_path()`, which
moves this directory to the end of the path; siblings are then loaded by file with
`load_sibling()`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def fix_sys_path() -> None:
    """Move the bench directory behind the standard library and the installed packages."""
    here = str(BENCH_DIR)
    kept = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path[:] = [*kept, here]


def load_sibling(name: str) -> ModuleType:
    """Import `bench/<name>.py` as module `bench_<name>` (its own name may shadow another)."""
    module_name = f"bench_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BENCH_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def admin_url() -> str:
    """The PostgreSQL server the benchmarks create their temporary databases on."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


@contextlib.contextmanager
def temporary_postgres_database(prefix: str = "bench") -> Iterator[str]:
    """A brand-new database on the `admin_url()` server, dropped on exit; yields its URL."""
    import psycopg

    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_read_model(
    backend: str, prefix: str, tmp_dir: str | None = None, **engine_options: Any
) -> Iterator[Any]:
    """A migrated, empty read model on `backend` (`sqlite`: a file in a temporary directory
    under `tmp_dir`; `postgres`: a temporary database); yields its SQLAlchemy engine, created with
    `engine_options`, disposed and the database removed on exit."""
    import read_model

    @contextlib.contextmanager
    def url() -> Iterator[str]:
        if backend != "sqlite":
            with temporary_postgres_database(prefix.replace("-", "_")) as postgres_url:
                yield postgres_url
            return
        directory = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=tmp_dir))
        try:
            yield f"sqlite:///{directory / 'read_model.db'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    with url() as database_url:
        read_model.migrate(database_url)
        engine = read_model.create_engine_for(database_url, **engine_options)
        try:
            yield engine
        finally:
            engine.dispose()


def postgres_available() -> str | None:
    """None when the server at `admin_url()` answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError as exc:
        return str(exc)
    try:
        with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (nearest rank) of `values`; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median of `values`; NaN when empty."""
    return statistics.median(values) if values else float("nan")


def machine_line() -> str:
    """One line describing where the figures come from (they mean little without it)."""
    return (
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain text table, columns left-aligned, for terminal output and the README."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
