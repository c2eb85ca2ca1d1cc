"""strawberry is imported by the first GraphQL request, never by the REST-only path.

Each check runs in a fresh interpreter, since this test process has long imported strawberry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import json, sys
from fastapi.testclient import TestClient

service, database = sys.argv[1], sys.argv[2]
if service == "command":
    from command_service.app import create_app
    from command_service.settings import Settings
    app = create_app(Settings(event_store_url="memory://"))
    base, rest = "/command", "/command/v1/healthcheck"
else:
    from query_service.app import create_app
    from query_service.settings import Settings
    app = create_app(Settings(read_model_url="sqlite:///" + database))
    base, rest = "/query", "/query/healthcheck"

def loaded():
    return sorted(name for name in ("strawberry", "graphql") if name in sys.modules)

seen = {"after_import": loaded()}
with TestClient(app) as client:
    assert client.get(rest).status_code == 200
    assert client.get(base + "/openapi.json").status_code == 200
    seen["after_rest"] = loaded()
    response = client.post(base + "/graphql", json={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}, response.text
    seen["after_graphql"] = loaded()
print(json.dumps(seen))
"""


@pytest.mark.parametrize("service", ["command", "query"])
def test_strawberry_is_not_imported_until_the_first_graphql_request_when_serving_rest(
    service: str, tmp_path: Path
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, service, str(tmp_path / "read_model.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen == {
        "after_import": [],
        "after_rest": [],
        "after_graphql": ["graphql", "strawberry"],
    }
