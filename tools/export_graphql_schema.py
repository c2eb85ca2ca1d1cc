"""Write the GraphQL schemas, as strawberry prints them, to docs/graphql/.

Usage: ``python tools/export_graphql_schema.py [--check]``

- ``docs/graphql/command.graphql``: the write schema (`POST /command/graphql`);
- ``docs/graphql/query.graphql``: the read schema (`POST /query/graphql`).

Run it after changing a GraphQL type, and commit the result: the files are what client teams
read and generate code from. ``--check`` writes nothing, prints the files that are out of date
and exits 1 if any is (the test suite checks the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "graphql"


def _command_schema() -> str:
    from command_service.graphql.schema import create_schema

    return create_schema().as_str()


def _query_schema() -> str:
    from query_service.graphql.schema import create_schema

    return create_schema().as_str()


SCHEMAS: dict[str, Callable[[], str]] = {
    "command.graphql": _command_schema,
    "query.graphql": _query_schema,
}
"""File name in docs/graphql -> the SDL strawberry prints for it."""


def render(name: str) -> str:
    """The expected content of docs/graphql/`name`."""
    return SCHEMAS[name]().rstrip("\n") + "\n"


def stale_files(docs: Path = DOCS) -> list[Path]:
    """The schema files under `docs` that are missing or differ from the code."""
    return [
        docs / name
        for name in SCHEMAS
        if not (docs / name).is_file() or (docs / name).read_text(encoding="utf-8") != render(name)
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the schema files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 when stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date", file=sys.stderr)
        if stale:
            print(
                "regenerate: uv run --no-sync python tools/export_graphql_schema.py",
                file=sys.stderr,
            )
        return 1 if stale else 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (DOCS / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {(DOCS / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
