"""`cqrs-es query`: run the query service (REST under `/query`) with uvicorn.

Settings come from the environment (`READ_MODEL_URL`, `PORT`, …; see
`query_service.settings.Settings`); `--port` overrides `PORT`. The read model must have been
migrated (`cqrs-es migrate`); until it is, reads answer 503.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cqrs_es import server_limits
from cqrs_es.parent_death import die_with_supervisor


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es query`."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: $PORT, else 3002)"
    )
    server_limits.add_options(parser)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM (uvicorn finishes in-flight requests first)."""
    # Imported here: FastAPI and SQLAlchemy cost seconds, and only this command needs them.
    import uvicorn
    from query_service.app import create_app
    from query_service.settings import Settings

    try:
        settings = Settings()
        app = create_app(settings)
    except ValueError as exc:
        print(f"cqrs-es query: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1:
        # The workers build their own apps: this one only checked the configuration.
        app.state.engine.dispose()
    port = args.port if args.port is not None else settings.port
    uvicorn.run(
        app if args.workers == 1 else "cqrs_es.query:worker_app",
        host=args.host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        factory=args.workers > 1,
        **server_limits.uvicorn_options(args),
    )
    return 0


def worker_app() -> Any:
    """The app of one worker process of `--workers N` (uvicorn imports and calls it)."""
    from query_service.app import create_app
    from query_service.settings import Settings

    die_with_supervisor()
    return create_app(Settings())
