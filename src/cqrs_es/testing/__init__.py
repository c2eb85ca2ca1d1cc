"""Run the project's real processes from tests: start, wait until ready, stop, kill, restart.

End-to-end and fault-injection tests drive the same `cqrs-es` processes that production runs.
This module starts them as children of the test process (`python -m cqrs_es.cli ...` of the
running interpreter), on free ports, with a scrubbed environment, and guarantees they are gone
afterwards. It depends on the standard library only.

- `Harness(directory)` owns every process a test starts (logs go to `directory/<name>.log`) and
  `close()` stops them all: gracefully within a bound, then by SIGKILL of the whole process
  tree. Use it as a context manager or through the pytest fixtures in `tests/conftest.py`.
- `ManagedProcess`: one restartable `cqrs-es <subcommand>`: `start()`, `wait_ready()`,
  `stop()` (SIGTERM, bounded), `kill()` (SIGKILL, with its descendants), `restart()`,
  `send_signal()`, `wait_exit()`, `output()`.
- `ServiceStack` (`harness.services(backend)`): command, query and updater as three separate
  processes on a `Backend` (SQLite files or one PostgreSQL database), after `cqrs-es migrate`;
  each process can be stopped, killed and restarted on its own.
- `DevStack` (`harness.dev()`): `cqrs-es dev` as a whole; `stop()` sends SIGINT to its process
  group, as a terminal's Ctrl-C does.
- `eventually(read, done, what)`: poll with a bounded wait (the read side is eventually
  consistent).
- `temporary_postgres_database()`: a brand-new PostgreSQL database, dropped afterwards (for
  fixtures wider than one test; per test, use the root `postgres_url` fixture).

Children never inherit `OTEL_*`, the stores' URLs, ports or tuning variables from the test
process's environment: a test gets exactly the configuration it asks for (pass `OTEL_*` in `env`
to trace).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

DEFAULT_HOST = "127.0.0.1"
START_TIMEOUT = 90.0
"""Seconds a process may take to become ready (imports alone take seconds on a busy 2-core box)."""
STOP_TIMEOUT = 60.0
"""Seconds a graceful stop may take; above the services' own grace periods (10 s, dev 15 s)."""
RUN_TIMEOUT = 120.0
"""Seconds a one-shot command (`cqrs-es migrate`, `rebuild-read-model`) may take."""
EVENTUALLY_TIMEOUT = 30.0
"""Seconds `eventually` waits for the read side to catch up."""
UPDATER_READY_MARKER = "updater started at journal position"
"""What `cqrs-es updater` logs once it has opened both stores and begins tailing."""

_SCRUBBED_NAMES = frozenset(
    {
        "EVENT_STORE_URL",
        "READ_MODEL_URL",
        "PORT",
        "SNAPSHOT_INTERVAL",
        "COMMAND_MAX_RETRIES",
        "MAX_BODY_BYTES",
        "PAGE_SIZE_DEFAULT",
        "PAGE_SIZE_MAX",
        "LOG_LEVEL",
    }
)
_SCRUBBED_PREFIXES = ("OTEL_", "UPDATER_")

T = TypeVar("T")


