"""Limits and processes of the HTTP server (uvicorn) that runs a service: shared by
`cqrs-es command|query`.

`--workers N` (default `$WEB_CONCURRENCY`, else 1) serves the port from N processes (uvicorn's
supervisor restarts one that dies): Python runs one thread at a time per process, so a busy
service uses one core per worker. Each worker has its own connections, caches and the limits
below. On a SQLite event store the workers' writes take turns through a lock file
(`event_store.sqlite`); each worker dies with the supervisor (`cqrs_es.parent_death`).

Slow or huge requests must not exhaust a process:

- `--limit-concurrency` (default 200): connections plus in-flight requests; past it uvicorn
  answers 503 at once instead of queueing without bound (the synchronous endpoints run in a
  thread pool of 40, so a bounded queue sits in front of it);
- `--timeout-keep-alive` (default 5 s): how long an idle keep-alive connection is kept;
- 16 KiB for a request's head, its request line and headers (`MAX_HEADER_BYTES`): more is 431
  and the connection is closed (`cqrs_es.httptools_protocol`; under the h11 fallback, 400 once
  16 KiB of a head are buffered unfinished);
- the services themselves bound the body: size (`MAX_BODY_BYTES`, 413) and the time it may
  take to arrive (`BODY_TIMEOUT_SECONDS`, 408).

HTTP/1.1 is parsed by httptools (llhttp), which costs less CPU per request than h11; llhttp has
no limit on the head, so the protocol class counts it. Where httptools cannot be imported (a
platform without its wheels) uvicorn's h11 protocol is used, with h11's own limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

DEFAULT_LIMIT_CONCURRENCY = 200
DEFAULT_TIMEOUT_KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024


def add_options(parser: argparse.ArgumentParser) -> None:
    """Declare `--limit-concurrency` and `--timeout-keep-alive`."""
    parser.add_argument(
        "--limit-concurrency",
        type=int,
        default=DEFAULT_LIMIT_CONCURRENCY,
        help=f"connections and requests at once; more get 503 (default: "
        f"{DEFAULT_LIMIT_CONCURRENCY})",
    )
    parser.add_argument(
        "--workers",
        type=worker_count,
        default=os.environ.get("WEB_CONCURRENCY", "1"),
        help="worker processes serving the port, each with its own connections to the store "
        "(default: $WEB_CONCURRENCY, else 1); the limits apply to each",
    )
    parser.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=DEFAULT_TIMEOUT_KEEP_ALIVE_SECONDS,
        help=f"seconds an idle keep-alive connection stays open (default: "
        f"{DEFAULT_TIMEOUT_KEEP_ALIVE_SECONDS})",
    )


def worker_count(text: str) -> int:
    """`text` as a number of worker processes (argparse type): a whole number >= 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return count


def http_protocol() -> type[asyncio.Protocol] | None:
    """The head-limited httptools protocol class, or None when httptools cannot be imported."""
    try:
        from cqrs_es.httptools_protocol import HeadLimitedHttpToolsProtocol
    except ImportError:
        return None
    return HeadLimitedHttpToolsProtocol


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `uvicorn.run` keyword arguments for the limits in `args`."""
    options: dict[str, Any] = {
        "limit_concurrency": args.limit_concurrency,
        "timeout_keep_alive": args.timeout_keep_alive,
        "workers": args.workers,
    }
    protocol = http_protocol()
    if protocol is None:
        # h11's limit is on an unfinished head: what is buffered while its end is missing.
        options.update(http="h11", h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    else:
        options["http"] = protocol
    return options
