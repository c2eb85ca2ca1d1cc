"""Fixtures of the fault suite: the real processes (`cqrs_es.testing`) on SQLite and
PostgreSQL, and a throwaway PostgreSQL server that a test may stop and start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_es.testing import Backend, free_port
from cqrs_es.testing.fixtures import (  # noqa: F401 (fixtures and hooks, found by name)
    harness,
    postgres_backend,
    pytest_runtest_makereport,
    sqlite_backend,
)
from cqrs_es.testing.reliability import (  # noqa: F401 (a fixture and hooks, found by name)
    pytest_runtest_logreport,
    pytest_sessionfinish,
    reliability,
)

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn: SQLite files, then one PostgreSQL database."""
    fixture: Backend = request.getfixturevalue(f"{request.param}_backend")
    return fixture


class ThrowawayPostgres:
    """A PostgreSQL server of the test's own (initdb + pg_ctl), on a free port.

    Unlike the machine's shared server, it may be stopped and started at will. Its files live
    in a temporary directory owned by the `postgres` user when the tests run as root (initdb
    refuses to run as root).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as_postgres, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: {result.stdout}{result.stderr}")

    def init(self) -> None:
        """Create the cluster: trust authentication, user `postgres`."""
        self._run(
            str(PG_BIN / "initdb"),
            "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; `immediate` is a crash of the server (recovery on the next start)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server runs."""
        status = subprocess.run(
            [*self._as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def backend(self) -> Backend:
        """Both stores in the server's `postgres` database."""
        return Backend.postgres(self.url)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A started PostgreSQL server of this test's own; stopped and deleted afterwards."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL binaries in {PG_BIN}")
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN} (set PG_BIN)")
    # Not under pytest's tmp_path: the postgres user could not enter root's directories.
    directory = Path(tempfile.mkdtemp(prefix="cqrs-es-pg-"))
    directory.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = ThrowawayPostgres(directory)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
