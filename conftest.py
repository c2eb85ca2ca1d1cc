"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL to a brand-new database of this test's own, dropped afterwards."""
    # A dependency of the workspace: if it were missing, skipping would hide every test using it.
    import psycopg

    admin = _admin_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable at {admin}: {exc}")
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Endpoint URL of a moto server (DynamoDB, DynamoDB Streams, …) shared by the session.

    While it runs, the environment holds dummy AWS credentials, region us-east-1 and
    AWS_ENDPOINT_URL pointing at moto, so no boto3 client made by a test can reach real AWS.
    The server's state is shared: each test uses tables of its own (unique names).
    """
    from moto import server as moto_server  # the dev group's moto[server]: never skip without it

    dummy_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            mp.delenv(name, raising=False)
        for name, value in dummy_env.items():
            mp.setenv(name, value)
        _serialize_moto_dynamodb(mp)
        # Port 0: the OS picks a free port, and the server reports it (no race for a port).
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            yield endpoint
        finally:
            server.stop()


def _serialize_moto_dynamodb(mp: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB handle one request at a time, as atomic as DynamoDB itself.

    moto applies a TransactWriteItems item by item and rolls back by restoring a deep copy of
    the tables, with no lock: concurrent requests (the event store's racing-writers tests)
    interleave, lose committed writes or fail with "dictionary changed size during iteration".
    Only DynamoDB and DynamoDB Streams calls are serialized (a long-polling call of another
    service must not block the server).
    """
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    handle = DomainDispatcherApplication.__call__
    lock = threading.Lock()

    def serialized(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with lock:
                return handle(self, environ, start_response)
        return handle(self, environ, start_response)

    mp.setattr(DomainDispatcherApplication, "__call__", serialized)


def make_http_api_event(
    method: str,
    path: str,
    *,
    stage: str = "$default",
    route_key: str | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: str | bytes | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload format 2.0) as Lambda receives it.

    Shaped like AWS's documented example event. `path` is the path the client asked for
    below the stage: on a named stage API Gateway puts `/<stage>` in front of it in `rawPath`
    and `requestContext.http.path`, as here. `route_key` defaults to the `ANY /<prefix>/{proxy+}`
    route of the SAM template that matches `path`. `base64_body` encodes `body` the way API
    Gateway sends binary payloads.
    """
    import base64 as _base64

    full_path = path if stage == "$default" else f"/{stage}{path}"
    prefix = path.strip("/").split("/", 1)[0]
    route = route_key or f"ANY /{prefix}/{{proxy+}}"
    all_headers = {
        "accept": "*/*",
        "content-length": "0",
        "host": "abcdefghij.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-65f1a2b3-0123456789abcdef01234567",
        "x-forwarded-for": "192.0.2.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": full_path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
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
        "isBase64Encoded": base64_body,
    }
    if query:
        parameters: dict[str, str] = {}
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            # API Gateway joins repeated parameters with commas here (rawQueryString keeps all).
            parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
        event["queryStringParameters"] = parameters
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        all_headers["content-length"] = str(len(raw))
        event["body"] = _base64.b64encode(raw).decode("ascii") if base64_body else raw.decode()
    return event


@pytest.fixture
def http_api_event() -> Any:
    """`make_http_api_event`: builds API Gateway HTTP API (payload 2.0) events for handlers."""
    return make_http_api_event


_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/journal/stream/2026-03-12T00:00:00.000"


def _lambda_json(value: Any) -> Any:
    """Typed attribute values as a Lambda event carries them: binary as base64 strings."""
    import base64 as _base64

    if isinstance(value, bytes | bytearray | memoryview):
        return _base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    return value


def make_dynamodb_stream_record(
    *,
    sequence_number: str,
    keys: dict[str, Any],
    new_image: dict[str, Any] | None = None,
    old_image: dict[str, Any] | None = None,
    event_name: str = "INSERT",
    view_type: str = "NEW_IMAGE",
) -> dict[str, Any]:
    """One DynamoDB Streams record as Lambda delivers it (AWS's documented example shape).

    Images and keys use typed attribute values; `bytes` in them become base64 strings, as in
    the JSON event a real Lambda receives.
    """
    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": 1773342238,
        "Keys": keys,
        "SequenceNumber": sequence_number,
        "SizeBytes": 256,
        "StreamViewType": view_type,
    }
    if new_image is not None:
        stream["NewImage"] = new_image
    if old_image is not None:
        stream["OldImage"] = old_image
    return _lambda_json(
        {
            "eventID": uuid.uuid4().hex,
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": stream,
            "eventSourceARN": _STREAM_ARN,
        }
    )


def stream_event_from_get_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Lambda event from records of the `dynamodbstreams` client's GetRecords.

    boto3 returns binary attribute values as `bytes` and `ApproximateCreationDateTime` as a
    datetime; Lambda's JSON event has base64 strings and epoch seconds.
    """
    converted = []
    for record in records:
        record = dict(record)
        stream = dict(record["dynamodb"])
        created = stream.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            stream["ApproximateCreationDateTime"] = int(created.timestamp())
        record["dynamodb"] = stream
        record.setdefault("eventSourceARN", _STREAM_ARN)
        converted.append(_lambda_json(record))
    return {"Records": converted}


@pytest.fixture
def dynamodb_stream_record() -> Any:
    """`make_dynamodb_stream_record`: builds DynamoDB Streams records as Lambda receives them."""
    return make_dynamodb_stream_record


@pytest.fixture
def lambda_stream_event() -> Any:
    """`stream_event_from_get_records`: a Lambda event from boto3 GetRecords records."""
    return stream_event_from_get_records
