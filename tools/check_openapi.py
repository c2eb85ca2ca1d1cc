"""Validate both services' generated OpenAPI documents (openapi-spec-validator, OpenAPI 3.1).

Usage: ``python tools/check_openapi.py [--write DIR]``. The apps are built with throwaway SQLite
URLs; building an app opens nothing until it serves a request, so no database is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def documents(tmp: Path) -> dict[str, dict[str, Any]]:
    """The OpenAPI document of each service, as its app generates it."""
    from command_service.app import create_app as create_command_app
    from command_service.settings import Settings as CommandSettings
    from query_service.app import create_app as create_query_app
    from query_service.settings import Settings as QuerySettings

    command = create_command_app(CommandSettings(event_store_url=f"sqlite:///{tmp}/events.db"))
    query = create_query_app(QuerySettings(read_model_url=f"sqlite:///{tmp}/read_model.db"))
    return {"command": command.openapi(), "query": query.openapi()}


def main(argv: list[str] | None = None) -> int:
    """Validate the documents; exit 1 naming the first invalid one."""
    from openapi_spec_validator import validate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="also write <service>.openapi.json there")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, document in documents(Path(tmp)).items():
            try:
                validate(document)
            except Exception as exc:
                print(f"{name}: invalid OpenAPI document: {exc}", file=sys.stderr)
                return 1
            paths = len(document.get("paths", {}))
            print(f"{name}: OpenAPI {document['openapi']} valid ({paths} paths)")
            if args.write:
                args.write.mkdir(parents=True, exist_ok=True)
                (args.write / f"{name}.openapi.json").write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
