"""Benchmark: Lambda cold start of our three handlers against a naive eager baseline.

    uv run --group bench python bench/cold_start.py             # ~30 s
    uv run --group bench python bench/cold_start.py --quick     # ~10 s
    uv run --group bench python bench/cold_start.py --runs 10

For each handler, `--runs` fresh Python processes (after one unmeasured run that warms the OS
file cache, as a provisioned image's layers are) each time, inside the process:

- `import`: importing the handler's module (what Lambda's init phase runs);
- `first`: the first invocation, where our handlers build their app (settings, telemetry with
  tracing on, the event store or database engine) and serve the event;
- `second`: a second invocation (warm), for reference;

and the process's peak RSS after the first invocation (`resource.getrusage`, `ru_maxrss`).

Handlers, configuration (as in infra/sam/template.yaml) and events (real AWS payload shapes):

- `command_service.lambda_handler.handler`: `EVENT_STORE_URL=dynamodb://...` on moto's server
  (started here, tables created by `cqrs-es create-dynamodb-tables`); HTTP API v2 `POST
  /Stage/command/v1/group-chats/create`, a real command (a conditional write to the journal).
  Row `command-health`: the same handler and configuration, `GET /Stage/command/v1/healthcheck`
  (no DynamoDB call), for reference.
- `query_service.lambda_handler.handler`: `READ_MODEL_URL` = a fresh, migrated PostgreSQL
  database, seeded with a user in three group chats; HTTP API v2 `GET
  /Stage/query/v1/group-chats?userAccountId=<that user>`, a real read (SQL on a new connection).
- `read_model_updater.lambda_handler.handler`: the same database; a DynamoDB Streams event with
  one journal INSERT (a GroupChatCreated), applied for real.
- baseline, `bench/naive_lambda.py`: the same database URL and OTel settings; HTTP API v2 `GET
  /healthcheck` on the `$default` stage.

Tracing is on everywhere: OTLP/HTTP to `telemetry.testing.OtlpReceiver` in this process, SigV4
signing on (`TELEMETRY_SIGV4_REGION`, as with X-Ray's endpoint), spans flushed before each
invocation returns. Targets: import + first request <= 0.5 x the baseline's; peak RSS <= 100 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit

benchkit.fix_sys_path()

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

# Runs in the fresh process. Only json/importlib/resource/time are imported before the clock
# starts; the interpreter's own start-up is the same for every handler and is not counted.
CHILD = r"""
import importlib, json, resource, sys, time
t0 = time.perf_counter()
config = json.loads(sys.stdin.read())
if config.get("path"):
    sys.path.append(config["path"])  # appended: bench/ holds modules named like stdlib ones
handler = getattr(importlib.import_module(config["module"]), "handler")
t1 = time.perf_counter()


class Context:
    function_name = config["function_name"]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "2026/03/12/[$LATEST]0123456789abcdef"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30000


