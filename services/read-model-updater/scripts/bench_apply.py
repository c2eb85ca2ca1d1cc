"""Micro-benchmark: CPU per event of the SQL poller, by batch size (SQLite journal and read model).

    flock /tmp/bench.lock .venv/bin/python services/read-model-updater/scripts/bench_apply.py
    ... bench_apply.py --events 20000 --sizes 1,4,16,100 --profile 4

The journal is built once (cached under `--dir`): `--chats` group chats created and
`--events` PostMessage commands run round-robin over them by the command service's own
`CommandHandler`, as under `bench/http.py`. Each batch size then replays the first
`--per-size` events into a fresh read model with `Poller.poll_once` (read the checkpoint, read
the batch, apply it in one transaction, advance the checkpoint), as the running updater does when
each poll finds that many new events. Figures are process CPU time (not wall time), per event,
plus the CPU of an idle poll (the journal has nothing new). `--profile N` prints the top of a
cProfile of batch size N instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from chat_domain import CreateGroupChat, PostMessage, UserAccountId
from command_service.handlers import CommandHandler
from event_store.sqlite import SqliteEventStore
from read_model import create_engine_for, migrate
from read_model.projector import save_checkpoint
from read_model_updater.poller import Poller


def build_journal(path: Path, chats: int, events: int) -> None:
    """Create `chats` chats and post `events` messages round-robin, as the REST path does."""
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    with SqliteEventStore(tmp) as store:
        handler = CommandHandler(store)
        user = str(UserAccountId.generate())
        ids = [
            str(
                handler.execute(
                    CreateGroupChat.parse(
                        name=f"chat {i}", executor_id=user, generator=handler.generator
                    )
                ).body["groupChatId"]
            )
            for i in range(chats)
        ]
        for n in range(events):
            handler.execute(
                PostMessage.parse(
                    group_chat_id=ids[n % chats],
                    content=f"message number {n}",
                    executor_id=user,
                    generator=handler.generator,
                )
            )
    tmp.rename(path)


def replay(
    journal: Path,
    work: Path,
    batch_size: int,
    events: int,
    profiler: cProfile.Profile | None = None,
) -> tuple[float, float]:
    """(CPU seconds per event over `events` events, CPU seconds per idle poll)."""
    url = f"sqlite:///{work / f'read_model_{batch_size}.db'}"
    migrate(url)
    engine = create_engine_for(url, pool_size=2)
    with SqliteEventStore(journal) as store:
        poller = Poller(store, engine, batch_size=batch_size)
        poller.poll_once()  # warm up: connections, compiled statements
        warm = poller.progress.events
        if profiler is not None:
            profiler.enable()
        start = time.process_time()
        while poller.progress.events < events:
            if not poller.poll_once().results:
                break
        if profiler is not None:
            profiler.disable()
        per_event = (time.process_time() - start) / max(1, poller.progress.events - warm)
        # Idle polls: a checkpoint at the journal's end.
        with engine.begin() as connection:
            save_checkpoint(connection, "idle", _journal_end(journal))
        idle_poller = Poller(store, engine, batch_size=batch_size, checkpoint="idle")
        start = time.process_time()
        for _ in range(500):
            idle_poller.poll_once()
        per_idle = (time.process_time() - start) / 500
    engine.dispose()
    return per_event, per_idle


def _journal_end(journal: Path) -> int:
    with sqlite3.connect(journal) as connection:
        return int(connection.execute("SELECT max(position) FROM events").fetchone()[0])


def main() -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rmu-bench")
    parser.add_argument("--chats", type=int, default=32)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-size", type=int, default=4_000, help="events replayed per size")
    parser.add_argument("--sizes", default="1,4,16,100")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (best is shown)")
    parser.add_argument("--profile", type=int, default=None, metavar="BATCH_SIZE")
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    journal = args.dir / f"journal_{args.chats}_{args.events}.db"
    if not journal.exists():
        print(f"# building {journal} ...", file=sys.stderr)
        build_journal(journal, args.chats, args.events)
    work = Path(tempfile.mkdtemp(prefix="rmu-bench-"))
    try:
        if args.profile is not None:
            profiler = cProfile.Profile()
            replay(journal, work, args.profile, args.per_size, profiler)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
            return 0
        print(f"# {args.per_size} events per size, best of {args.repeat}; CPU time")
        print(f"{'batch':>6} {'us/event':>9} {'us/idle poll':>13}")
        for size in (int(s) for s in args.sizes.split(",")):
            runs = []
            for _ in range(args.repeat):
                shutil.rmtree(work)
                work.mkdir()
                runs.append(replay(journal, work, size, args.per_size))
            per_event = min(r[0] for r in runs)
            per_idle = min(r[1] for r in runs)
            print(f"{size:>6} {per_event * 1e6:>9.0f} {per_idle * 1e6:>13.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
