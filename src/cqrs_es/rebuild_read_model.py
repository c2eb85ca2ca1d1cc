"""`cqrs-es rebuild-read-model`: drop the read model and replay the whole journal into it.

Reads `EVENT_STORE_URL` and `READ_MODEL_URL`.

- SQL event store (SQLite, PostgreSQL): the journal is replayed by global position, ending with
  the updater's checkpoint at its end. Stop `cqrs-es updater` first; start it again afterwards
  (it continues from the end of the replay).
- DynamoDB event store: there is no global position; the aggregates are listed from the
  snapshot table and each one's events are replayed in order (`read_model_updater.replay`).
  Disable the stream Lambda's event source mapping first, enable it again afterwards.
- `--aggregate ID` (repeatable, any persistent store): no reset; only those chats' rows are
  removed and re-projected from their events (a chat hit by a projection bug, or one whose
  stream records went to the dead-letter queue). The updater may keep running.

Exit status: 0 done, 1 an event store or read-model error (or events left unapplied), 2 bad
settings or arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from read_model.projector import Outcome
    from read_model_updater.settings import Settings

_PROG = "cqrs-es rebuild-read-model"
_PROGRESS_EVERY = 1000  # aggregates between progress lines of a full DynamoDB rebuild


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `cqrs-es rebuild-read-model`."""
    parser.add_argument(
        "--batch-size", type=int, help="events per transaction (default: UPDATER_BATCH_SIZE or 500)"
    )
    parser.add_argument(
        "--aggregate",
        action="append",
        metavar="ID",
        help="re-project only this chat (repeatable), without dropping the read model: its "
        "rows, position and parked events are removed, then its events replayed",
    )


def run(args: argparse.Namespace) -> int:
    """Rebuild (or re-project the chosen chats) and print what was replayed."""
    from event_store import EventStoreError
    from pydantic import ValidationError
    from read_model import ReadModelUnavailableError
    from read_model_updater.poller import UpdaterConfigError
    from read_model_updater.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"{_PROG}: invalid settings:\n{error}", file=sys.stderr)
        return 2
    if args.batch_size is not None and args.batch_size < 1:
        print(f"{_PROG}: --batch-size must be >= 1", file=sys.stderr)
        return 2
    aggregates: list[str] = [a.strip() for a in args.aggregate or []]
    if any(not a for a in aggregates):
        print(f"{_PROG}: --aggregate needs an aggregate id", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        if aggregates:
            return _reproject(settings, aggregates, args.batch_size, started)
        if settings.event_store_url.partition("://")[0].lower() == "dynamodb":
            return _rebuild_by_aggregate(settings, args.batch_size, started)
        return _rebuild_by_position(settings, args.batch_size, started)
    except UpdaterConfigError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return 2
    except (EventStoreError, ReadModelUnavailableError) as error:
        print(f"{_PROG}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def _rebuild_by_position(settings: Settings, batch_size: int | None, started: float) -> int:
    from read_model_updater.poller import rebuild

    progress = rebuild(settings, batch_size=batch_size)
    print(
        f"rebuilt the read model in {time.monotonic() - started:.1f} s: {progress.summary()}",
        flush=True,
    )
    return 0


def _rebuild_by_aggregate(settings: Settings, batch_size: int | None, started: float) -> int:
    from read_model_updater.replay import ReplayProgress, rebuild

    seen = ReplayProgress()

    def report(_aggregate_id: str, counts: Counter[Outcome]) -> None:
        seen.aggregates += 1
        seen.counts.update(counts)
        if seen.aggregates % _PROGRESS_EVERY == 0:
            print(f"replayed {seen.summary()}", flush=True)

    progress = rebuild(settings, batch_size=batch_size, on_aggregate=report)
    print(
        f"rebuilt the read model in {time.monotonic() - started:.1f} s: {progress.summary()}",
        flush=True,
    )
    return _status(progress.complete)


def _reproject(
    settings: Settings, aggregates: list[str], batch_size: int | None, started: float
) -> int:
    from read_model_updater.replay import ReplayProgress, reproject

    def report(aggregate_id: str, counts: Counter[Outcome]) -> None:
        print(f"{aggregate_id}: {ReplayProgress(1, counts).summary()}", flush=True)

    progress = reproject(settings, aggregates, batch_size=batch_size, on_aggregate=report)
    print(
        f"re-projected {progress.aggregates} chats in {time.monotonic() - started:.1f} s: "
        f"{progress.summary()}",
        flush=True,
    )
    return _status(progress.complete)


def _status(complete: bool) -> int:
    if complete:
        return 0
    print(
        f"{_PROG}: some events could not be applied (a predecessor was missing): is an updater "
        "writing to the read model meanwhile? Run the command again.",
        file=sys.stderr,
    )
    return 1
