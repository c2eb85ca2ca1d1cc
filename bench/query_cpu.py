"""Benchmark: CPU per call of the query service's reads, in-process (no HTTP), both databases.

    flock /tmp/bench.lock .venv/bin/python bench/query_cpu.py                 # ~1 min
    flock /tmp/bench.lock .venv/bin/python bench/query_cpu.py --base HEAD~3  # beside older
    flock /tmp/bench.lock .venv/bin/python bench/query_cpu.py --backend sqlite --quick

Each case is one REST operation (`query_service.rest.OPERATIONS[...]`, what both edges call:
id parsing, `traced_queries` with tracing off, the read-model query, the JSON-ready answer) on a
seeded read model: the caller is in `--chats` chats; the chat read has 10 members and
`--messages` messages. Figures are this process's CPU time (`time.process_time`) per call, in
microseconds, the median over `--rounds` rounds of `--calls` calls; the database server's CPU is
not included (PostgreSQL runs in its own processes).

`--base REV`: `read_model/queries.py` as of git revision REV is loaded beside the current one and
both are timed in the same run, round by round, taking turns (same moments, same noise); the
operations call whichever is installed as `read_model.queries`' functions (`traced_queries` looks
them up per call). Figures, not tests: compare within one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit

benchkit.fix_sys_path()

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

from query_service import rest  # noqa: E402
from query_service.errors import ProblemError  # noqa: E402
from read_model import queries  # noqa: E402
from read_model.testing import ReadModelSeeder  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

BACKENDS = ("sqlite", "postgres")
QUERY_FUNCTIONS = (
    "get_group_chats",
    "get_group_chat",
    "get_members",
    "get_member",
    "get_messages",
    "get_message",
)
MISSING_CHAT = "GroupChat-01JBENCH000000000000000000"
MISSING_USER = "UserAccount-01JBENCH000000000000000000"
MISSING_MESSAGE = "01JBENCH00000000000000000A"


Case = tuple[str, str, dict[str, str], dict[str, str]]
"""(label, operation id, path parameters, query parameters)."""


def seed(engine: Engine, chats: int, message_count: int, page: int) -> list[Case]:
    """Seed the read model; the cases to time."""
    seeder = ReadModelSeeder(engine)
    caller = seeder.user()
    chat_ids = [seeder.group_chat(seeder.user(), f"chat {n}") for n in range(chats)]
    for chat_id in chat_ids:
        seeder.member(chat_id, caller)
    chat = chat_ids[0]
    others = [seeder.user() for _ in range(8)]
    for other in others:
        seeder.member(chat, other)
    with engine.begin() as connection:
        bulk = ReadModelSeeder(connection)
        message_ids = [
            bulk.message(chat, others[n % len(others)], f"message {n}")
            for n in range(message_count)
        ]
    who = {"userAccountId": caller}
    view = queries.get_messages(engine, chat, caller, limit=page)
    assert view is not None
    assert view.next_before is not None
    return [
        ("getGroupChats", "getGroupChats", {}, who),
        ("getGroupChat", "getGroupChat", {"groupChatId": chat}, who),
        ("getGroupChat 404", "getGroupChat", {"groupChatId": MISSING_CHAT}, who),
        ("getMembers", "getMembers", {"groupChatId": chat}, who),
        ("getMember", "getMember", {"groupChatId": chat, "memberUserAccountId": others[0]}, who),
        (
            "getMember 404 (2 reads)",
            "getMember",
            {"groupChatId": chat, "memberUserAccountId": MISSING_USER},
            who,
        ),
        ("getMessages", "getMessages", {"groupChatId": chat}, who),
        (
            "getMessages before",
            "getMessages",
            {"groupChatId": chat},
            {**who, "before": view.next_before},
        ),
        ("getMessages limit=1", "getMessages", {"groupChatId": chat}, {**who, "limit": "1"}),
        ("getMessages 404", "getMessages", {"groupChatId": MISSING_CHAT}, who),
        ("getMessage", "getMessage", {"messageId": message_ids[-1]}, who),
        ("getMessage 404", "getMessage", {"messageId": MISSING_MESSAGE}, who),
    ]


def load_base(revision: str) -> ModuleType:
    """`read_model/queries.py` as of `revision`, as module `read_model._queries_base`."""
    source = subprocess.run(
        ["git", "show", f"{revision}:packages/read-model/src/read_model/queries.py"],
        cwd=benchkit.REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("read_model._queries_base", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"{revision}:queries.py", "exec"), module.__dict__)
    return module


def install(module: ModuleType) -> None:
    """Make `module`'s query functions the ones the operations call."""
    for name in QUERY_FUNCTIONS:
        setattr(queries, name, getattr(module, name))


def call(engine: Engine, case: Case) -> Callable[[], Any]:
    """One call of the case's operation (a 404 is an answer, not a failure)."""
    _label, operation_id, path_params, query_params = case
    operation = rest.OPERATIONS[operation_id][1]
    context = rest.RestContext(engine, 50, 100)
    inputs = rest.RestInputs(path_params, query_params, lambda _caller: None)

    def run() -> Any:
        try:
            return operation(context, inputs)
        except ProblemError as error:
            if error.status != 404:
                raise
            return error.status

    return run


def cpu_per_call(run: Callable[[], Any], calls: int) -> float:
    """Microseconds of this process's CPU per call of `run`."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(calls):
            run()
        return (time.process_time() - start) / calls * 1e6
    finally:
        gc.enable()


def bench_backend(backend: str, args: argparse.Namespace, sides: dict[str, ModuleType]) -> None:
    with benchkit.fresh_read_model(backend, "bench-query-cpu") as engine:
        cases = seed(engine, args.chats, args.messages, 50)
        # Same answers from every side, before anything is timed.
        answers: dict[str, list[Any]] = {}
        for name, module in sides.items():
            install(module)
            answers[name] = [call(engine, case)() for case in cases]
        reference = next(iter(answers.values()))
        for name, got in answers.items():
            assert got == reference, f"{name} answers differently"
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for case in cases:
                for name, module in sides.items():
                    install(module)
                    run = call(engine, case)
                    for _ in range(args.calls // 10):  # warm up (caches, pool)
                        run()
                    samples.setdefault((case[0], name), []).append(cpu_per_call(run, args.calls))
        install(sides["current"])
        header = ["operation", *[f"{name} us CPU/call" for name in sides]]
        if len(sides) > 1:
            header.append("current/base")
        rows = []
        for case in cases:
            medians = [benchkit.median(samples[(case[0], name)]) for name in sides]
            row = [case[0], *[f"{m:.0f}" for m in medians]]
            if len(sides) > 1:
                row.append(f"{medians[0] / medians[1]:.2f}")
            rows.append(row)
        print(f"\n{backend}: median of {args.rounds} rounds of {args.calls} calls")
        print(benchkit.table(rows, header))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument("--base", help="git revision of queries.py to time beside the current")
    parser.add_argument("--chats", type=int, default=5, help="chats the caller is in")
    parser.add_argument("--messages", type=int, default=200, help="messages in the chat read")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="--calls 100 --rounds 2")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 100, 2
    sides = {"current": queries}
    if args.base:
        sides = {"current": ModuleType("current"), "base": load_base(args.base)}
        for name in QUERY_FUNCTIONS:
            setattr(sides["current"], name, getattr(queries, name))
    print(benchkit.machine_line())
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    for backend in backends:
        if backend == "postgres" and (reason := benchkit.postgres_available()):
            print(f"\npostgres: skipped ({reason})")
            continue
        bench_backend(backend, args, sides)


if __name__ == "__main__":
    main()
