"""`cqrs-es updater`: project the SQL event store's journal into the read model, continuously.

Reads `EVENT_STORE_URL` and `READ_MODEL_URL` (see `read_model_updater.settings`). Stops on SIGTERM
or SIGINT after the batch in progress, with exit status 0.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es updater`."""
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="create or upgrade the read-model tables first (default: require `cqrs-es migrate`)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="events per batch (default: UPDATER_BATCH_SIZE or 500)"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        help="seconds to wait when idle (default: UPDATER_POLL_INTERVAL_SECONDS or 0.01)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the updater until stopped."""
    from pydantic import ValidationError
    from read_model_updater.poller import UpdaterConfigError, configure_telemetry, serve
    from read_model_updater.settings import Settings

    overrides: dict[str, object] = {}
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.poll_interval is not None:
        overrides["poll_interval_seconds"] = args.poll_interval
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        print(f"cqrs-es updater: invalid settings:\n{error}", file=sys.stderr)
        return 2
    tel = configure_telemetry()
    try:
        serve(settings, migrate=args.migrate)
    except UpdaterConfigError as error:
        print(f"cqrs-es updater: {error}", file=sys.stderr)
        return 2
    finally:
        tel.shutdown()
    return 0
