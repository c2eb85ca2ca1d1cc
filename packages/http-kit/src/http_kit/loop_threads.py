"""Threads that run blocking calls for an asyncio event loop, cheaply per call.

`loop.run_in_executor` with a `ThreadPoolExecutor` goes through two futures per call (a
`concurrent.futures.Future`, chained to an asyncio one under the executor's locks and
conditions); with 16 requests at once that hand-off cost ~20 µs of CPU per call here, more than
the endpoint's own Python work on a cached command. `LoopThreads` hands the call to a thread
through one queue and sets the asyncio future from that thread with one
`call_soon_threadsafe`: ~6 µs. The pool's behaviour is the executor's: threads start on demand
up to `max_workers` (an idle one is reused first), the caller's context variables go along
(`contextvars.copy_context`), and a call that raises raises in the awaiting task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["LoopThreads"]

_T = TypeVar("_T")

# What a thread takes from the queue: a call, or None to stop.
_Call = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
]


class LoopThreads:
    """Up to `max_workers` threads named `{name}-N` that run calls for event loops.

    `run` must be called on an event loop's thread; the other methods anywhere. Cancelling the
    awaiting task does not stop a call that a thread has begun: it runs to its end and its
    result is dropped, as with `run_in_executor`.
    """

    def __init__(self, max_workers: int, *, name: str) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads done with a call and not yet given another
        self._shut_down = False

    def run(self, function: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        """A future of `function(*args)` called in a thread, in a copy of the caller's context."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        with self._lock:
            if self._shut_down:
                raise RuntimeError(f"{self.name}: cannot run calls after shutdown")
            if self._idle:
                self._idle -= 1
                start = None
            elif len(self._threads) < self.max_workers:
                start = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(start)
            else:
                start = None  # every thread is busy: the call waits in the queue for one
        self._queue.put((loop, future, contextvars.copy_context(), function, args))
        if start is not None:
            start.start()
        return future

    def shutdown(self, *, wait: bool = True) -> None:
        """Refuse new calls; the threads end once the calls already given are done.

        `wait`: return only once they have ended (calls in progress finish first, so that a
        commit under way is not cut short by the process exiting).
        """
        with self._lock:
            if self._shut_down:
                threads: list[threading.Thread] = []
            else:
                self._shut_down = True
                threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def _work(self) -> None:
        take = self._queue.get
        while True:
            call = take()
            if call is None:
                return
            loop, future, context, function, args = call
            del call
            setter: Callable[[asyncio.Future[Any], Any], None]
            try:
                result = context.run(function, *args)
            except BaseException as exc:  # as the executor does: the awaiting task raises it
                setter, value = _set_exception, exc
                del exc
            else:
                setter, value = _set_result, result
                del result
            # Idle before the caller hears back: its next call then finds this thread free.
            with self._lock:
                self._idle += 1
            _settle(loop, setter, future, value)
            del loop, future, context, function, args, value  # nothing kept alive while idle


def _settle(
    loop: asyncio.AbstractEventLoop,
    setter: Callable[[asyncio.Future[Any], Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(setter, future, value)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # not cancelled meanwhile
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