first = handler(config["event"], Context())
t2 = time.perf_counter()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
second = handler(config["second_event"], Context())
t3 = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": t1 - t0, "first_s": t2 - t1, "second_s": t3 - t2, "rss_kb": rss_kb,
    "first": first, "modules": len(sys.modules),
}))
"""


# -- events -----------------------------------------------------------------------------------


def http_api_event(
    path: str,
    stage: str = "Stage",
    query: str = "",
    *,
    method: str = "GET",
    json_body: Any = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as Lambda receives it on `stage` (a GET, or
    `method` with `json_body` as its JSON body)."""
    full_path = path if stage == "$default" else f"/{stage}{path}"
    prefix = path.strip("/").split("/", 1)[0]
    route = f"ANY /{prefix}/{{proxy+}}"
    host = "abcdefghij.execute-api.us-east-1.amazonaws.com"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": full_path,
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "content-length": "0",
            "host": host,
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-65f1a2b3-0123456789abcdef01234567",
            "x-forwarded-for": "192.0.2.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "domainName": host,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "GET",
                "path": full_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "curl/8.5.0",
            },
            "requestId": f"{uuid.uuid4().hex[:14]}=",
            "routeKey": route,
            "stage": stage,
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1773342238390,
        },
        "pathParameters": {"proxy": path.strip("/").split("/", 1)[1] if "/" in path[1:] else ""},
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&"))
    event["requestContext"]["http"]["method"] = method
    if json_body is not None:
        event["body"] = json.dumps(json_body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"].encode()))
    return event


def create_event(run: int) -> dict[str, Any]:
    """`POST /Stage/command/v1/group-chats/create` of a new chat (a new executor each time)."""
    from chat_domain import UserAccountId

    body = {"name": f"cold start {run}", "executorId": str(UserAccountId.generate())}
    return http_api_event("/command/v1/group-chats/create", method="POST", json_body=body)


def stream_event(sequence_number: int) -> dict[str, Any]:
    """A DynamoDB Streams event with one journal INSERT (a new chat), as Lambda delivers it."""
    from datetime import UTC, datetime

    from chat_domain import (
        CreateGroupChat,
        EventId,
        GroupChatId,
        GroupChatName,
        MemberId,
        UserAccountId,
        decide,
        encode,
    )
    from event_store.dynamodb_records import partition_key, sort_key

    chat_id = GroupChatId.generate()
    command = CreateGroupChat(
        chat_id, GroupChatName("cold start"), UserAccountId.generate(), MemberId.generate()
    )
    (event,) = decide(None, command, event_id=EventId.generate(), occurred_at=datetime.now(UTC))
    encoded = encode(event)
    aggregate_id = str(chat_id)
    keys = {"pkey": {"S": partition_key(aggregate_id)}, "skey": {"S": sort_key(aggregate_id, 1)}}
    image = {
        **keys,
        "aid": {"S": aggregate_id},
        "seq_nr": {"N": "1"},
        "event_id": {"S": encoded.event_id},
        "event_type": {"S": encoded.type_name},
        "payload": {"B": base64.b64encode(encoded.payload).decode("ascii")},
        "occurred_at": {"N": str(encoded.occurred_at_ms)},
        "metadata": {"S": "{}"},
    }
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": keys,
                    "NewImage": image,
                    "SequenceNumber": f"{sequence_number:021d}",
                    "SizeBytes": 256,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": (
                    "arn:aws:dynamodb:us-east-1:123456789012:table/journal/stream/"
                    "2026-03-12T00:00:00.000"
                ),
            }
        ]
    }


# -- running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A handler to measure."""

    name: str
    module: str
    function_name: str
    env: dict[str, str]
    path: str | None = None
    query: str = ""
    """The query string of the HTTP targets' GET."""


@dataclass(frozen=True)
class Sample:
    """One fresh process's figures."""

    import_s: float
    first_s: float
    second_s: float
    rss_kb: int
    process_s: float
    modules: int

    @property
    def cold_s(self) -> float:
        """Import + first invocation."""
        return self.import_s + self.first_s


def _events(target: Target, run: int) -> tuple[dict[str, Any], dict[str, Any]]:
    if target.name == "updater":
        return stream_event(2 * run + 1), stream_event(2 * run + 2)
    if target.name == "baseline":  # the naive app knows nothing of stages: `$default`
        return http_api_event("/healthcheck", "$default"), http_api_event(
            "/healthcheck", "$default"
        )
    if target.name == "command":  # a real command: a new chat written to DynamoDB (moto)
        return create_event(2 * run + 1), create_event(2 * run + 2)
    if target.name == "command-health":
        path = "/command/v1/healthcheck"
        return http_api_event(path), http_api_event(path)
    if target.name == "query":  # a real read: the caller's group chats
        path = "/query/v1/group-chats"
        return http_api_event(path, query=target.query), http_api_event(path, query=target.query)
    path = f"/{target.name}/v1/healthcheck"
    return http_api_event(path), http_api_event(path)


