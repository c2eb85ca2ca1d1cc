"""`cqrs-es dev`: the whole service on one machine, on SQLite files, with one command.

Starts the command service, the query service and the read-model updater as three child
processes (as they run in production), after creating the read-model schema; the command service
runs `--command-workers` worker processes (see `default_command_workers`). Ctrl-C (SIGINT),
SIGTERM or SIGHUP stops them gracefully: the HTTP servers finish in-flight requests and the updater
finishes its current batch, so nothing acknowledged is lost. The exit status is 0 after such a
stop; it is non-zero (and stderr names the process) when a child fails, at start-up (a port in use)
or later, or does not stop cleanly. On Linux the children also stop if dev itself is killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cqrs_es.parent_death import parent_death_hook
from cqrs_es.server_limits import worker_count

GRACE_SECONDS = 15.0
"""How long each child may take to stop after SIGTERM before it is killed."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es dev`."""
    parser.add_argument(
        "--data-dir", default="var", help="directory of the SQLite files (default: ./var)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--command-port", type=int, default=3001, help="default: 3001")
    parser.add_argument("--query-port", type=int, default=3002, help="default: 3002")
    parser.add_argument(
        "--command-workers",
        type=worker_count,
        default=default_command_workers(),
        help="processes of the command service (default: 2 on a machine with 2 or more CPUs, "
        "else 1)",
    )


def default_command_workers() -> int:
    """2 where there are 2 CPUs or more, else 1.

    The command service is the one that works hardest per request, and one Python process runs
    one thread at a time: a second worker lets a busy local run use a second core (SQLite
    writers in both take turns through a lock file, see `event_store.sqlite`). The query
    service's reads cost a fraction of that, so it keeps one.
    """
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _child_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("EVENT_STORE_URL", f"sqlite:///{data_dir / 'events.db'}")
    env.setdefault("READ_MODEL_URL", f"sqlite:///{data_dir / 'read_model.db'}")
    return env


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A new session per child: the terminal's Ctrl-C reaches only us, and we stop the
    # children in order (HTTP servers first, so the updater can drain what they wrote).
    return subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", *args],
        env=env,
        start_new_session=True,
        # preexec_fn is unsafe only in threaded parents; dev has a single thread.
        # On Linux each child stops if dev is killed outright (it runs in a session of its own,
        # so nothing else would stop it, and it would keep its port busy).
        preexec_fn=parent_death_hook(),
    )


def exited_gracefully(returncode: int) -> bool:
    """Whether a child's exit status is a clean stop: 0, or death by the SIGTERM we sent.

    uvicorn shuts down gracefully on SIGTERM and then re-raises the signal so that the status
    says why it stopped (-15, which a shell shows as 143).
    """
    return returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def describe_exit(returncode: int) -> str:
    """`exited with status 3` or `was killed by SIGKILL`, for messages."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _failure_status(returncode: int) -> int:
    """dev's own exit status when a child stopped unexpectedly: never 0, shell-style for signals.

    A server that stops without being asked is a failure even if its status is 0.
    """
    if returncode < 0:
        return 128 - returncode
    return returncode or 1


def run(args: argparse.Namespace) -> int:
    """Run the three processes until Ctrl-C (or SIGTERM, SIGHUP) or until one of them exits.

    Returns 0 after a requested stop in which every child stopped cleanly; otherwise non-zero,
    with a message on stderr naming the child and how it ended.
    """
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _child_env(data_dir)

    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # SIGHUP too: closing the terminal must stop the children, which do not get it themselves.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)

    # The migration shares our process group, so a Ctrl-C during it stops it as well.
    migrate = subprocess.run([sys.executable, "-m", "cqrs_es.cli", "migrate"], env=env, check=False)
    if stopping:
        print("cqrs-es dev: stopped", flush=True)
        return 0
    if migrate.returncode != 0:
        print("cqrs-es dev: read-model migration failed", file=sys.stderr)
        return _failure_status(migrate.returncode)

    host = args.host
    children = {
        "command": _spawn(
            [
                "command",
                "--host",
                host,
                "--port",
                str(args.command_port),
                "--workers",
                str(args.command_workers),
            ],
            env,
        ),
        "query": _spawn(["query", "--host", host, "--port", str(args.query_port)], env),
        "updater": _spawn(["updater"], env),
    }
    print(
        "cqrs-es dev is running (Ctrl-C to stop)\n"
        f"  command  http://{host}:{args.command_port}/command  "
        f"(docs: http://{host}:{args.command_port}/command/docs; "
        f"{args.command_workers} worker{'s' if args.command_workers > 1 else ''})\n"
        f"  query    http://{host}:{args.query_port}/query  "
        f"(docs: http://{host}:{args.query_port}/query/docs)\n"
        f"  data     {data_dir}",
        flush=True,
    )

    exit_code = 0
    failed: str | None = None
    while not stopping:
        for name, child in children.items():
            code = child.poll()
            # Re-checked per child: a stop request that arrives while we look is not a failure.
            if code is not None and not stopping:
                print(f"cqrs-es dev: {name} {describe_exit(code)}; stopping", file=sys.stderr)
                exit_code, failed = _failure_status(code), name
                stopping = True
                break
        else:
            time.sleep(0.2)

    # HTTP servers first (together), then the updater, so that it can project what they wrote.
    for group in (("command", "query"), ("updater",)):
        codes = _terminate([children[name] for name in group])
        for name, code in zip(group, codes, strict=True):
            if name != failed and not exited_gracefully(code):
                print(f"cqrs-es dev: {name} {describe_exit(code)} while stopping", file=sys.stderr)
                exit_code = exit_code or _failure_status(code)
    print("cqrs-es dev: stopped", flush=True)
    return exit_code


def _terminate(group: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM every child still running, wait up to GRACE_SECONDS, then SIGKILL; exit codes."""
    for child in group:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in group:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(
                f"cqrs-es dev: pid {child.pid} did not stop within {GRACE_SECONDS:.0f} s; killing",
                file=sys.stderr,
            )
            child.kill()
            child.wait()
    return [child.returncode for child in group]
