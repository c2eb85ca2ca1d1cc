"""`cqrs-es migrate`: create or upgrade the read model's tables (Alembic), idempotently.

Reads the database from `--url`, else `READ_MODEL_URL`, else the laptop default
`sqlite:///var/read_model.db`. Safe to run twice, and from several processes at once.
"""

from __future__ import annotations

import argparse
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es migrate`."""
    parser.add_argument(
        "--url",
        default=None,
        help="read-model database URL, sqlite:///path or postgresql://… "
        "(default: $READ_MODEL_URL, else sqlite:///var/read_model.db)",
    )


def run(args: argparse.Namespace) -> int:
    """Migrate to the latest revision; 0 on success, 2 for a bad URL, 1 when the database fails."""
    # Imported here: SQLAlchemy and Alembic cost about a second, and only this command needs them.
    from read_model import DEFAULT_URL, ReadModelUnavailableError, head_revision, migrate

    url = args.url or os.environ.get("READ_MODEL_URL") or DEFAULT_URL
    try:
        migrate(url)
    except ValueError as exc:
        print(f"cqrs-es migrate: {exc}", file=sys.stderr)
        return 2
    except ReadModelUnavailableError as exc:
        print(f"cqrs-es migrate: {exc}: {exc.__cause__}", file=sys.stderr)
        return 1
    print(f"read model at revision {head_revision()}")
    return 0