def measure(target: Target, run: int) -> Sample:
    """Run `target` once in a fresh interpreter; raises if the invocation did not succeed."""
    event, second_event = _events(target, run)
    config = {
        "module": target.module,
        "function_name": target.function_name,
        "path": target.path,
        "event": event,
        "second_event": second_event,
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        env=target.env,
        timeout=120,
        check=False,
    )
    process_s = time.perf_counter() - started
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{target.name}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    result = json.loads(lines[-1][len("RESULT ") :])
    first = result["first"]
    if target.name == "updater":
        ok = first == {"batchItemFailures": []}
    elif target.name == "command":  # the new chat's id, once written
        ok = first.get("statusCode") == 201 and json.loads(first["body"]).get(
            "groupChatId", ""
        ).startswith("GroupChat-")
    else:
        ok = first.get("statusCode") == 200
    if ok and target.name == "query":  # the seeded chats, read from the database
        ok = len(json.loads(first["body"])) == QUERY_SEEDED_CHATS
    if not ok:
        raise RuntimeError(
            f"{target.name}: first invocation failed: {first}\n{done.stderr[-3000:]}"
        )
    return Sample(
        result["import_s"],
        result["first_s"],
        result["second_s"],
        int(result["rss_kb"]),
        process_s,
        int(result["modules"]),
    )


def _lambda_env(service: str, function_name: str, traces_endpoint: str) -> dict[str, str]:
    # PYTHONPATH: to measure another checkout's sources with this environment (before/after).
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "SYSTEMROOT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            # What Lambda sets.
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/03/12/[$LATEST]0123456789abcdef",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "_X_AMZN_TRACE_ID": "Root=1-65f1a2b3-0123456789abcdef01234567;"
            "Parent=53995c3f42cd8ad8;Sampled=1",
            # infra/sam/template.yaml's Globals, with the X-Ray endpoint replaced by a local
            # receiver that still gets SigV4-signed requests.
            "LOG_LEVEL": "INFO",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_PROPAGATORS": "tracecontext,xray-lambda",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": service,
            "TELEMETRY_SIGV4_REGION": "us-east-1",
        }
    )
    return env


