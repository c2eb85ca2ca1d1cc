"""`cqrs-es create-dynamodb-tables`: create the DynamoDB journal and snapshot tables.

Reads the tables, region and endpoint from `EVENT_STORE_URL` (or `--url`), e.g.
`dynamodb://journal?snapshot_table=snapshot&region=us-east-1`. Idempotent: tables that already
exist are left as they are. Meant for development (DynamoDB Local, moto) and first setups; on
AWS the SAM template owns the tables.
"""

from __future__ import annotations

import argparse
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es create-dynamodb-tables`."""
    parser.add_argument(
        "--url",
        default=None,
        help="dynamodb:// event store URL (default: $EVENT_STORE_URL)",
    )


def run(args: argparse.Namespace) -> int:
    """Create the missing tables; 0 on success, 2 for a bad URL, 1 when DynamoDB fails."""
    url = args.url or os.environ.get("EVENT_STORE_URL", "")
    if not url.startswith("dynamodb://"):
        shown = repr(url) if url else "nothing (set EVENT_STORE_URL or pass --url)"
        print(
            f"cqrs-es create-dynamodb-tables: needs a dynamodb:// URL, got {shown}",
            file=sys.stderr,
        )
        return 2

    # Imported here: boto3 costs most of a second, and only this sub-command needs it.
    from event_store import EventStoreError
    from event_store.dynamodb import DynamoDBSettings, create_tables

    try:
        settings = DynamoDBSettings.from_url(url)
        client = settings.client()
    except ValueError as exc:
        print(f"cqrs-es create-dynamodb-tables: {exc}", file=sys.stderr)
        return 2
    try:
        created = create_tables(
            client, journal_table=settings.journal_table, snapshot_table=settings.snapshot_table
        )
    except EventStoreError as exc:
        print(f"cqrs-es create-dynamodb-tables: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    for name, was_created in created.items():
        print(f"{name}: {'created' if was_created else 'already exists'}")
    return 0
