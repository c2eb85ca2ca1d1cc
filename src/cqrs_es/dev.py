"""`cqrs-es dev`: the whole service on one machine, on SQLite files, with one command.

Starts the command service, the query service and the read-model updater as three child
processes (as they run in production), after creating the read-model schema. Ctrl-C (SIGINT) or
SIGTERM stops them gracefully: the HTTP servers finish in-flight requests and the updater finishes
its current batch, so nothing acknowledged is lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 15.0


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es dev`."""
    parser.add_argument(
        "--data-dir", default="var", help="directory of the SQLite files (default: ./var)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--command-port", type=int, default=3001, help="default: 3001")
    parser.add_argument("--query-port", type=int, default=3002, help="default: 3002")


def _child_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("EVENT_STORE_URL", f"sqlite:///{data_dir / 'events.db'}")
    env.setdefault("READ_MODEL_URL", f"sqlite:///{data_dir / 'read_model.db'}")
    return env


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A new process group per child: the terminal's Ctrl-C reaches only us, and we stop the
    # children in order (HTTP servers first, so the updater can drain what they wrote).
    return subprocess.Popen(
        [sys.executable, "-m", "cqrs_es.cli", *args], env=env, start_new_session=True
    )


def run(args: argparse.Namespace) -> int:
    """Run the three processes until Ctrl-C or until one of them exits."""
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _child_env(data_dir)

    migrate = subprocess.run([sys.executable, "-m", "cqrs_es.cli", "migrate"], env=env, check=False)
    if migrate.returncode != 0:
        print("cqrs-es dev: read-model migration failed", file=sys.stderr)
        return migrate.returncode

    host = args.host
    children = {
        "command": _spawn(["command", "--host", host, "--port", str(args.command_port)], env),
        "query": _spawn(["query", "--host", host, "--port", str(args.query_port)], env),
        "updater": _spawn(["updater"], env),
    }
    print(
        "cqrs-es dev is running (Ctrl-C to stop)\n"
        f"  command  http://{host}:{args.command_port}/command  "
        f"(docs: http://{host}:{args.command_port}/command/docs)\n"
        f"  query    http://{host}:{args.query_port}/query  "
        f"(docs: http://{host}:{args.query_port}/query/docs)\n"
        f"  data     {data_dir}",
        flush=True,
    )

    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                print(f"cqrs-es dev: {name} exited with {code}; stopping", file=sys.stderr)
                exit_code = code or 1
                stopping = True
                break
        time.sleep(0.2)

    for name in ("command", "query", "updater"):
        _terminate(children[name])
    print("cqrs-es dev: stopped", flush=True)
    return exit_code


def _terminate(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
