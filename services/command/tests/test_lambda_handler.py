"""The command service's Lambda handler, invoked with API Gateway HTTP API (2.0) events.

The events have the shape AWS documents (see `make_http_api_event` in the root conftest); the
app behind the handler is the real one, configured from the environment as on Lambda, with the
DynamoDB event store on moto's server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from command_service import lambda_handler
from event_store.dynamodb import create_tables
from telemetry.testing import OtlpReceiver

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
EventFactory = Callable[..., dict[str, Any]]


class LambdaContext:
    """The attributes of the Lambda context object that code may read."""

    function_name = "CommandFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:CommandFunction"
    memory_limit_in_mb = 1024
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/CommandFunction"
    log_stream_name = "2026/03/12/[$LATEST]abcdef0123456789"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


@pytest.fixture
def handler() -> Iterator[ModuleType]:
    """The handler module as a fresh execution environment has it: no app built yet."""
    lambda_handler.reset()
    yield lambda_handler
    lambda_handler.reset()


@pytest.fixture
def dynamodb_store(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """EVENT_STORE_URL of fresh journal and snapshot tables on moto, as the SAM template sets it."""
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"journal-{suffix}", f"snapshot-{suffix}"
    create_tables(client, journal_table=journal, snapshot_table=snapshot)
    # No endpoint_url in the URL: boto3 finds moto through AWS_ENDPOINT_URL (set by moto_endpoint).
    url = f"dynamodb://{journal}?snapshot_table={snapshot}"
    monkeypatch.setenv("EVENT_STORE_URL", url)
    yield url
    for name in (journal, snapshot):
        client.delete_table(TableName=name)
    client.close()


def invoke(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler.handler(event, LambdaContext())
    return response


def body_of(response: dict[str, Any]) -> Any:
    # JSON, problem details included, goes out as text: API Gateway would decode base64, but
    # every client-visible byte would cost a third more in the Lambda response.
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


def create_event(http_api_event: EventFactory, name: str = "developers", **kwargs: Any) -> Any:
    return http_api_event(
        "POST",
        "/command/v1/group-chats/create",
        headers={"content-type": "application/json"},
        body=json.dumps({"name": name, "executorId": ALICE}),
        **kwargs,
    )


def test_healthcheck_answers_ok_when_invoked_on_the_default_stage(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    response = invoke(handler, http_api_event("GET", "/command/v1/healthcheck"))

    assert response["statusCode"] == 200
    assert response["body"] == "OK"
    assert response["headers"]["content-type"].startswith("text/plain")


def test_healthcheck_answers_ok_when_the_path_carries_the_named_stage(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    event = http_api_event("GET", "/command/v1/healthcheck", stage="Stage")
    assert event["rawPath"] == "/Stage/command/v1/healthcheck"

    response = invoke(handler, event)

    assert response["statusCode"] == 200
    assert response["body"] == "OK"


def test_create_answers_201_with_the_chat_id_when_stored_in_dynamodb(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str, moto_endpoint: str
) -> None:
    response = invoke(handler, create_event(http_api_event, stage="Stage"))

    assert response["statusCode"] == 201, response
    chat_id = body_of(response)["groupChatId"]
    assert chat_id.startswith("GroupChat-")
    journal = dynamodb_store.removeprefix("dynamodb://").split("?", 1)[0]
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    items = client.scan(TableName=journal)["Items"]
    assert [(item["aid"]["S"], item["seq_nr"]["N"]) for item in items] == [(chat_id, "1")]


def test_base64_encoded_body_is_decoded_when_api_gateway_sends_one(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    event = create_event(http_api_event, name="binary-safe ✓", base64_body=True)
    assert event["isBase64Encoded"] is True

    response = invoke(handler, event)

    assert response["statusCode"] == 201, response


def test_invalid_json_answers_400_problem_when_posted(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    event = http_api_event(
        "POST",
        "/command/v1/group-chats/create",
        stage="Stage",
        headers={"content-type": "application/json"},
        body="{not json",
    )

    response = invoke(handler, event)

    assert response["statusCode"] == 400
    assert response["headers"]["content-type"] == "application/problem+json"
    problem = body_of(response)
    assert problem["code"] == "validation_error"
    assert problem["field"] == "body"


def test_domain_rule_violation_answers_422_when_invoked(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    chat_id = body_of(invoke(handler, create_event(http_api_event)))["groupChatId"]
    rename = http_api_event(
        "POST",
        "/command/v1/group-chats/rename",
        headers={"content-type": "application/json"},
        body=json.dumps({"groupChatId": chat_id, "name": "developers", "executorId": ALICE}),
    )

    response = invoke(handler, rename)

    assert response["statusCode"] == 422, response
    assert response["headers"]["content-type"] == "application/problem+json"


def test_unknown_path_answers_404_problem_when_invoked(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    response = invoke(handler, http_api_event("GET", "/command/v1/nothing-here", stage="Stage"))

    assert response["statusCode"] == 404
    assert body_of(response)["code"] == "not_found"


def test_graphql_answers_typename_when_posted_through_the_stage(
    handler: ModuleType, http_api_event: EventFactory, dynamodb_store: str
) -> None:
    event = http_api_event(
        "POST",
        "/command/graphql",
        stage="Stage",
        headers={"content-type": "application/json"},
        body=json.dumps({"query": "{ __typename }"}),
    )

    response = invoke(handler, event)

    assert response["statusCode"] == 200, response
    assert body_of(response) == {"data": {"__typename": "Query"}}


def test_app_is_reused_when_the_environment_serves_more_requests(
    handler: ModuleType, http_api_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An in-memory store survives between invocations only if the app (and its store) does.
    monkeypatch.setenv("EVENT_STORE_URL", "memory://")
    chat_id = body_of(invoke(handler, create_event(http_api_event)))["groupChatId"]
    post = http_api_event(
        "POST",
        "/command/v1/group-chats/post-message",
        headers={"content-type": "application/json"},
        body=json.dumps({"groupChatId": chat_id, "content": "hello", "executorId": ALICE}),
    )

    response = invoke(handler, post)

    assert response["statusCode"] == 201, response


def test_failed_start_is_retried_when_the_next_request_comes(
    handler: ModuleType, http_api_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_STORE_URL", "nosuchscheme://x")
    with pytest.raises(ValueError, match="nosuchscheme"):
        invoke(handler, http_api_event("GET", "/command/v1/healthcheck"))

    monkeypatch.setenv("EVENT_STORE_URL", "memory://")
    response = invoke(handler, http_api_event("GET", "/command/v1/healthcheck"))

    assert response["statusCode"] == 200


def test_spans_are_exported_before_the_handler_returns_when_tracing_is_on(
    handler: ModuleType, http_api_event: EventFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("EVENT_STORE_URL", "memory://")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.traces_endpoint)
        # The batch processor alone would not export for a minute: only the flush can.
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")

        response = invoke(handler, create_event(http_api_event, stage="Stage"))

        assert response["statusCode"] == 201
        spans = receiver.spans
        assert spans, "no span reached the collector before the handler returned"
        server = [s for s in spans if s.kind == "SERVER"]
        assert server
        assert server[0].attributes["http.route"] == "/command/v1/group-chats/create"


def test_importing_the_handler_loads_neither_the_app_nor_its_libraries() -> None:
    code = (
        "import sys, command_service.lambda_handler\n"
        "heavy = ['fastapi', 'mangum', 'boto3', 'botocore', 'strawberry', 'opentelemetry.sdk',\n"
        "         'command_service.app', 'pydantic']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_rest_commands_are_served_without_the_web_framework() -> None:
    # A cold start that serves a command must not import FastAPI, Starlette, Mangum or pydantic:
    # they are the app's, built only for GraphQL, the OpenAPI document and unknown paths.
    code = (
        "import json, sys\n"
        "sys.path.insert(0, '.')\n"
        "from conftest import make_http_api_event\n"
        "from command_service.lambda_handler import handler\n"
        "body = json.dumps({'name': 'team', 'executorId': 'EXECUTOR'})\n"
        "event = make_http_api_event('POST', '/command/v1/group-chats/create', stage='Stage',\n"
        "    headers={'content-type': 'application/json'}, body=body)\n"
        "response = handler(event, None)\n"
        "heavy = ['fastapi', 'starlette', 'mangum', 'pydantic', 'pydantic_settings']\n"
        "print(response['statusCode'], [m for m in heavy if m in sys.modules])\n"
    ).replace("EXECUTOR", ALICE)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "EVENT_STORE_URL": "memory://"},
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    assert result.stdout.strip().splitlines()[-1] == "201 []"