def _create_tables(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cqrs_es.cli", "create-dynamodb-tables", "--url", url],
        capture_output=True,
        text=True,
        check=False,
        # moto takes any credentials; the machine's must never reach it (nor AWS).
        env={**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"cqrs-es create-dynamodb-tables failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def moto_dynamodb() -> Iterator[str]:
    """moto's server, in a process of its own on a free loopback port; yields its endpoint URL.

    Not in this process: a child's `ru_maxrss` starts from its parent's at the fork, and moto
    would inflate every handler's peak RSS.
    """
    port = benchkit.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _migrate(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cqrs_es.cli", "migrate", "--url", url],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cqrs-es migrate failed:\n{done.stdout}\n{done.stderr}")


QUERY_SEEDED_CHATS = 3


def _seed_query_user(url: str) -> str:
    """A user in `QUERY_SEEDED_CHATS` group chats of the read model at `url`, with a few
    members and messages each; returns the user's id."""
    from read_model import create_engine_for
    from read_model.testing import ReadModelSeeder

    engine = create_engine_for(url)
    try:
        seeder = ReadModelSeeder(engine)
        user = seeder.user()
        for number in range(QUERY_SEEDED_CHATS):
            chat = seeder.group_chat(user, f"chat {number}")
            for _ in range(3):
                member = seeder.user()
                seeder.member(chat, member)
                seeder.message(chat, member, "hello")
        return user
    finally:
        engine.dispose()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="one measured run each, no warm-up run (smoke test)"
    )
    parser.add_argument("--runs", type=int, help="measured runs per handler (default 5)")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 5)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit code (0 even when a target is missed)."""
    from telemetry.testing import OtlpReceiver

    args = _parse_args(argv)
    print(f"# cold start benchmark — {benchkit.machine_line()}")
    if (reason := benchkit.postgres_available()) is not None:
        print(f"# needs PostgreSQL at {benchkit.admin_url()}: {reason}", file=sys.stderr)
        return 2
    with (
        benchkit.temporary_postgres_database("bench_cold") as read_model_url,
        OtlpReceiver() as receiver,
        moto_dynamodb() as dynamodb_endpoint,
    ):
        event_store_url = (
            "dynamodb://journal?snapshot_table=snapshot"
            f"&endpoint_url={dynamodb_endpoint}&region=us-east-1"
        )
        _create_tables(event_store_url)
        _migrate(read_model_url)
        query_user = _seed_query_user(read_model_url)
        traces = receiver.traces_endpoint
        targets = [
            *(
                Target(
                    name,
                    "command_service.lambda_handler",
                    "command-service",
                    {
                        **_lambda_env("command-service", "command-service", traces),
                        "EVENT_STORE_URL": event_store_url,
                    },
                )
                for name in ("command", "command-health")
            ),
            Target(
                "query",
                "query_service.lambda_handler",
                "query-service",
                {
                    **_lambda_env("query-service", "query-service", traces),
                    "READ_MODEL_URL": read_model_url,
                },
                query=f"userAccountId={query_user}",
            ),
            Target(
                "updater",
                "read_model_updater.lambda_handler",
                "read-model-updater",
                {
                    **_lambda_env("read-model-updater", "read-model-updater", traces),
                    "READ_MODEL_URL": read_model_url,
                },
            ),
            Target(
                "baseline",
                "naive_lambda",
                "naive",
                {
                    **_lambda_env("naive", "naive", traces),
                    "READ_MODEL_URL": read_model_url,
                    # FastAPI's own request tracing hands the xray-lambda propagator a getter
                    # that cannot read the environment's trace header (a crash): plain X-Ray.
                    "OTEL_PROPAGATORS": "tracecontext,xray",
                },
                path=str(benchkit.BENCH_DIR),
            ),
        ]
        samples: dict[str, list[Sample]] = {t.name: [] for t in targets}
        if not args.quick:
            for t in targets:
                measure(t, run=1000)  # warm the OS file cache; not counted
        # Interleaved, so that a noisy moment hits every handler alike.
        for run in range(args.runs):
            for t in targets:
                samples[t.name].append(measure(t, run))
        spans = len(receiver.spans)

    def med(name: str, attr: str) -> float:
        return benchkit.median([getattr(s, attr) for s in samples[name]])

    base = med("baseline", "cold_s")
    rows = []
    for t in targets:
        cold = med(t.name, "cold_s")
        rss_mb = max(s.rss_kb for s in samples[t.name]) / 1024
        ratio = cold / base
        rows.append(
            [
                t.name,
                f"{med(t.name, 'import_s') * 1000:.0f}",
                f"{med(t.name, 'first_s') * 1000:.0f}",
                f"{cold * 1000:.0f}",
                "-"
                if t.name == "baseline"
                else f"{ratio:.2f}x" + (" ok" if ratio <= 0.5 else " MISSED"),
                f"{rss_mb:.0f}" + ("" if rss_mb <= 100 else " MISSED"),
                f"{med(t.name, 'second_s') * 1000:.1f}",
                f"{med(t.name, 'process_s') * 1000:.0f}",
                f"{round(med(t.name, 'modules'))}",
            ]
        )
    print(f"# {args.runs} measured run(s) per handler, medians; {spans} spans received")
    print()
    print(
        benchkit.table(
            rows,
            [
                "handler",
                "import ms",
                "first ms",
                "import+first ms",
                "vs baseline (<= 0.5x)",
                "peak RSS MB (<= 100)",
                "second ms",
                "process ms",
                "modules",
            ],
        )
    )
    print(
        "# process ms: the whole child process (interpreter start-up and exit included), as"
        " seen from here."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