class ProcessError(RuntimeError):
    """A process did not start, become ready, or stop as expected; the message has its output."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def child_environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ours without the project's settings, then `overrides`.

    Removed: `OTEL_*` (no tracing unless asked), `UPDATER_*`, the stores' URLs, `PORT` and the
    services' tuning variables, so that a developer's shell cannot change what a test runs.
    `PYTHONUNBUFFERED=1` makes the output reach the log file at once (it is read while the
    process runs, and a killed process must not lose its last lines).
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED_NAMES and not name.startswith(_SCRUBBED_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides or {})
    return env


def exited_gracefully(returncode: int | None) -> bool:
    """Whether an exit status is a clean stop: 0, or death by SIGTERM after a graceful shutdown.

    uvicorn finishes its shutdown on SIGTERM and then re-raises the signal (-15).
    """
    return returncode in (0, -signal.SIGTERM)


def eventually(
    read: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    *,
    timeout: float = EVENTUALLY_TIMEOUT,
    interval: float = 0.05,
) -> T:
    """Call `read` until `done(value)` holds and return that value; fail after `timeout` s.

    The AssertionError names `what` and shows the last value read.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s; last: {value!r}")
        time.sleep(interval)


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: `url` answers 200 to a GET."""

    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    return check


DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def temporary_postgres_database(admin_url: str | None = None) -> Iterator[str]:
    """Create a database with a unique name, yield its URL, then drop it (even if in use).

    `admin_url` (default: `$TEST_DATABASE_URL`, else `DEFAULT_TEST_DATABASE_URL`) is any database
    of the server the user may `CREATE DATABASE` from. psycopg's OperationalError propagates
    when the server cannot be reached.
    """
    import psycopg  # imported here: only PostgreSQL tests need it

    admin = admin_url or os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Backend:
    """Where the processes keep their data: the two URLs they read from the environment."""

    name: str
    event_store_url: str
    read_model_url: str

    @classmethod
    def sqlite(cls, data_dir: Path) -> Backend:
        """SQLite files in `data_dir`, named as `cqrs-es dev` names them."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            "sqlite",
            f"sqlite:///{data_dir / 'events.db'}",
            f"sqlite:///{data_dir / 'read_model.db'}",
        )

    @classmethod
    def postgres(cls, url: str) -> Backend:
        """Event store and read model in the same PostgreSQL database (`postgresql://...`)."""
        return cls("postgres", url, url)

    def env(self) -> dict[str, str]:
        """`EVENT_STORE_URL` and `READ_MODEL_URL`."""
        return {"EVENT_STORE_URL": self.event_store_url, "READ_MODEL_URL": self.read_model_url}


