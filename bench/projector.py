"""Benchmark: the read-model updater's `apply()` per event, against a bare executemany.

    uv run --group bench python bench/projector.py              # ~1 min
    uv run --group bench python bench/projector.py --quick      # a few seconds
    uv run --group bench python bench/projector.py --backend sqlite --profile

Workload (what the updater does under `bench/http.py`'s load): `--chats` group chats are created
(not timed), then `--posts` GroupChatMessagePosted events per chat, round-robin over the chats,
as the SQL journal hands them to the poller (stored events with global positions). They go
through `read_model_updater.core.apply(engine, batch, checkpoint=...)`, the poller's own path:
decode, claim the position, insert the message, advance the checkpoint, one transaction per
batch. Two batch sizes: `--batch-sizes 10,500` (a live poller that keeps up sees a few events per
poll; one catching up sees full batches).

Baseline, measured in the same run on a fresh database of its own: the same message rows,
already built (no decoding, no positions, no checkpoint), written with one executemany per batch
(`connection.execute(insert(messages), rows)`), one transaction per batch. It is about as fast as
any projector of these events into these tables can be; apply / bare says how far off we are.
The sides take turns batch by batch (same moments, same noise); `--rounds` repeats everything
on fresh databases and the medians are printed.

Also printed: apply on a mixed history (`random_history`: creates, renames, member changes,
posts, edits, deletes), without a baseline, and the client CPU per event (this process's CPU
time; the database server's is not included). Figures, not tests: compare within one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit

benchkit.fix_sys_path()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from chat_domain import Event, GroupChatMessagePosted  # noqa: E402
from event_store import StoredEvent  # noqa: E402
from read_model.schema import messages  # noqa: E402
from read_model_updater.core import Outcome, apply  # noqa: E402
from read_model_updater.testing import HistoryBuilder, random_history, stored_event  # noqa: E402
from sqlalchemy import Engine, insert  # noqa: E402

BACKENDS = ("sqlite", "postgres")
CHECKPOINT = "bench"


@dataclass
class Workload:
    """The events to apply: chat creations (set-up) and the timed events."""

    setup: list[StoredEvent]
    timed: list[StoredEvent]
    bare_rows: list[dict[str, Any]] = field(default_factory=list)


def posts_workload(chats: int, posts: int) -> Workload:
    """`chats` chats, then `posts` posts on each, round-robin; plus the bare rows of the posts."""
    builder = HistoryBuilder(seed=7)
    created: list[Event] = []
    for _ in range(chats):
        event = builder.create()
        assert event is not None
        created.append(event)
    ids = [e.aggregate_id for e in created]
    posted = [builder.post(chat, text=f"message {n}") for n in range(posts) for chat in ids]
    stored = [stored_event(e, position) for position, e in enumerate(created + posted, start=1)]
    rows = []
    for event in posted:
        assert isinstance(event, GroupChatMessagePosted)
        message = event.message
        rows.append(
            {
                "id": str(message.id),
                "group_chat_id": str(event.aggregate_id),
                "user_account_id": str(message.sender_id),
                "text": message.content.value,
                "disabled": False,
                "created_at": message.created_at,
                "updated_at": message.updated_at,
                "last_seq_nr": event.seq_nr,
            }
        )
    return Workload(stored[:chats], stored[chats:], rows)


def mixed_workload(events: int) -> Workload:
    """A random valid history of several chats (every event type), all of it timed."""
    history = random_history(seed=11, events=events)
    return Workload([], [stored_event(e, p) for p, e in enumerate(history, start=1)])


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class Timing:
    """Wall and CPU seconds spent on one side, and how many events it handled."""

    events: int = 0
    wall: float = 0.0
    cpu: float = 0.0

    @contextlib.contextmanager
    def measure(self, events: int) -> Iterator[None]:
        """Add the time the block takes, for `events` events."""
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.events += events

    @property
    def per_second(self) -> float:
        """Events per wall-clock second."""
        return self.events / self.wall if self.wall else float("nan")

    @property
    def cpu_ms(self) -> float:
        """Client CPU milliseconds per event."""
        return 1000 * self.cpu / self.events if self.events else float("nan")


def _apply_all(engine: Engine, events: Sequence[StoredEvent], batch_size: int) -> None:
    for batch in _batches(events, batch_size):
        result = apply(engine, batch, checkpoint=CHECKPOINT)
        if result.counts[Outcome.APPLIED] != len(batch):
            raise AssertionError(f"not all applied: {dict(result.counts)}")


def run_round(
    backend: str, tmp_dir: str | None, workload: Workload, batch_size: int, baseline: bool
) -> tuple[Timing, Timing | None]:
    """One round on fresh databases: apply (and the bare baseline), taking turns per batch."""
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(
            benchkit.fresh_read_model(backend, "bench-projector", tmp_dir, pool_size=2)
        )
        _apply_all(ours, workload.setup, batch_size=500)
        bare_engine = None
        if baseline:
            bare_engine = stack.enter_context(
                benchkit.fresh_read_model(backend, "bench-projector", tmp_dir, pool_size=2)
            )
            _apply_all(bare_engine, workload.setup, batch_size=500)
        ours_timing, bare_timing = Timing(), Timing()
        ours_batches = _batches(workload.timed, batch_size)
        bare_batches = _batches(workload.bare_rows, batch_size) if baseline else []
        statement = insert(messages)
        gc.collect()
        for index, batch in enumerate(ours_batches):
            with ours_timing.measure(len(batch)):
                result = apply(ours, batch, checkpoint=CHECKPOINT)
            if result.counts[Outcome.APPLIED] != len(batch):
                raise AssertionError(f"not all applied: {dict(result.counts)}")
            if bare_engine is not None:
                rows = bare_batches[index]
                with bare_timing.measure(len(rows)), bare_engine.begin() as connection:
                    connection.execute(statement, list(rows))
        return ours_timing, (bare_timing if baseline else None)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a small run (seconds): smoke test")
    parser.add_argument("--chats", type=int, help="chats (default 200; quick 20)")
    parser.add_argument("--posts", type=int, help="posts per chat (default 10; quick 5)")
    parser.add_argument("--mixed", type=int, help="events of the mixed history (default 2000)")
    parser.add_argument(
        "--batch-sizes", default="10,500", help="comma-separated batch sizes (default 10,500)"
    )
    parser.add_argument("--rounds", type=int, help="rounds on fresh databases (default 3)")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="default: both")
    parser.add_argument("--tmp-dir", help="where the SQLite files go (default: the system's)")
    parser.add_argument(
        "--profile", action="store_true", help="pyinstrument profile of apply (posts, batch 10)"
    )
    args = parser.parse_args(argv)
    args.chats = args.chats or (20 if args.quick else 200)
    args.posts = args.posts or (5 if args.quick else 10)
    args.mixed = args.mixed or (200 if args.quick else 2000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.batch_sizes = [int(s) for s in str(args.batch_sizes).split(",") if s.strip()]
    args.backend = args.backend or list(BACKENDS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    args = _parse_args(argv)
    print(f"# projector benchmark — {benchkit.machine_line()}")
    posts = posts_workload(args.chats, args.posts)
    mixed = mixed_workload(args.mixed)
    print(
        f"# posts: {args.chats} chats (set-up), then {len(posts.timed)} GroupChatMessagePosted "
        f"round-robin; mixed: {len(mixed.timed)} events of a random history; "
        f"{args.rounds} round(s), medians"
    )
    backends = list(args.backend)
    if "postgres" in backends and (reason := benchkit.postgres_available()) is not None:
        print(f"# PostgreSQL skipped: {benchkit.admin_url()} is not reachable ({reason})")
        backends.remove("postgres")

    rows: list[list[str]] = []
    for backend in backends:
        for batch_size in args.batch_sizes:
            runs: dict[str, list[Timing]] = {"posts": [], "bare": [], "mixed": []}
            for _ in range(args.rounds):
                ours, bare = run_round(backend, args.tmp_dir, posts, batch_size, baseline=True)
                runs["posts"].append(ours)
                assert bare is not None
                runs["bare"].append(bare)
                mixed_timing, _ = run_round(
                    backend, args.tmp_dir, mixed, batch_size, baseline=False
                )
                runs["mixed"].append(mixed_timing)

            def rate(label: str, r: dict[str, list[Timing]] = runs) -> float:
                return benchkit.median([t.per_second for t in r[label]])

            def cpu(label: str, r: dict[str, list[Timing]] = runs) -> float:
                return benchkit.median([t.cpu_ms for t in r[label]])

            ratio = benchkit.median(
                [
                    o.per_second / b.per_second
                    for o, b in zip(runs["posts"], runs["bare"], strict=True)
                ]
            )
            rows.append(
                [
                    backend,
                    str(batch_size),
                    f"{rate('posts'):,.0f}",
                    f"{rate('bare'):,.0f}",
                    f"{ratio:.2f}x",
                    f"{cpu('posts'):.3f} / {cpu('bare'):.3f}",
                    f"{rate('mixed'):,.0f}",
                    f"{cpu('mixed'):.3f}",
                ]
            )
    print()
    print(
        benchkit.table(
            rows,
            [
                "backend",
                "batch",
                "apply ev/s (posts)",
                "bare executemany rows/s",
                "apply / bare",
                "client CPU ms/ev apply / bare",
                "apply ev/s (mixed)",
                "CPU ms/ev (mixed)",
            ],
        )
    )
    print(
        "# apply: read_model_updater.core.apply with a checkpoint (decode, claim the position,"
        " insert, checkpoint),\n# one transaction per batch; bare: one executemany of the same"
        " message rows per transaction."
    )

    if args.profile:
        from pyinstrument import Profiler

        for backend in backends:
            profiler = Profiler(interval=0.0002)

            def profiled(
                engine: Engine, events: Sequence[StoredEvent], profiler: Profiler = profiler
            ) -> None:
                profiler.start()
                _apply_all(engine, events, batch_size=10)
                profiler.stop()

            _with_setup(backend, args.tmp_dir, posts, profiled)
            print(f"\n# profile: apply on {backend}, posts, batch 10")
            print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


def _with_setup(
    backend: str,
    tmp_dir: str | None,
    workload: Workload,
    action: Callable[[Engine, Sequence[StoredEvent]], None],
) -> None:
    with benchkit.fresh_read_model(backend, "bench-projector", tmp_dir, pool_size=2) as engine:
        _apply_all(engine, workload.setup, batch_size=500)
        action(engine, workload.timed)


if __name__ == "__main__":
    sys.exit(main())
