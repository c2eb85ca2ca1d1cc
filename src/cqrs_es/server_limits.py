"""Limits of the HTTP server (uvicorn) that runs a service: shared by `cqrs-es command|query`.

Slow or huge requests must not exhaust a process:

- `--limit-concurrency` (default 200): connections plus in-flight requests; past it uvicorn
  answers 503 at once instead of queueing without bound (the synchronous endpoints run in a
  thread pool of 40, so a bounded queue sits in front of it);
- `--timeout-keep-alive` (default 5 s): how long an idle keep-alive connection is kept;
- 16 KiB for the request line and headers (`h11_max_incomplete_event_size`): more is 400;
- the services themselves bound the body: size (`MAX_BODY_BYTES`, 413) and the time it may
  take to arrive (`BODY_TIMEOUT_SECONDS`, 408).
"""

from __future__ import annotations

import argparse
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
        "--timeout-keep-alive",
        type=int,
        default=DEFAULT_TIMEOUT_KEEP_ALIVE_SECONDS,
        help=f"seconds an idle keep-alive connection stays open (default: "
        f"{DEFAULT_TIMEOUT_KEEP_ALIVE_SECONDS})",
    )


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """The `uvicorn.run` keyword arguments for the limits in `args`."""
    return {
        # h11 even when httptools is installed: the header limit below is h11's setting.
        "http": "h11",
        "limit_concurrency": args.limit_concurrency,
        "timeout_keep_alive": args.timeout_keep_alive,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
