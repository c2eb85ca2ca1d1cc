"""`cqrs-es query`: run the query service (REST under `/query`) with uvicorn.

Settings come from the environment (`READ_MODEL_URL`, `PORT`, …; see
`query_service.settings.Settings`); `--port` overrides `PORT`. The read model must have been
migrated (`cqrs-es migrate`); until it is, reads answer 503.
"""

from __future__ import annotations

import argparse
import sys

from cqrs_es import server_limits


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
    port = args.port if args.port is not None else settings.port
    uvicorn.run(
        app,
        host=args.host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        **server_limits.uvicorn_options(args),
    )
    return 0
