"""`http_kit.loop_threads.LoopThreads`: blocking calls run in threads for an event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from http_kit.loop_threads import LoopThreads

_var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}-")]


def test_a_call_runs_in_a_named_thread_with_the_callers_context_and_gives_its_result() -> None:
    pool = LoopThreads(2, name="lt-context")

    def work(x: int) -> tuple[int, str, str]:
        return x * 2, _var.get(), threading.current_thread().name

    async def main() -> tuple[int, str, str]:
        _var.set("caller's")
        return await pool.run(work, 21)

    try:
        result, seen, thread = asyncio.run(main())
    finally:
        pool.shutdown()

    assert (result, seen) == (42, "caller's")
    assert thread.startswith("lt-context-")


def test_a_change_to_a_context_variable_in_the_call_stays_in_the_call() -> None:
    pool = LoopThreads(1, name="lt-isolated")

    def work() -> str:
        _var.set("inside")
        return _var.get()

    async def main() -> tuple[str, str]:
        _var.set("outside")
        inside = await pool.run(work)
        return inside, _var.get()

    try:
        assert asyncio.run(main()) == ("inside", "outside")
    finally:
        pool.shutdown()


def test_an_exception_of_the_call_is_raised_in_the_awaiting_task() -> None:
    pool = LoopThreads(1, name="lt-raise")

    def work() -> None:
        raise LookupError("no such thing")

    async def main() -> None:
        await pool.run(work)

    try:
        with pytest.raises(LookupError, match="no such thing"):
            asyncio.run(main())
    finally:
        pool.shutdown()


def test_no_more_threads_than_max_workers_and_calls_beyond_them_wait_their_turn() -> None:
    pool = LoopThreads(2, name="lt-max")
    release = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running.append(threading.current_thread().name)
        release.wait(10)
        return i

    async def main() -> list[int]:
        futures = [pool.run(work, i) for i in range(5)]
        deadline = time.monotonic() + 10
        while len(running) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert len(running) == 2  # the other three wait for a thread
        release.set()
        return list(await asyncio.gather(*futures))

    try:
        assert asyncio.run(main()) == [0, 1, 2, 3, 4]
        assert len(_threads("lt-max")) == 2
        assert len(set(running)) == 2
    finally:
        pool.shutdown()


def test_an_idle_thread_is_reused_rather_than_a_new_one_started() -> None:
    pool = LoopThreads(8, name="lt-reuse")

    async def main() -> set[str]:
        names = set()
        for _ in range(20):
            names.add(await pool.run(lambda: threading.current_thread().name))
        return names

    try:
        assert len(asyncio.run(main())) == 1
    finally:
        pool.shutdown()


def test_a_cancelled_call_finishes_in_its_thread_and_its_result_is_dropped() -> None:
    pool = LoopThreads(1, name="lt-cancel")
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        release.wait(10)
        finished.set()
        return "late"

    async def main() -> str:
        future = pool.run(work)
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        future.cancel()
        release.set()
        await asyncio.get_running_loop().run_in_executor(None, finished.wait, 10)
        await asyncio.sleep(0.05)  # the result arrives on the loop and is dropped
        return await pool.run(lambda: "next")

    try:
        assert asyncio.run(main()) == "next"
        assert finished.is_set()
    finally:
        pool.shutdown()


def test_a_call_that_outlives_its_loop_does_not_kill_the_thread() -> None:
    pool = LoopThreads(1, name="lt-closed")
    release = threading.Event()

    async def start() -> None:
        pool.run(release.wait, 10)

    asyncio.run(start())  # the loop closes with the call still running
    release.set()

    async def again() -> str:
        return await pool.run(lambda: threading.current_thread().name)

    try:
        assert asyncio.run(again()).startswith("lt-closed-")
        assert len(_threads("lt-closed")) == 1
    finally:
        pool.shutdown()


def test_shutdown_waits_for_calls_in_progress_ends_the_threads_and_refuses_new_calls() -> None:
    pool = LoopThreads(2, name="lt-shutdown")
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    async def start() -> None:
        pool.run(slow)
        await asyncio.sleep(0.01)

    asyncio.run(start())
    pool.shutdown(wait=True)

    assert finished.is_set()
    assert _threads("lt-shutdown") == []

    async def after() -> None:
        await pool.run(lambda: None)

    with pytest.raises(RuntimeError, match="after shutdown"):
        asyncio.run(after())
    pool.shutdown()  # again: nothing to do


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        LoopThreads(0, name="lt-bad")
