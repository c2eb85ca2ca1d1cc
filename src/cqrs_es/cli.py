"""`cqrs-es`: one console script for every process the project runs.

Each sub-command lives in its own module and is imported only when it is run, so that
`cqrs-es --version` (and every other sub-command) pays only for what it uses.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, help). The module defines `configure(parser)` and `run(args) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("cqrs_es.migrate", "create or upgrade the read model's tables (idempotent)"),
    "command": ("cqrs_es.command", "run the command service (REST over the event store)"),
    "query": ("cqrs_es.query", "run the query service (REST over the read model)"),
    "dev": ("cqrs_es.dev", "run command, query and updater locally on SQLite files"),
    "updater": ("cqrs_es.updater", "run the read-model updater (tails the SQL event store)"),
    "rebuild-read-model": (
        "cqrs_es.rebuild_read_model",
        "drop the read model and replay the whole journal into it (or only --aggregate chats)",
    ),
    "create-dynamodb-tables": (
        "cqrs_es.create_dynamodb_tables",
        "create the DynamoDB journal and snapshot tables of EVENT_STORE_URL (idempotent)",
    ),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the `selected` sub-command's module is imported."""
    from cqrs_es import __version__

    parser = argparse.ArgumentParser(
        prog="cqrs-es",
        description="CQRS + Event Sourcing group-chat service.",
    )
    parser.add_argument("--version", action="version", version=f"cqrs-es {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        # Options are declared by the module itself, imported only for its own --help or run.
        if name == selected:
            importlib.import_module(module).configure(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cqrs-es` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    run: Callable[[argparse.Namespace], int] = importlib.import_module(args._module).run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
