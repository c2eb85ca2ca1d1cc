"""Benchmark: the whole service over HTTP (`cqrs-es dev` on SQLite), 16 concurrent clients.

    uv run --group bench python bench/http.py              # ~40 s (20 s of load)
    uv run --group bench python bench/http.py --quick      # ~10 s
    uv run --group bench python bench/http.py --duration 60 --clients 32

Starts `cqrs-es dev` (command service, query service, read-model updater; SQLite files in a
fresh temporary directory, free ports, tracing off, the command service in dev's default number
of worker processes unless `--command-workers` says otherwise) as a child process. Creates
`--chats` group chats, then `--clients` clients post messages for `--duration` seconds, each
over its own share of the chats (round-robin, so clients never race on one chat) and its own
keep-alive connection, each with one request in flight and the next sent as soon as the
response is in.
Prints:

- commands/s and the latency of POST .../post-message (p50, p99), measured by the clients
  from sending a request to having read its whole response;
- projection lag: from the moment a post is accepted (201) to the moment GET
  /query/v1/messages/{id} finds it, polled `--lag-poll-ms` after each response. Two probers in
  a separate process (so that they do not wait for the GIL behind the clients) each post one
  message every `--lag-probe-ms` to chats of their own and time it: a sample that costs the
  service little. With it, the resolution: the polls a probe took, and by how much a sample may
  over-state the lag (from sending the last poll that missed to the response of the one that
  found the message; the whole lag when the first poll found it);
- the in-process rate of the same workload from `bench/event_store.py` (the command service's
  `CommandHandler` on a SQLite event store, one thread, with the same aggregate cache size as
  the service) and the ratio HTTP / in-process;
- the CPU each process spent per accepted command over the measured window (Linux): command
  service, query service (it serves only the probers' polls), updater, this process (the
  client), their total and the rate it allows on this machine; the probers' process apart.

The load generator shares the machine's cores with the three server processes, so it is
built to cost them little: one thread drives all the clients' sockets (a selector) with a
minimal HTTP/1.1 client on raw sockets (`RawConnection`, `parse_response`): the request bytes
are prepared per chat except the message's content, a response is read by its Content-Length,
and anything else (chunked, no length, HTTP/1.0) stops the run. A connection the server closes
is opened again; a request that fails counts as an error, by status or exception name. The
probers use the same client, one keep-alive connection each to each service.

`--aggregate-cache-size N` sets the service's `AGGREGATE_CACHE_SIZE` (and the in-process
reference's); 0 turns the cache off. Default: the service's own default.

Targets: HTTP / in-process >= 0.5; projection lag p99 <= 100 ms. What the client still costs
the shared cores is part of the price here; a real load test would run it on another machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit

benchkit.fix_sys_path()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import selectors  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx2  # noqa: E402

from cqrs_es.dev import default_command_workers  # noqa: E402
from cqrs_es.testing import descendants  # noqa: E402

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
    start_timeout: float = 60.0,
    extra_env: dict[str, str] | None = None,
    command_workers: int | None = None,
) -> Iterator[Service]:
    """Start `cqrs-es dev` on free ports and a fresh data directory; stop it on exit.

    `command_workers`: dev's `--command-workers` (None: its default)."""
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
                *(
                    ["--command-workers", str(command_workers)]
                    if command_workers is not None
                    else []
                ),
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
    with httpx2.Client(timeout=2.0) as client:
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
            except httpx2.TransportError:
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


# -- a minimal HTTP/1.1 client ------------------------------------------------------------------


class UnsupportedResponseError(Exception):
    """A response this client does not handle (chunked, no Content-Length, not HTTP/1.1...).

    Not counted as a failed request: it means the benchmark's client is wrong, so the run stops.
    """


class ConnectionClosedError(ConnectionError):
    """The server closed the connection before a whole response."""


_MAX_HEAD = 64 * 1024


