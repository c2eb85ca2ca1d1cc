"""`http_kit.lazy`: GraphQL routes whose app is built on the first request."""

from __future__ import annotations

from typing import Any

from http_kit.lazy import mount_lazy_graphql
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient


def test_app_is_built_on_the_first_request_only_when_mounted_lazily() -> None:
    builds: list[int] = []

    def build() -> Any:
        builds.append(1)
        return PlainTextResponse("graphql")

    app = Starlette()
    endpoint = mount_lazy_graphql(app, "/svc/graphql", build)
    client = TestClient(app)
    assert not endpoint.loaded

    answers = [client.post(path).text for path in ("/svc/graphql", "/svc/graphql/")]

    assert answers == ["graphql", "graphql"]
    assert len(builds) == 1
    assert app.state.graphql is endpoint
