"""read_model: the read side's SQL schema, migrations and queries.

- `read_model.schema`: the tables (SQLAlchemy Core) and the `UtcTimestamp` type.
- `read_model.queries`: the query functions every query interface uses.
- `create_engine_for(url)` (alias `engine`), `migrate(url)`, `reset(url)`, and
  `ReadModelUnavailableError`, the error that means "answer 503".
"""

from read_model.db import (
    DEFAULT_URL,
    ReadModelUnavailableError,
    create_engine_for,
    normalize_url,
    unavailable_on_database_errors,
)
from read_model.migration import VERSION_TABLE, current_revision, head_revision, migrate, reset

engine = create_engine_for
"""Alias of `create_engine_for`."""

__all__ = [
    "DEFAULT_URL",
    "VERSION_TABLE",
    "ReadModelUnavailableError",
    "create_engine_for",
    "current_revision",
    "engine",
    "head_revision",
    "migrate",
    "normalize_url",
    "reset",
    "unavailable_on_database_errors",
]
