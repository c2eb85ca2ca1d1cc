"""`cqrs-es rebuild-read-model`: drop the read model and replay the whole journal into it.

Reads `EVENT_STORE_URL` and `READ_MODEL_URL`. Stop `cqrs-es updater` first; start it again
afterwards (it continues from the end of the replay).
"""

from __future__ import annotations

import argparse
import sys
import time


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es rebuild-read-model`."""
    parser.add_argument(
        "--batch-size", type=int, help="events per transaction (default: UPDATER_BATCH_SIZE or 500)"
    )


def run(args: argparse.Namespace) -> int:
    """Rebuild and print what was replayed."""
    from pydantic import ValidationError
    from read_model_updater.poller import UpdaterConfigError, rebuild
    from read_model_updater.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"cqrs-es rebuild-read-model: invalid settings:\n{error}", file=sys.stderr)
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        print("cqrs-es rebuild-read-model: --batch-size must be >= 1", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        progress = rebuild(settings, batch_size=args.batch_size)
    except UpdaterConfigError as error:
        print(f"cqrs-es rebuild-read-model: {error}", file=sys.stderr)
        return 2
    print(
        f"rebuilt the read model in {time.monotonic() - started:.1f} s: {progress.summary()}",
        flush=True,
    )
    return 0
