"""Benchmark: the whole service over HTTP (`cqrs-es dev` on SQLite), 16 concurrent clients.

    uv run --group bench python bench/http.py              # ~40 s (20 s of load)
    uv run --group bench python bench/http.py --quick      # ~10 s
    uv run --group bench python bench/http.py --duration 60 --clients 32

Starts `cqrs-es dev` (command service, query service, read-model updater; SQLite files in a
fresh temporary directory, free ports, tracing off) as a child process. Creates `--chats` group
chats, then `--clients` threads post messages for `--duration` seconds, each client over its own
share of the chats (round-robin, so clients never race on one chat), each with its own
keep-alive connection. Prints:

- commands/s and the latency of POST .../post-message (p50, p99), measured by the clients;
- projection lag: from the moment a post is accepted (201) to the moment GET
  /query/v1/messages/{id} finds it (polled every `--lag-poll-ms`). Two probers in a separate
  process (so that they do not wait for the GIL behind the clients) each post one message every
  `--lag-probe-ms` to chats of their own and time it: a sample that costs the service little;
- the in-process rate of the same workload from `bench/event_store.py` (the command service's
  `CommandHandler` on a SQLite event store, one thread, with the same aggregate cache size as
  the service) and the ratio HTTP / in-process.

`--aggregate-cache-size N` sets the service's `AGGREGATE_CACHE_SIZE` (and the in-process
reference's); 0 turns the cache off. Default: the service's own default.

Targets: HTTP / in-process >= 0.5; projection lag p99 <= 100 ms. The client threads share the
machine with the three server processes: on a 2-core machine that is part of the price.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit

benchkit.fix_sys_path()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

EXECUTOR = "UserAccount-01JBENCH000000000000000000"
_STOP_GRACE_SECONDS = 20.0
POST_MESSAGE_PATH = "/command/v1/group-chats/post-message"


@dataclass
class Service:
    """A running `cqrs-es dev`: its base URLs and process."""

    command_url: str
    query_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path


@contextlib.contextmanager
def running_dev(
    start_timeout: float = 60.0, extra_env: dict[str, str] | None = None
) -> Iterator[Service]:
    """Start `cqrs-es dev` on free ports and a fresh data directory; stop it on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    log_path = data_dir / "dev.log"
    command_port, query_port = benchkit.free_port(), benchkit.free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        # The defaults (SQLite under --data-dir, tracing off) are what is measured.
        if k not in ("EVENT_STORE_URL", "READ_MODEL_URL") and not k.startswith("OTEL_")
    }
    env.update(extra_env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cqrs_es.cli",
                "dev",
                "--data-dir",
                str(data_dir),
                "--command-port",
                str(command_port),
                "--query-port",
                str(query_port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    service = Service(
        f"http://127.0.0.1:{command_port}",
        f"http://127.0.0.1:{query_port}",
        process,
        data_dir,
        log_path,
    )
    try:
        _wait_until_healthy(service, start_timeout)
        yield service
    finally:
        _stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_until_healthy(service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    urls = [
        f"{service.command_url}/command/v1/healthcheck",
        f"{service.query_url}/query/v1/healthcheck",
    ]
    with httpx.Client(timeout=2.0) as client:
        while urls:
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"cqrs-es dev exited with {service.process.returncode}:\n"
                    + service.log_path.read_text(errors="replace")[-3000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"cqrs-es dev not healthy within {timeout:.0f} s: {urls}")
            try:
                if client.get(urls[0]).status_code == 200:
                    urls.pop(0)
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # dev's own graceful stop (Ctrl-C)
        try:
            process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# -- the load ---------------------------------------------------------------------------------


@dataclass
class ClientStats:
    """What one client thread saw."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        """Count a failed request by status or exception name."""
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass
class LagStats:
    """Projection lag samples (seconds) and the probes never seen within the timeout."""

    lags: list[float] = field(default_factory=list)
    timeouts: int = 0


def create_chats(service: Service, count: int) -> list[str]:
    """Create `count` chats over HTTP (this also warms the service up)."""
    ids = []
    with httpx.Client(base_url=service.command_url, timeout=30.0) as client:
        for i in range(count):
            response = client.post(
                "/command/v1/group-chats/create", json={"name": f"chat {i}", "executorId": EXECUTOR}
            )
            response.raise_for_status()
            ids.append(response.json()["groupChatId"])
    return ids


def _poster(
    service: Service,
    chats: Sequence[str],
    deadline: float,
    measure_from: float,
    stats: ClientStats,
) -> None:
    # http.client, not httpx: the load generator shares the two cores with the three server
    # processes, and httpx costs ~0.5 ms of CPU per request against ~0.1 ms here.
    url = urllib.parse.urlsplit(service.command_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30.0)
    headers = {"Content-Type": "application/json"}
    i = 0
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return
            chat = chats[i % len(chats)]
            i += 1
            body = json.dumps(
                {"groupChatId": chat, "content": f"hello {i}", "executorId": EXECUTOR}
            ).encode()
            try:
                connection.request("POST", POST_MESSAGE_PATH, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()  # reconnects on the next request
                if started >= measure_from:
                    stats.error(type(exc).__name__)
                continue
            accepted = time.perf_counter()
            if started < measure_from:  # warm-up
                continue
            if response.status != 201:
                stats.error(str(response.status))
                continue
            stats.latencies.append(accepted - started)
    finally:
        connection.close()


def _lag_prober(
    service: Service,
    chats: Sequence[str],
    deadline: float,
    measure_from: float,
    every: float,
    poll_interval: float,
    timeout: float,
    stats: LagStats,
    lock: threading.Lock,
) -> None:
    """Every `every` seconds: post a message, then poll the query service until it is there."""
    with (
        httpx.Client(base_url=service.command_url, timeout=30.0) as commands,
        httpx.Client(base_url=service.query_url, timeout=10.0) as queries,
    ):
        i = 0
        next_at = time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            if now < next_at:
                time.sleep(next_at - now)
            next_at += every
            i += 1
            response = commands.post(
                "/command/v1/group-chats/post-message",
                json={
                    "groupChatId": chats[i % len(chats)],
                    "content": "probe",
                    "executorId": EXECUTOR,
                },
            )
            accepted = time.perf_counter()
            if response.status_code != 201 or accepted < measure_from:
                continue
            message_id = response.json()["messageId"]
            while True:
                found = queries.get(
                    f"/query/v1/messages/{message_id}", params={"userAccountId": EXECUTOR}
                )
                now = time.perf_counter()
                if found.status_code == 200:
                    with lock:
                        stats.lags.append(now - accepted)
                    break
                if now - accepted > timeout:
                    with lock:
                        stats.timeouts += 1
                    break
                time.sleep(poll_interval)


def _lag_process(
    service: Service,
    chats: Sequence[str],
    deadline: float,
    measure_from: float,
    probers: int,
    every: float,
    poll_interval: float,
    timeout: float,
    results: Any,
) -> None:
    """Run `probers` lag probers in this process; put their `LagStats` in `results`.

    A process of its own: among the 16 busy client threads a prober would wait for the GIL
    between the 201 and its first poll, and over-state the lag.
    """
    stats, lock = LagStats(), threading.Lock()
    threads = [
        threading.Thread(
            target=_lag_prober,
            args=(
                service,
                chats[k::probers] or chats,
                deadline,
                measure_from,
                every,
                poll_interval,
                timeout,
                stats,
                lock,
            ),
        )
        for k in range(probers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(stats)


@dataclass(frozen=True)
class HttpResult:
    """Figures of one HTTP run."""

    clients: int
    duration: float
    commands: int
    latencies: list[float]
    errors: dict[str, int]
    lag: LagStats
    cpu_seconds: dict[str, float]
    """CPU seconds over the measured window, by process: command, query, updater, client threads."""

    @property
    def commands_per_second(self) -> float:
        """Accepted commands per second of the measured window."""
        return self.commands / self.duration


def _process_cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of `root_pid`'s child processes, by role.

    Linux /proc only (empty elsewhere). The role is the `cqrs-es` subcommand in the command line
    (`command`, `query`, `updater`); `cqrs-es dev` itself is the supervisor.
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[str, float] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) != root_pid:  # ppid
            continue
        role = next(
            (a.decode() for a in argv if a.decode() in ("command", "query", "updater")), "other"
        )
        found[role] = found.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def run_http_load(
    service: Service,
    *,
    clients: int = 16,
    chats: int = 200,
    duration: float = 20.0,
    warmup: float = 2.0,
    lag_probers: int = 2,
    lag_every: float = 0.1,
    lag_poll: float = 0.002,
    lag_timeout: float = 10.0,
) -> HttpResult:
    """Create the chats, then post from `clients` threads for `warmup` + `duration` seconds.

    Meanwhile, in another process, `lag_probers` probers each post a message every `lag_every`
    seconds to chats of their own and time how long until the query service has it.
    """
    chat_ids = create_chats(service, chats + lag_probers)
    load_chats, probe_chats = chat_ids[:chats], chat_ids[chats:]
    measure_from = time.perf_counter() + warmup
    deadline = measure_from + duration
    # fork before any thread of ours starts; the child needs nothing but its arguments.
    context = multiprocessing.get_context("fork")
    results: Any = context.Queue()
    prober = context.Process(
        target=_lag_process,
        args=(
            service,
            probe_chats,
            deadline,
            measure_from,
            lag_probers,
            lag_every,
            lag_poll,
            lag_timeout,
            results,
        ),
        daemon=True,
    )
    prober.start()
    stats = [ClientStats() for _ in range(clients)]
    posters = [
        threading.Thread(
            target=_poster,
            args=(
                service,
                load_chats[c::clients] or load_chats,
                deadline,
                measure_from,
                stats[c],
            ),
            daemon=True,
        )
        for c in range(clients)
    ]
    for t in posters:
        t.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    servers_before, client_before = _process_cpu_seconds(service.process.pid), time.process_time()
    for t in posters:
        t.join()
    servers_after, client_after = _process_cpu_seconds(service.process.pid), time.process_time()
    cpu = {
        role: servers_after[role] - servers_before.get(role, 0.0)
        for role in servers_after
        if role != "other"
    }
    cpu["client threads"] = client_after - client_before
    lag: LagStats = results.get(timeout=lag_timeout + 60)
    prober.join(10)
    latencies = [x for s in stats for x in s.latencies]
    errors: dict[str, int] = {}
    for s in stats:
        for k, v in s.errors.items():
            errors[k] = errors.get(k, 0) + v
    return HttpResult(clients, duration, len(latencies), latencies, errors, lag, cpu)


def in_process_rate(
    aggregates: int, commands_per_aggregate: int, aggregate_cache_size: int | None = None
) -> float:
    """Commands/s of `bench/event_store.py`'s workload on a SQLite store in this process.

    `aggregate_cache_size` None: the command service's default.
    """
    core = benchkit.load_sibling("event_store")
    cache = {} if aggregate_cache_size is None else {"aggregate_cache_size": aggregate_cache_size}
    with core.our_store("sqlite", None) as (store, _):
        result = core.run_our_workload(
            store, aggregates=aggregates, commands_per_aggregate=commands_per_aggregate, **cache
        )
    return float(result.commands_per_second)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="3 s of load (smoke test)")
    parser.add_argument("--duration", type=float, help="seconds of measured load (default 20)")
    parser.add_argument("--warmup", type=float, help="seconds of unmeasured load first (2)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--chats", type=int, help="chats to post to (default 200; quick 32)")
    parser.add_argument(
        "--lag-probe-ms", type=float, default=100.0, help="each of 2 lag probers posts every (100)"
    )
    parser.add_argument("--lag-poll-ms", type=float, default=2.0, help="lag poll interval (2)")
    parser.add_argument(
        "--updater-poll-ms",
        type=float,
        help="the updater's idle poll interval (UPDATER_POLL_INTERVAL_SECONDS; default: its own)",
    )
    parser.add_argument(
        "--aggregate-cache-size",
        type=int,
        help="the command service's AGGREGATE_CACHE_SIZE, and the in-process reference's "
        "(0: off; default: the service's own)",
    )
    parser.add_argument(
        "--no-in-process", action="store_true", help="skip the in-process reference run"
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.chats = args.chats or (32 if args.quick else 200)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 even when a target is missed)."""
    args = _parse_args(argv)
    print(f"# HTTP benchmark — {benchkit.machine_line()}")
    reference = None
    if not args.no_in_process:
        aggregates, commands = (20, 5) if args.quick else (200, 10)
        reference = in_process_rate(aggregates, commands, args.aggregate_cache_size)
        print(
            f"# in-process reference (bench/event_store.py workload, SQLite, one thread, "
            f"{aggregates}x{commands} commands): {reference:,.0f} cmd/s"
        )
    extra_env = {}
    if args.updater_poll_ms is not None:
        extra_env["UPDATER_POLL_INTERVAL_SECONDS"] = str(args.updater_poll_ms / 1000)
    if args.aggregate_cache_size is not None:
        extra_env["AGGREGATE_CACHE_SIZE"] = str(args.aggregate_cache_size)
    with running_dev(extra_env=extra_env) as service:
        print(
            f"# cqrs-es dev on SQLite ({service.data_dir}); {args.clients} clients post for "
            f"{args.duration:.0f} s after {args.warmup:.1f} s of warm-up over {args.chats} chats;"
            f" 2 lag probers post every {args.lag_probe_ms:g} ms and poll every "
            f"{args.lag_poll_ms:g} ms; updater poll interval "
            + (
                f"{args.updater_poll_ms:g} ms"
                if args.updater_poll_ms is not None
                else os.environ.get("UPDATER_POLL_INTERVAL_SECONDS", "its default (10 ms)")
            )
            + "; aggregate cache size "
            + extra_env.get(
                "AGGREGATE_CACHE_SIZE", os.environ.get("AGGREGATE_CACHE_SIZE", "its default (1024)")
            )
        )
        result = run_http_load(
            service,
            clients=args.clients,
            chats=args.chats,
            duration=args.duration,
            warmup=args.warmup,
            lag_every=args.lag_probe_ms / 1000,
            lag_poll=args.lag_poll_ms / 1000,
        )
    ms = 1000.0
    rows = [
        ["commands/s (HTTP)", f"{result.commands_per_second:,.0f}", ""],
        ["latency p50", f"{benchkit.percentile(result.latencies, 50) * ms:.1f} ms", ""],
        ["latency p99", f"{benchkit.percentile(result.latencies, 99) * ms:.1f} ms", ""],
        ["projection lag p50", f"{benchkit.percentile(result.lag.lags, 50) * ms:.1f} ms", ""],
    ]
    lag_p99 = benchkit.percentile(result.lag.lags, 99)
    rows.append(
        [
            "projection lag p99",
            f"{lag_p99 * ms:.1f} ms",
            "ok (target <= 100 ms)" if lag_p99 <= 0.1 else "MISSED (target <= 100 ms)",
        ]
    )
    if reference is not None:
        ratio = result.commands_per_second / reference
        rows.append(["in-process cmd/s", f"{reference:,.0f}", ""])
        rows.append(
            [
                "HTTP / in-process",
                f"{ratio:.2f}x",
                "ok (target >= 0.5)" if ratio >= 0.5 else "MISSED (target >= 0.5)",
            ]
        )
    print()
    print(benchkit.table(rows, ["figure", "value", "target"]))
    if result.commands:
        per_command = {k: v * ms / result.commands for k, v in sorted(result.cpu_seconds.items())}
        total = sum(per_command.values())
        cores = os.cpu_count() or 1
        print(
            "# CPU ms per accepted command, by process (measured window): "
            + ", ".join(f"{k} {v:.2f}" for k, v in per_command.items())
            + f"; total {total:.2f} ms, so {cores} cores allow at most "
            f"{cores * ms / total:,.0f} cmd/s at this cost"
            + (f" ({cores * ms / total / reference:.2f}x the in-process rate)" if reference else "")
        )
    print(
        f"# {result.commands} posts accepted; errors: {result.errors or 'none'}; lag probes: "
        f"{len(result.lag.lags)}, never seen within 10 s: {result.lag.timeouts}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
