"""The query service's Lambda handler, invoked with API Gateway HTTP API (2.0) events.

The events have the shape AWS documents (see `make_http_api_event` in the root conftest); the
app behind the handler is the real one, configured from the environment as on Lambda, over a
migrated read model (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from query_service import lambda_handler
from read_model import create_engine_for
from read_model.testing import ReadModelSeeder
from telemetry.testing import reset_telemetry

EventFactory = Callable[..., dict[str, Any]]


class LambdaContext:
    """The attributes of the Lambda context object that code may read."""

    function_name = "QueryFunction"
    aws_request_id = "d7bf0bd7-8c72-22f7-0b52-04f923456789"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


@pytest.fixture
def handler(read_model_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The handler module of a fresh execution environment, READ_MODEL_URL set as on Lambda."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READ_MODEL_URL", read_model_url)
    lambda_handler.reset()
    yield lambda_handler
    lambda_handler.reset()
    reset_telemetry()


@pytest.fixture
def seeder(read_model_url: str) -> Iterator[ReadModelSeeder]:
    engine = create_engine_for(read_model_url)
    yield ReadModelSeeder(engine)
    engine.dispose()


def invoke(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = handler.handler(event, LambdaContext())
    return response


@pytest.mark.parametrize("stage", ["$default", "Stage"])
def test_healthcheck_answers_ok_on_the_default_and_a_named_stage(
    handler: ModuleType, http_api_event: EventFactory, stage: str
) -> None:
    response = invoke(handler, http_api_event("GET", "/query/v1/healthcheck", stage=stage))

    assert response["statusCode"] == 200
    assert response["body"] == "OK"


def test_group_chats_are_listed_when_the_query_string_names_a_member(
    handler: ModuleType, http_api_event: EventFactory, seeder: ReadModelSeeder
) -> None:
    alice = seeder.user()
    chat = seeder.group_chat(alice, "developers")
    event = http_api_event(
        "GET", "/query/v1/group-chats", stage="Stage", query=f"userAccountId={alice}"
    )

    response = invoke(handler, event)

    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"] == "application/json"
    chats = json.loads(response["body"])
    assert [(c["id"], c["name"]) for c in chats] == [(chat, "developers")]


def test_missing_caller_answers_400_problem_when_listing(
    handler: ModuleType, http_api_event: EventFactory
) -> None:
    response = invoke(handler, http_api_event("GET", "/query/v1/group-chats", stage="Stage"))

    assert response["statusCode"] == 400
    assert response["headers"]["content-type"] == "application/problem+json"
    assert json.loads(response["body"])["status"] == 400


def test_unknown_group_chat_answers_404_problem_when_read(
    handler: ModuleType, http_api_event: EventFactory, seeder: ReadModelSeeder
) -> None:
    alice = seeder.user()
    event = http_api_event(
        "GET",
        "/query/v1/group-chats/GroupChat-01H42K4ABWQ5V2XQEP3A48VE9Z",
        query=f"userAccountId={alice}",
    )

    response = invoke(handler, event)

    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/problem+json"


def test_graphql_answers_typename_when_posted_through_the_stage(
    handler: ModuleType, http_api_event: EventFactory
) -> None:
    event = http_api_event(
        "POST",
        "/query/graphql",
        stage="Stage",
        headers={"content-type": "application/json"},
        body=json.dumps({"query": "{ __typename }"}),
    )

    response = invoke(handler, event)

    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"data": {"__typename": "Query"}}


def test_importing_the_handler_loads_neither_the_app_nor_its_libraries() -> None:
    code = (
        "import sys, query_service.lambda_handler\n"
        "heavy = ['fastapi', 'mangum', 'sqlalchemy', 'psycopg', 'strawberry',\n"
        "         'opentelemetry.sdk', 'query_service.app', 'read_model', 'pydantic']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_rest_reads_are_served_without_loading_fastapi_pydantic_or_mangum(
    read_model_url: str, seeder: ReadModelSeeder, http_api_event: EventFactory
) -> None:
    alice = seeder.user()
    seeder.group_chat(alice, "developers")
    event = http_api_event(
        "GET", "/query/v1/group-chats", stage="Stage", query=f"userAccountId={alice}"
    )
    code = (
        "import json, sys\n"
        "from query_service.lambda_handler import handler\n"
        "response = handler(json.loads(sys.stdin.read()), None)\n"
        "heavy = ['fastapi', 'starlette', 'mangum', 'pydantic', 'pydantic_settings',\n"
        "         'strawberry', 'query_service.app']\n"
        "print(json.dumps([response['statusCode'], [m for m in heavy if m in sys.modules],\n"
        "                  handler.built]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**env, "READ_MODEL_URL": read_model_url},
    )

    assert json.loads(result.stdout.strip().splitlines()[-1]) == [200, [], False]


def test_graphql_after_a_rest_read_builds_the_app_over_the_same_engine(
    handler: ModuleType, http_api_event: EventFactory, seeder: ReadModelSeeder
) -> None:
    alice = seeder.user()
    rest_event = http_api_event("GET", "/query/v1/group-chats", query=f"userAccountId={alice}")
    graphql_event = http_api_event(
        "POST",
        "/query/graphql",
        headers={"content-type": "application/json"},
        body=json.dumps({"query": "{ __typename }"}),
    )

    assert invoke(handler, rest_event)["statusCode"] == 200
    assert not handler.handler.built
    assert invoke(handler, graphql_event)["statusCode"] == 200

    app = handler.handler._adapter.app  # Mangum's app
    assert app.state.engine is handler._shared_runtime().engine


def test_a_failed_start_is_not_cached_when_the_environment_is_fixed(
    handler: ModuleType,
    http_api_event: EventFactory,
    read_model_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = http_api_event("GET", "/query/v1/healthcheck")
    monkeypatch.setenv("PAGE_SIZE_DEFAULT", "500")  # over PAGE_SIZE_MAX

    with pytest.raises(ValueError, match="PAGE_SIZE_DEFAULT"):
        invoke(handler, event)
    monkeypatch.delenv("PAGE_SIZE_DEFAULT")

    assert invoke(handler, event)["statusCode"] == 200


def test_reads_answer_503_with_retry_after_when_the_read_model_is_not_migrated(
    http_api_event: EventFactory, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("READ_MODEL_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    lambda_handler.reset()
    event = http_api_event(
        "GET", "/query/v1/group-chats", query="userAccountId=01JDQ4Z5V8X9Y0A1B2C3D4E5F6"
    )
    try:
        response = invoke(lambda_handler, event)
    finally:
        lambda_handler.reset()
        reset_telemetry()

    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "1"
    assert json.loads(response["body"])["code"] == "service_unavailable"
