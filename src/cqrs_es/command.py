"""`cqrs-es command`: run the command service alone (uvicorn), configured by the environment.

`EVENT_STORE_URL`, `SNAPSHOT_INTERVAL`, `COMMAND_MAX_RETRIES`, `MAX_BODY_BYTES` and `PORT` are
read by `command_service.settings.Settings`. SIGTERM or Ctrl-C stops it gracefully: uvicorn stops
accepting connections and lets in-flight requests finish before the event store is closed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cqrs_es import server_limits
from cqrs_es.parent_death import die_with_supervisor

GRACEFUL_SHUTDOWN_SECONDS = 10
"""How long in-flight requests may take to finish after SIGTERM (below `cqrs-es dev`'s wait)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es command`."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="TCP port (default: $PORT, else 3001)"
    )
    server_limits.add_options(parser)


def run(args: argparse.Namespace) -> int:
    """Serve the command service until SIGTERM/SIGINT; 2 when the configuration is invalid."""
    import uvicorn
    from command_service.app import create_app
    from command_service.runtime import build_runtime
    from command_service.settings import Settings
    from event_store import EventStoreError

    try:
        settings = Settings()
        if args.workers > 1 and settings.event_store_url.lower().startswith("memory:"):
            # Each worker would keep its own journal, and a client would see whichever one its
            # connection reached.
            raise ValueError(
                "--workers above 1 needs an event store the workers share, not memory://"
            )
        if args.workers == 1:
            app = create_app(settings)
        else:
            # The workers build their own apps; here the configuration and the store are only
            # checked, so that a mistake is reported once, with this command's exit status.
            build_runtime(settings).close()
    except ValueError as exc:  # pydantic's ValidationError included
        print(f"cqrs-es command: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except EventStoreError as exc:
        print(f"cqrs-es command: cannot open the event store: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(
        app if args.workers == 1 else "cqrs_es.command:worker_app",
        host=args.host,
        port=args.port if args.port is not None else settings.port,
        # Logs go through the JSON handler telemetry installed; the access log is its middleware.
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        factory=args.workers > 1,
        **server_limits.uvicorn_options(args),
    )
    return 0


def worker_app() -> Any:
    """The app of one worker process of `--workers N` (uvicorn imports and calls it)."""
    from command_service.app import create_app
    from command_service.settings import Settings

    die_with_supervisor()
    return create_app(Settings())
