"""Benchmark: what the lazy GraphQL mount saves a cold process (and a Lambda cold start).

    uv run --no-sync python bench/graphql_cold_start.py            # ~1 minute
    uv run --no-sync python bench/graphql_cold_start.py --runs 3

For each service, `--runs` fresh interpreters each measure, in order:

1. `import <service>.app` (FastAPI, pydantic, the service's modules; no strawberry);
2. `create_app(settings)` and a first REST request (the health check) served through ASGI;
3. the first GraphQL request (`{ __typename }`): strawberry and graphql-core are imported and
   the schema is built now, in a worker thread;
4. a second GraphQL request (steady state).

It also checks that strawberry is absent from `sys.modules` after step 2, and reports, as the
baseline, the cost an eager app would pay at start-up: step 3 minus step 4. Figures are medians
in milliseconds; the machine line says where they come from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, json, sys, time
t0 = time.perf_counter()
service = sys.argv[1]
if service == "command":
    from command_service.app import create_app
    from command_service.settings import Settings
    settings = lambda: Settings(event_store_url="memory://")
    rest = "/command/v1/healthcheck"
    graphql = "/command/graphql"
else:
    from query_service.app import create_app
    from query_service.settings import Settings
    settings = lambda: Settings(read_model_url="sqlite:///" + sys.argv[2])
    rest = "/query/healthcheck"
    graphql = "/query/graphql"
t1 = time.perf_counter()


async def call(app, method, path, body=b""):
    sent = []
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        sent.append(message)
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("bench", 80)}
    await app(scope, receive, send)
    status = sent[0]["status"]
    assert status == 200, (path, status, sent)


async def main():
    app = create_app(settings())
    await call(app, "GET", rest)
    t2 = time.perf_counter()
    lazy = "strawberry" not in sys.modules and "graphql" not in sys.modules
    query = json.dumps({"query": "{ __typename }"}).encode()
    await call(app, "POST", graphql, query)
    t3 = time.perf_counter()
    await call(app, "POST", graphql, query)
    t4 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "rest": t2 - t1, "graphql_first": t3 - t2,
                      "graphql_next": t4 - t3, "lazy": lazy}))

asyncio.run(main())
"""


def measure(service: str, database: str) -> dict[str, float]:
    """One fresh interpreter's figures for `service` (seconds; `lazy` as 0/1)."""
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, service, database],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def machine_line() -> str:
    """Where the figures come from: interpreter, system, CPUs, load."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )


def table(rows: list[list[str]], header: list[str]) -> str:
    """`rows` as a plain-text table under `header`."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def main() -> int:
    """Run the benchmark; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per service")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        database = str(Path(tmp) / "read_model.db")
        rows = []
        for service in ("command", "query"):
            runs = [measure(service, database) for _ in range(args.runs)]

            def ms(key: str, runs: list[dict[str, float]] = runs) -> float:
                return statistics.median(run[key] for run in runs) * 1000

            lazy = all(run["lazy"] for run in runs)
            rows.append(
                [
                    service,
                    f"{ms('import'):.0f}",
                    f"{ms('rest'):.0f}",
                    f"{ms('import') + ms('rest'):.0f}",
                    f"{ms('graphql_first'):.0f}",
                    f"{ms('graphql_next'):.1f}",
                    "yes" if lazy else "NO",
                ]
            )
    print(machine_line())
    print(f"medians of {args.runs} fresh processes per service, milliseconds")
    print(
        table(
            rows,
            [
                "service",
                "import app",
                "create_app + 1st REST",
                "ready for REST",
                "1st GraphQL (lazy load)",
                "next GraphQL",
                "strawberry absent after REST",
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
