"""Work for the SQLite store's tests with several processes: importable by name, as a spawned
process needs its target to be."""

from __future__ import annotations

import threading

from contract import new_event
from event_store import ConcurrencyError
from event_store.sqlite import SqliteEventStore


def append_from_another_process(path: str, worker: int, appends: int) -> tuple[int, int]:
    """In a process of its own: 4 threads append to their own aggregates and race on a shared
    one (retrying on `ConcurrencyError`); (appends to the shared aggregate, lost races)."""
    won = lost = 0
    lock = threading.Lock()
    with SqliteEventStore(path) as store:

        def thread(number: int) -> None:
            nonlocal won, lost
            for n in range(appends):
                store.append(f"own-{worker}-{number}", n, [new_event(f"{worker}-{number}-{n}")])
                while True:
                    version = store.load("shared").version
                    try:
                        store.append("shared", version, [new_event(f"s-{worker}-{number}-{n}")])
                    except ConcurrencyError:
                        with lock:
                            lost += 1
                        continue
                    with lock:
                        won += 1
                    break

        threads = [threading.Thread(target=thread, args=(t,)) for t in range(4)]
        for started in threads:
            started.start()
        for started in threads:
            started.join()
    return won, lost
