"""bench/event_store.py's turns: every side runs the whole workload, in turns of `turn` commands.

With recording sides instead of stores: what the benchmark compares depends on each side
creating every chat and posting every command exactly once, in the same order, whatever the
length of the turns.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH_DIR) not in sys.path:
    # Last on the path: the scripts' own names (`http`, `event_store`) must not shadow packages.
    sys.path.append(str(BENCH_DIR))
import benchkit  # noqa: E402

bench = benchkit.load_sibling("event_store")


class RecordingSide:
    """Creates chats named after the side and records every call, in one log for all sides."""

    def __init__(self, label: str, log: list[tuple[str, str, Any]]) -> None:
        self.label = label
        self._log = log

    def create(self, index: int) -> str:
        self._log.append((self.label, "create", index))
        return f"{self.label}-{index}"

    def post(self, chat: Any, round_: int) -> None:
        self._log.append((self.label, "post", (chat, round_)))


def _run(turn: int, aggregates: int = 5, commands: int = 3) -> tuple[list[Any], list[Any]]:
    log: list[tuple[str, str, Any]] = []
    sides = [RecordingSide("a", log), RecordingSide("b", log)]
    results = bench.run_workloads(
        sides, aggregates=aggregates, commands_per_aggregate=commands, turn=turn
    )
    return log, results


@pytest.mark.parametrize("turn", [1, 2, 4, 15, 100])
def test_runs_every_create_and_post_once_per_side_in_round_robin_order_whatever_the_turn(
    turn: int,
) -> None:
    log, results = _run(turn)

    for label in ("a", "b"):
        calls = [(kind, arg) for side, kind, arg in log if side == label]
        assert calls == [("create", i) for i in range(5)] + [
            ("post", (f"{label}-{j}", round_)) for round_ in range(3) for j in range(5)
        ]
    assert [(r.label, r.aggregates, r.commands) for r in results] == [("a", 5, 15), ("b", 5, 15)]


def test_a_side_runs_turn_commands_in_a_row_before_the_next_side() -> None:
    log, _ = _run(turn=4)

    posts = [side for side, kind, _ in log if kind == "post"]
    # 15 posts per side in turns of 4, 4, 4, 3.
    assert posts == (["a"] * 4 + ["b"] * 4) * 3 + ["a"] * 3 + ["b"] * 3
    creates = [side for side, kind, _ in log if kind == "create"]
    assert creates == ["a"] * 4 + ["b"] * 4 + ["a"] + ["b"]


def test_a_turn_of_one_alternates_command_by_command() -> None:
    log, _ = _run(turn=1, aggregates=2, commands=2)

    assert [side for side, _, _ in log] == ["a", "b"] * 6


def test_refuses_a_turn_below_one() -> None:
    with pytest.raises(ValueError, match="turn must be >= 1"):
        _run(turn=0)


def test_refuses_a_turn_below_one_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench.main(["--turn", "0", "--backend", "sqlite"])

    assert exited.value.code == 2
    assert "--turn must be at least 1" in capsys.readouterr().err