_live: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    # Last resort when the test process exits without its fixtures' teardown (an interrupted run).
    for process in list(_live):
        with contextlib.suppress(Exception):
            process.kill()


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (Linux /proc), children before grandchildren.

    Needed because `cqrs-es dev` starts its children in sessions of their own: signalling dev's
    process group does not reach them.
    """
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may contain spaces and parentheses: split after it.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for parent in frontier for child in parents.get(parent, [])]
        found.extend(children)
        frontier = children
    return found


def alive(pid: int) -> bool:
    """Whether process `pid` runs (Linux /proc; a zombie nobody has reaped yet does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cli_subcommand(pid: int) -> str | None:
    """The sub-command of a running `python -m cqrs_es.cli <sub-command> ...`, else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    try:
        return argv[argv.index(b"cqrs_es.cli") + 1].decode()
    except (ValueError, IndexError):
        return None


class ManagedProcess:
    """One `cqrs-es <args>` process that can be started, stopped, killed and started again.

    Every run appends its output (stdout and stderr) to `log_path`, after a header line, so the
    log tells the whole story of a test. `env` is used as given (build it with
    `child_environment`) and may be changed between runs. `ready` tells whether a running
    process is ready (see `http_ok`); without it a process is ready once started.
    """

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        ready: Callable[[], bool] | None = None,
        ready_marker: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self._ready = ready
        self._ready_marker = ready_marker
        self._popen: subprocess.Popen[bytes] | None = None
        self._run_offset = 0
        self.starts = 0
        """How many times the process was started."""

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} returncode={self.returncode}>"

    @property
    def command_line(self) -> list[str]:
        """The full command line: this interpreter, `-m cqrs_es.cli`, then `args`."""
        return [sys.executable, "-m", "cqrs_es.cli", *self.args]

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        """The current (or last) run's `Popen`, None before the first start."""
        return self._popen

    @property
    def pid(self) -> int | None:
        """The pid of the current (or last) run."""
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        """The last run's exit status (negative: killed by that signal); None while running."""
        return self._popen.poll() if self._popen else None

    @property
    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def start(self, *, wait: bool = True, timeout: float = START_TIMEOUT) -> ManagedProcess:
        """Start the process (in a session of its own); with `wait`, until it is ready."""
        if self.running:
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            self._run_offset = log.tell()
            header = f"==== {self.name} run {self.starts}: {' '.join(self.command_line)}\n"
            log.write(header.encode())
            log.flush()
            # A session of its own: a Ctrl-C in the test's terminal is for pytest, which then
            # stops the processes itself; and the whole group can be signalled at once.
            self._popen = subprocess.Popen(
                self.command_line,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _live.add(self)
        if wait:
            self.wait_ready(timeout)
        return self

    def is_ready(self) -> bool:
        """Whether the running process passes its readiness check."""
        if not self.running:
            return False
        if self._ready_marker is not None and self._ready_marker not in self.current_output():
            return False
        return self._ready() if self._ready is not None else True

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until ready; ProcessError (with the output) if it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if not self.running:
                code = self.returncode
                raise ProcessError(
                    f"{self.name} exited with {code} before it was ready\n{self.tail()}"
                )
            if time.monotonic() >= deadline:
                raise ProcessError(f"{self.name} not ready within {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.1)

    def send_signal(self, signum: int, *, group: bool = False) -> None:
        """Send `signum` to the process, or with `group` to its whole process group."""
        if not self.running or self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self._popen.pid, signum)
            else:
                self._popen.send_signal(signum)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit and return its status; ProcessError on timeout."""
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        try:
            code = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProcessError(
                f"{self.name} did not exit within {timeout:.0f} s\n{self.tail()}"
            ) from None
        _live.discard(self)
        return code

    def stop(
        self, *, timeout: float = STOP_TIMEOUT, signum: int = signal.SIGTERM, group: bool = False
    ) -> int:
        """Stop gracefully (`signum`, SIGTERM by default) and return the exit status.

        If it has not exited within `timeout`, the process and its descendants are killed and
        ProcessError is raised: a process that cannot stop is a bug. Stopping a process that is
        not running returns its last status.
        """
        self.send_signal(signum, group=group)
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = STOP_TIMEOUT) -> int:
        """After a stop signal: wait for the exit; past `timeout` kill (tree) and ProcessError."""
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        try:
            return self.wait_exit(timeout)
        except ProcessError:
            self.kill()
            raise

    def kill(self) -> int:
        """SIGKILL the process and all its descendants at once (a crash); return its status.

        The process is frozen first (SIGSTOP) so that it cannot react (stop or restart its
        children) while they die.
        """
        if self._popen is None:
            raise ProcessError(f"{self.name} was never started")
        if self.running:
            pid = self._popen.pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            for child in reversed(descendants(pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = self._popen.wait()
        _live.discard(self)
        return code

    def restart(self, *, wait: bool = True, timeout: float = START_TIMEOUT) -> ManagedProcess:
        """Stop gracefully (if running), then start again with the same arguments and env."""
        if self.running:
            self.stop()
        return self.start(wait=wait, timeout=timeout)

    def output(self) -> str:
        """The whole log: every run's output, each after its header line."""
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def current_output(self) -> str:
        """The current (or last) run's output."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._run_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, max_chars: int = 12_000) -> str:
        """The end of the log, for error messages."""
        text = self.output()
        return text if len(text) <= max_chars else "...\n" + text[-max_chars:]


def _stop_together(
    processes: Mapping[str, ManagedProcess], timeout: float = STOP_TIMEOUT
) -> dict[str, int]:
    """SIGTERM several processes at once, then wait for each (one shared bound); statuses."""
    started = {key: p for key, p in processes.items() if p.popen is not None}
    for process in started.values():
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    return {
        key: p.wait_stopped(max(0.1, deadline - time.monotonic())) for key, p in started.items()
    }


class ServiceStack:
    """Command service, query service and updater as three processes on one `Backend`.

    `start()` runs `cqrs-es migrate` first (the first time only, unless asked), then starts the
    three processes together and waits until all are ready. Each one is also reachable alone
    (`stack.command`, `stack.query`, `stack.updater`) to be stopped, killed or restarted.
    """

    def __init__(
        self,
        harness: Harness,
        backend: Backend,
        *,
        env: Mapping[str, str] | None = None,
        name: str = "",
    ) -> None:
        self.harness = harness
        self.backend = backend
        host = harness.host
        self.command_port = free_port(host)
        self.query_port = free_port(host)
        self.command_url = f"http://{host}:{self.command_port}/command"
        """Base URL of the command service (`.../command`)."""
        self.query_url = f"http://{host}:{self.query_port}/query"
        """Base URL of the query service (`.../query`)."""
        self.env = child_environment({**backend.env(), **(env or {})})
        prefix = f"{name}-" if name else ""
        self.command = harness.process(
            f"{prefix}command",
            ["command", "--host", host, "--port", str(self.command_port)],
            env=dict(self.env),
            ready=http_ok(f"{self.command_url}/v1/healthcheck"),
        )
        self.query = harness.process(
            f"{prefix}query",
            ["query", "--host", host, "--port", str(self.query_port)],
            env=dict(self.env),
            ready=http_ok(f"{self.query_url}/healthcheck"),
        )
        self.updater = harness.process(
            f"{prefix}updater",
            ["updater"],
            env=dict(self.env),
            ready_marker=UPDATER_READY_MARKER,
        )
        self._migrated = False

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """`command`, `query` and `updater`."""
        return {"command": self.command, "query": self.query, "updater": self.updater}

    def migrate(self) -> None:
        """Run `cqrs-es migrate` on the backend's read model."""
        self.harness.run(["migrate"], env=self.env)
        self._migrated = True

    def start(self, *, migrate: bool | None = None, timeout: float = START_TIMEOUT) -> ServiceStack:
        """Migrate (by default only before the first start), start all three, wait for them."""
        if migrate or (migrate is None and not self._migrated):
            self.migrate()
        for process in self.processes.values():
            if not process.running:
                process.start(wait=False)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            process.wait_ready(max(0.1, deadline - time.monotonic()))
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> dict[str, int]:
        """Stop gracefully, HTTP services first (together), then the updater; exit statuses."""
        codes = _stop_together({"command": self.command, "query": self.query}, timeout)
        codes.update(_stop_together({"updater": self.updater}, timeout))
        return codes

    def kill(self) -> dict[str, int]:
        """SIGKILL all three; exit statuses."""
        return {name: p.kill() for name, p in self.processes.items() if p.popen is not None}

    def restart(self, *, timeout: float = START_TIMEOUT) -> dict[str, int]:
        """Stop gracefully and start again on the same data and ports; the stop's statuses."""
        codes = self.stop()
        self.start(timeout=timeout)
        return codes


class DevStack:
    """`cqrs-es dev` as one process: migrate, command, query and updater on free ports.

    With no `backend` it uses its SQLite default under `data_dir`; with one, the URLs are passed
    in the environment (as `EVENT_STORE_URL` / `READ_MODEL_URL` override dev's defaults).
    """

    def __init__(
        self,
        harness: Harness,
        data_dir: Path,
        *,
        backend: Backend | None = None,
        env: Mapping[str, str] | None = None,
        name: str = "dev",
    ) -> None:
        self.harness = harness
        self.data_dir = data_dir
        host = harness.host
        self.command_port = free_port(host)
        self.query_port = free_port(host)
        self.command_url = f"http://{host}:{self.command_port}/command"
        """Base URL of the command service (`.../command`)."""
        self.query_url = f"http://{host}:{self.query_port}/query"
        """Base URL of the query service (`.../query`)."""
        overrides = {**(backend.env() if backend else {}), **(env or {})}
        command_ready = http_ok(f"{self.command_url}/v1/healthcheck")
        query_ready = http_ok(f"{self.query_url}/healthcheck")
        self.process = harness.process(
            name,
            [
                "dev",
                "--data-dir",
                str(data_dir),
                "--host",
                host,
                "--command-port",
                str(self.command_port),
                "--query-port",
                str(self.query_port),
            ],
            env=child_environment(overrides),
            ready=lambda: command_ready() and query_ready(),
        )

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        """`dev` (its children are not managed one by one; see `child_pids`)."""
        return {"dev": self.process}

    def child_pids(self) -> list[int]:
        """Pids of dev's children (migrate has finished: command, query, updater) and theirs."""
        pid = self.process.pid
        return descendants(pid) if pid is not None and self.process.running else []

    def child_pid(self, subcommand: str) -> int:
        """The pid of dev's `command`, `query` or `updater` child (ProcessError if none runs)."""
        for pid in self.child_pids():
            if cli_subcommand(pid) == subcommand:
                return pid
        raise ProcessError(f"dev has no running {subcommand!r} child\n{self.process.tail()}")

    def start(self, *, timeout: float = START_TIMEOUT) -> DevStack:
        """Start `cqrs-es dev` and wait until both HTTP services answer."""
        self.process.start(timeout=timeout)
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> dict[str, int]:
        """Ctrl-C: SIGINT to dev's process group, as a terminal sends it; exit status."""
        return {"dev": self.process.stop(timeout=timeout, signum=signal.SIGINT, group=True)}

    def kill(self) -> dict[str, int]:
        """SIGKILL dev and its children at once."""
        return {"dev": self.process.kill()}

    def restart(self, *, timeout: float = START_TIMEOUT) -> dict[str, int]:
        """Ctrl-C, then start again on the same data and ports; the stop's status."""
        codes = self.stop()
        self.start(timeout=timeout)
        return codes


class Harness:
    """Owns the processes of one test: creates them, runs one-shot commands, cleans up.

    `directory` receives one log per process (`<name>.log`) and, for `dev()`, the data.
    `close()` (or leaving the `with` block) stops whatever still runs, gracefully in parallel
    within `STOP_TIMEOUT`, then SIGKILLs every survivor with its descendants.
    """

    def __init__(self, directory: Path, *, host: str = DEFAULT_HOST) -> None:
        self.directory = directory
        self.host = host
        self.processes: list[ManagedProcess] = []
        """Every process created through this harness, in creation order."""
        directory.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _unique(self, name: str) -> str:
        taken = {p.name for p in self.processes}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}-{n}"
        return candidate

    def process(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        ready_marker: str | None = None,
    ) -> ManagedProcess:
        """A new (not started) `cqrs-es <args>` process; `env` defaults to `child_environment()`.

        Its name is made unique within the harness (`name-2`, ...); the log is `<name>.log`.
        """
        name = self._unique(name)
        process = ManagedProcess(
            name,
            args,
            env=env if env is not None else child_environment(),
            log_path=self.directory / f"{name}.log",
            ready=ready,
            ready_marker=ready_marker,
            cwd=self.directory,
        )
        self.processes.append(process)
        return process

    def run(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = RUN_TIMEOUT,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-shot `cqrs-es <args>` to completion (output also appended to its log).

        With `check`, a non-zero status raises ProcessError with the output.
        """
        process = self.process(args[0], args, env=env)
        process.start(wait=False)
        try:
            code = process.wait_exit(timeout)
        except ProcessError:
            process.kill()
            raise
        output = process.current_output()
        if check and code != 0:
            raise ProcessError(f"cqrs-es {' '.join(args)} exited with {code}\n{output}")
        return subprocess.CompletedProcess(process.command_line, code, output, "")

    def services(
        self,
        backend: Backend,
        *,
        env: Mapping[str, str] | None = None,
        start: bool = True,
        name: str = "",
    ) -> ServiceStack:
        """Command, query and updater on `backend`; started (after migrate) unless `start=False`.

        `name` prefixes the process names (for several stacks in one test).
        """
        stack = ServiceStack(self, backend, env=env, name=name)
        return stack.start() if start else stack

    def dev(
        self,
        data_dir: Path | None = None,
        *,
        backend: Backend | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> DevStack:
        """`cqrs-es dev` on free ports, data in `data_dir` (default `<directory>/dev-data`)."""
        stack = DevStack(self, data_dir or self.directory / "dev-data", backend=backend, env=env)
        return stack.start() if start else stack

    def close(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every process still running: SIGTERM together, then SIGKILL survivors' trees."""
        running = [p for p in self.processes if p.running]
        for process in running:
            # dev stops its children only on its own signal; the others stop on SIGTERM.
            process.send_signal(signal.SIGINT if process.args[:1] == ["dev"] else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            if process.popen is None:
                continue
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
                _live.discard(process)
            except subprocess.TimeoutExpired:
                process.kill()

    def reports(self) -> list[tuple[str, str]]:
        """`(name, log tail)` of every process that was started, for a failure report."""
        return [(p.name, p.tail()) for p in self.processes if p.starts]