def parse_response(buffer: bytes) -> tuple[int, bytes, int, bool] | None:
    """The first response in `buffer`: (status, body, bytes it takes, server closes after it).

    None while the response is incomplete. Handles Content-Length bodies only; raises
    `UnsupportedResponseError` on anything else rather than guess.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > _MAX_HEAD:
            raise UnsupportedResponseError(f"no end of the head in {len(buffer)} bytes")
        return None
    # One lower-cased copy of the head, searched in C: cheaper than splitting it into headers.
    head = buffer[:end].lower()
    if not head.startswith(b"http/1.1 "):
        raise UnsupportedResponseError(f"not an HTTP/1.1 status line: {buffer[:40]!r}")
    try:
        status = int(head[9:12])
    except ValueError:
        raise UnsupportedResponseError(f"bad status line: {buffer[:40]!r}") from None
    if status < 200:
        raise UnsupportedResponseError(f"interim response {status}")
    if b"\r\ntransfer-encoding:" in head:
        raise UnsupportedResponseError("Transfer-Encoding (chunked?) is not handled")
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        raise UnsupportedResponseError(f"no Content-Length in a {status} response")
    line_end = head.find(b"\r\n", at + 17)
    try:
        length = int(head[at + 17 : line_end if line_end >= 0 else None])
    except ValueError:
        length = -1
    if length < 0:
        raise UnsupportedResponseError(f"bad Content-Length: {head[at:line_end]!r}")
    if head.find(b"\r\ncontent-length:", at + 17) >= 0:
        raise UnsupportedResponseError("two Content-Length headers")
    start = end + 4
    if len(buffer) < start + length:
        return None
    close = False
    at = head.find(b"\r\nconnection:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 13)
        close = b"close" in head[at + 13 : line_end if line_end >= 0 else None]
    return status, buffer[start : start + length], start + length, close


class RawConnection:
    """One keep-alive HTTP/1.1 connection on a raw socket, one request at a time.

    The benchmark's client must cost the two shared cores as little as possible: the request is
    bytes the caller prepared, and a response is read by `parse_response`. Reconnects when the
    server closed the connection (after a `Connection: close` response or an error).
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> socket.socket:
        """Open the connection (blocking socket; `timeout` as the kernel's receive timeout)."""
        sock = socket.create_connection(self.address, self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking without a Python timeout: a timeout makes each recv poll() first. The
        # kernel's SO_RCVTIMEO bounds a wait instead, at no cost per call.
        sock.settimeout(None)
        seconds = int(self.timeout)
        sock.setsockopt(
            socket.SOL_SOCKET,
            socket.SO_RCVTIMEO,
            struct.pack("ll", seconds, int((self.timeout - seconds) * 1e6)),
        )
        self.sock, self._buffer = sock, b""
        return sock

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buffer = b""

    def request(self, data: bytes) -> tuple[int, bytes]:
        """Send `data` (a whole request) and read the response: (status, body).

        OSError (including `ConnectionClosedError`) closes the connection before it propagates.
        """
        sock = self.sock or self.connect()
        try:
            sock.sendall(data)
            buffer = self._buffer
            while (parsed := parse_response(buffer)) is None:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionClosedError("the server closed the connection")
                buffer += chunk
        except BlockingIOError:  # SO_RCVTIMEO expired
            self.close()
            raise TimeoutError(f"no response within {self.timeout:g} s") from None
        except OSError:
            self.close()
            raise
        status, body, used, close = parsed
        self._buffer = buffer[used:]
        if close:
            self.close()
        elif self._buffer:
            raise UnsupportedResponseError(f"{len(self._buffer)} bytes after the response")
        return status, body


# -- the load ---------------------------------------------------------------------------------


@dataclass
class ClientStats:
    """What the clients saw: latencies of accepted posts, failures by kind."""

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
    resolutions: list[float] = field(default_factory=list)
    """Per sample, by how much it may over-state the lag: from the send of the last poll that
    did not find the message (or from the 201, if the first poll found it) to the response of
    the one that did."""
    polls: list[int] = field(default_factory=list)
    """Per sample, the polls it took."""
    failure: str | None = None
    """What stopped a prober early, if anything did."""


def _catching(target: Callable[..., None], failures: list[BaseException]) -> Callable[..., None]:
    """`target`, keeping what it raises in `failures` for the thread that waits for it."""

    def run(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:
            failures.append(exc)
            raise

    return run


def create_chats(service: Service, count: int) -> list[str]:
    """Create `count` chats over HTTP (this also warms the service up)."""
    ids = []
    with httpx2.Client(base_url=service.command_url, timeout=30.0) as client:
        for i in range(count):
            response = client.post(
                "/command/v1/group-chats/create", json={"name": f"chat {i}", "executorId": EXECUTOR}
            )
            response.raise_for_status()
            ids.append(response.json()["groupChatId"])
    return ids


class PostRequests:
    """The bytes of `POST .../post-message` to one chat, all but the content prepared once."""

    def __init__(self, command_url: str, chat: str) -> None:
        host = urllib.parse.urlsplit(command_url).netloc
        self._head = (
            f"POST {POST_MESSAGE_PATH} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        body = json.dumps(
            {"groupChatId": chat, "executorId": EXECUTOR, "content": ""}, separators=(",", ":")
        )
        self._body_start = body[: -len('"}')].encode()

    def __call__(self, content: str) -> bytes:
        """The whole request; `content` must need no escaping in a JSON string."""
        body = b'%s%s"}' % (self._body_start, content.encode())
        return b"%s%d\r\n\r\n%s" % (self._head, len(body), body)


@dataclass
class _Client:
    """One of the clients `post_messages` drives: its connection and request in flight."""

    connection: RawConnection
    requests: list[PostRequests]
    sent: int = 0
    started: float = 0.0
    buffer: bytes = b""


def post_messages(
    service: Service,
    chat_shares: Sequence[Sequence[str]],
    deadline: float,
    measure_from: float,
    stats: ClientStats,
    timeout: float = 30.0,
) -> None:
    """All clients from one thread: one keep-alive connection per share of the chats.

    Each client still has one request in flight at a time and posts the next one as soon as
    its response is in, exactly as a thread of its own would; one thread waiting on all the
    sockets at once costs less CPU than many threads taking turns with the GIL.
    """
    selector = selectors.DefaultSelector()

    def drop(client: _Client) -> None:
        if client.connection.sock is not None:
            selector.unregister(client.connection.sock)
            client.connection.close()

    def failed(client: _Client, exc: BaseException) -> None:
        drop(client)
        if client.started >= measure_from:
            stats.error(type(exc).__name__)

    def send_next(client: _Client) -> bool:
        """Send the client's next request (reconnecting if need be); False past the deadline."""
        while True:
            client.sent += 1
            data = client.requests[client.sent % len(client.requests)](f"hello {client.sent}")
            client.started = time.perf_counter()
            if client.started >= deadline:
                drop(client)
                return False
            client.buffer = b""
            try:
                sock = client.connection.sock
                if sock is None:
                    sock = client.connection.connect()
                    selector.register(sock, selectors.EVENT_READ, client)
                sock.sendall(data)
                return True
            except OSError as exc:
                failed(client, exc)

    clients = [
        _Client(
            RawConnection(service.command_url, timeout),
            [PostRequests(service.command_url, chat) for chat in chats],
        )
        for chats in chat_shares
    ]
    active = sum(send_next(c) for c in clients)
    next_timeout_check = time.perf_counter() + 1.0
    try:
        while active:
            for key, _ in selector.select(1.0):
                client: _Client = key.data
                try:
                    chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not chunk:
                        raise ConnectionClosedError("the server closed the connection")
                except OSError as exc:
                    failed(client, exc)
                    active -= not send_next(client)
                    continue
                client.buffer += chunk
                parsed = parse_response(client.buffer)
                if parsed is None:
                    continue
                finished = time.perf_counter()
                status, _, used, close = parsed
                if used != len(client.buffer):
                    extra = len(client.buffer) - used
                    raise UnsupportedResponseError(f"{extra} bytes after a response")
                if close:
                    drop(client)
                if client.started >= measure_from:
                    if status == 201:
                        stats.latencies.append(finished - client.started)
                    else:
                        stats.error(str(status))
                active -= not send_next(client)
            if (now := time.perf_counter()) >= next_timeout_check:
                next_timeout_check = now + 1.0
                for client in clients:
                    if client.connection.sock is not None and now - client.started > timeout:
                        failed(client, TimeoutError())
                        active -= not send_next(client)
    finally:
        for client in clients:
            drop(client)
        selector.close()


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
    """Every `every` seconds: post a message, then poll the query service until it is there.

    Polls `poll_interval` apart (from a response to the next request), each a prepared request
    on a keep-alive connection of its own, so that a poll costs the query service and this
    process as little as a request can.
    """
    commands = RawConnection(service.command_url, 30.0)
    queries = RawConnection(service.query_url, 10.0)
    posts = [PostRequests(service.command_url, chat) for chat in chats]
    query_host = urllib.parse.urlsplit(service.query_url).netloc
    i = 0
    next_at = time.perf_counter()
    try:
        while (now := time.perf_counter()) < deadline:
            if now < next_at:
                time.sleep(next_at - now)
            next_at += every
            i += 1
            try:
                status, body = commands.request(posts[i % len(posts)]("probe"))
            except OSError:
                continue  # a failed post is no sample, like a refused one
            accepted = time.perf_counter()
            if status != 201 or accepted < measure_from:
                continue
            poll = (
                f"GET /query/v1/messages/{json.loads(body)['messageId']}"
                f"?userAccountId={EXECUTOR} HTTP/1.1\r\nHost: {query_host}\r\n\r\n"
            ).encode()
            previous_sent, polls = accepted, 0
            while True:
                sent = time.perf_counter()
                status, _ = queries.request(poll)
                now = time.perf_counter()
                polls += 1
                if status == 200:
                    with lock:
                        stats.lags.append(now - accepted)
                        # The message became visible after the previous poll was sent.
                        stats.resolutions.append(now - previous_sent)
                        stats.polls.append(polls)
                    break
                if now - accepted > timeout:
                    with lock:
                        stats.timeouts += 1
                    break
                previous_sent = sent
                time.sleep(poll_interval)
    finally:
        commands.close()
        queries.close()


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

    A process of its own: beside the busy client thread a prober would wait for the GIL between
    the 201 and its first poll, and over-state the lag.
    """
    stats, lock, failures = LagStats(), threading.Lock(), list[BaseException]()
    threads = [
        threading.Thread(
            target=_catching(_lag_prober, failures),
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
    if failures:
        stats.failure = repr(failures[0])
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
    """CPU seconds over the measured window, by process: command, query, updater, client."""
    prober_cpu_seconds: float | None = None
    """CPU seconds of the lag probers' process over the measured window (None: unknown)."""

    @property
    def commands_per_second(self) -> float:
        """Accepted commands per second of the measured window."""
        return self.commands / self.duration


def _cpu_seconds(stat_path: Path) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) from a /proc/<pid>/stat; None if it is gone."""
    try:
        stat = stat_path.read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


def _process_cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of `root_pid`'s descendants, by role.

    Linux /proc only (empty elsewhere). The role is the `cqrs-es` subcommand in the command line
    of `root_pid`'s child the process descends from (`command`, `query`, `updater`), so a
    service's worker processes count for it; `cqrs-es dev` itself is the supervisor.
    """
    if not Path("/proc").is_dir():
        return {}
    found: dict[str, float] = {}
    for child in descendants(root_pid):
        stat = _cpu_seconds(Path(f"/proc/{child}/stat"))
        if stat is None or stat[0] != root_pid:
            continue  # gone, or a grandchild: counted with its ancestor below
        role = _role(child)
        for pid in (child, *descendants(child)):
            own = _cpu_seconds(Path(f"/proc/{pid}/stat"))
            if own is not None:
                found[role] = found.get(role, 0.0) + own[1]
    return found


def _role(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "other"
    return next(
        (a.decode() for a in argv if a.decode() in ("command", "query", "updater")), "other"
    )


def _pid_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds (user + system) so far of process `pid`; None where /proc cannot tell."""
    stat = _cpu_seconds(Path(f"/proc/{pid}/stat")) if pid is not None else None
    return None if stat is None else stat[1]


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
    shares = [load_chats[c::clients] or load_chats for c in range(clients)]
    stats, failures = [ClientStats()], list[BaseException]()
    posters = [
        threading.Thread(
            target=_catching(post_messages, failures),
            args=(service, shares, deadline, measure_from, stats[0]),
            daemon=True,
        )
    ]
    for t in posters:
        t.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    servers_before, client_before = _process_cpu_seconds(service.process.pid), time.process_time()
    prober_before = _pid_cpu_seconds(prober.pid)
    for t in posters:
        t.join()
    servers_after, client_after = _process_cpu_seconds(service.process.pid), time.process_time()
    prober_after = _pid_cpu_seconds(prober.pid)
    cpu = {
        role: servers_after[role] - servers_before.get(role, 0.0)
        for role in servers_after
        if role != "other"
    }
    cpu["client"] = client_after - client_before
    if failures:
        raise RuntimeError("the client failed") from failures[0]
    lag: LagStats = results.get(timeout=lag_timeout + 60)
    prober.join(10)
    if lag.failure:
        raise RuntimeError(f"a lag prober failed: {lag.failure}")
    latencies = [x for s in stats for x in s.latencies]
    errors: dict[str, int] = {}
    for s in stats:
        for k, v in s.errors.items():
            errors[k] = errors.get(k, 0) + v
    prober_cpu = (
        None if prober_before is None or prober_after is None else prober_after - prober_before
    )
    return HttpResult(clients, duration, len(latencies), latencies, errors, lag, cpu, prober_cpu)


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
    parser.add_argument(
        "--lag-poll-ms", type=float, default=2.0, help="lag probers' wait after each poll (2)"
    )
    parser.add_argument(
        "--updater-poll-ms",
        type=float,
        help="the updater's idle poll interval (UPDATER_POLL_INTERVAL_SECONDS; default: its own)",
    )
    parser.add_argument(
        "--command-workers",
        type=int,
        help="dev's --command-workers (default: dev's own, 2 with 2+ CPUs)",
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
    with running_dev(extra_env=extra_env, command_workers=args.command_workers) as service:
        workers = args.command_workers or default_command_workers()
        print(
            f"# cqrs-es dev on SQLite ({service.data_dir}), command service in {workers} worker "
            f"process{'es' if workers > 1 else ''}; {args.clients} clients post for "
            f"{args.duration:.0f} s after {args.warmup:.1f} s of warm-up over {args.chats} chats;"
            f" 2 lag probers post every {args.lag_probe_ms:g} ms and poll "
            f"{args.lag_poll_ms:g} ms after each response; updater poll interval "
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
            + (
                "; not in the total: the lag probers' process "
                f"{result.prober_cpu_seconds * ms / result.commands:.2f}"
                if result.prober_cpu_seconds is not None
                else ""
            )
        )
    lag = result.lag
    print(
        f"# {result.commands} posts accepted; errors: {result.errors or 'none'}; lag probes: "
        f"{len(lag.lags)}, never seen within 10 s: {lag.timeouts}"
    )
    if lag.lags:
        print(
            f"# lag resolution: polled {args.lag_poll_ms:g} ms after each response, "
            f"{sum(lag.polls) / len(lag.polls):.1f} polls per probe ({sum(lag.polls)} in all); "
            "a sample over-states the "
            f"lag by less than {benchkit.percentile(lag.resolutions, 50) * ms:.1f} ms (p50), "
            f"{benchkit.percentile(lag.resolutions, 99) * ms:.1f} ms (p99): the time from "
            "sending the last poll that missed to the response of the one that found it"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
