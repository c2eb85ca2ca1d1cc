"""Importing `http_kit` and its light modules must not import the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = [
    "fastapi",
    "starlette",
    "mangum",
    "strawberry",
    "opentelemetry",
    "pydantic",
    "graphql",
]


def imported_heavy_modules(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint([m for m in {HEAVY!r} if m in sys.modules])\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return eval(result.stdout)  # a list literal printed by the child


def test_nothing_heavy_is_imported_when_the_light_modules_are() -> None:
    statement = (
        "import http_kit, http_kit.aws_lambda, http_kit.lambda_http, http_kit.problems, "
        "http_kit.limits, http_kit.graphql_errors, http_kit.settings"
    )

    assert imported_heavy_modules(statement) == []


def test_lazy_graphql_routes_import_only_starlettes_helpers() -> None:
    assert imported_heavy_modules("import http_kit.lazy") == ["starlette"]
