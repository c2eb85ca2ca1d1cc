"""`http_kit.aws_lambda`: the Lambda handler around an ASGI app, with a tiny app."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from http_kit.aws_lambda import HttpApiHandler, strip_stage


async def echo_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A minimal ASGI app answering with the path it was asked for."""
    body = json.dumps({"path": scope["path"]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_api_event(path: str, stage: str = "$default") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) GET event."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "example.execute-api.us-east-1.amazonaws.com"},
        "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "example",
            "domainName": "example.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": stage,
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1_773_342_238_000,
        },
    }


def test_app_is_built_once_when_the_handler_serves_several_events() -> None:
    builds: list[int] = []

    def build() -> Any:
        builds.append(1)
        return echo_path

    handler = HttpApiHandler(build)

    first = handler(http_api_event("/svc/a"), None)
    second = handler(http_api_event("/svc/b"), None)

    assert [first["statusCode"], second["statusCode"]] == [200, 200]
    assert json.loads(second["body"]) == {"path": "/svc/b"}
    assert len(builds) == 1
    assert handler.built


def test_failed_build_is_retried_when_the_next_event_comes() -> None:
    attempts: list[int] = []

    def build() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database URL is wrong")
        return echo_path

    handler = HttpApiHandler(build)

    with pytest.raises(RuntimeError):
        handler(http_api_event("/svc/a"), None)
    response = handler(http_api_event("/svc/a"), None)

    assert response["statusCode"] == 200
    assert len(attempts) == 2


def test_app_sees_the_path_without_the_stage_when_invoked_on_a_named_stage() -> None:
    handler = HttpApiHandler(lambda: echo_path)

    response = handler(http_api_event("/Stage/svc/v1/healthcheck", stage="Stage"), None)

    assert json.loads(response["body"]) == {"path": "/svc/v1/healthcheck"}


def test_app_is_built_again_when_reset() -> None:
    builds: list[int] = []
    handler = HttpApiHandler(lambda: builds.append(1) or echo_path)
    handler(http_api_event("/svc/a"), None)

    handler.reset()
    handler(http_api_event("/svc/a"), None)

    assert len(builds) == 2


def test_stage_prefix_is_only_stripped_as_a_whole_segment() -> None:
    event = {
        "rawPath": "/Stagecoach/command/x",
        "requestContext": {"stage": "Stage", "http": {"path": "/Stagecoach/command/x"}},
    }

    assert strip_stage(event) == event
    assert (
        strip_stage(
            {"rawPath": "/Stage", "requestContext": {"stage": "Stage", "http": {"path": "/Stage"}}}
        )["rawPath"]
        == "/"
    )


def test_collector_is_off_during_the_first_invocation_and_back_on_after_it() -> None:
    seen: list[bool] = []

    def build() -> Any:
        seen.append(gc.isenabled())
        return echo_path

    handler = HttpApiHandler(build)
    assert gc.isenabled()
    handler(http_api_event("/x"), None)

    assert seen == [False]
    assert gc.isenabled()


def test_collector_is_back_on_after_a_failed_first_invocation() -> None:
    def build() -> Any:
        raise RuntimeError("cannot build")

    handler = HttpApiHandler(build)
    with pytest.raises(RuntimeError):
        handler(http_api_event("/x"), None)

    assert gc.isenabled()
