"""Engines for the read model's database, and the error that means "the database is unavailable".

Supported URLs:

- `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (and `sqlite://` in memory):
  every connection gets WAL journaling, a busy timeout and enforced foreign keys;
- `postgresql://…` or `postgres://…` (mapped to the psycopg 3 driver, `postgresql+psycopg://`),
  or an explicit `postgresql+psycopg://…`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

DEFAULT_URL: Final = "sqlite:///var/read_model.db"
"""The laptop default: a SQLite file under `./var`."""

SQLITE_BUSY_TIMEOUT_MS: Final = 5_000
"""How long a SQLite connection waits for another writer before giving up."""

POSTGRES_CONNECT_TIMEOUT_S: Final = 5
"""Fail fast (and answer 503) when PostgreSQL does not answer, instead of hanging a request."""


class ReadModelUnavailableError(Exception):
    """The read model's database cannot be reached or used right now (the edge answers 503).

    Raised instead of the driver's error for connection failures, timeouts, a locked or missing
    database, and a schema that has not been migrated yet: none of them is the caller's fault and
    all of them may pass. The original error is chained as `__cause__`.
    """


# PostgreSQL SQLSTATEs that mean "not migrated yet" rather than "bad query".
_UNDEFINED_TABLE: Final = "42P01"
_UNDEFINED_COLUMN: Final = "42703"


def _is_unavailable(error: exc.DBAPIError) -> bool:
    if isinstance(error, exc.OperationalError | exc.InterfaceError) or error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in (_UNDEFINED_TABLE, _UNDEFINED_COLUMN)


@contextmanager
def unavailable_on_database_errors() -> Iterator[None]:
    """Translate "the database is down / locked / not migrated" into `ReadModelUnavailableError`.

    Other database errors (a bug in a query, a constraint violation) pass through unchanged.
    """
    try:
        yield
    except exc.DBAPIError as error:
        if _is_unavailable(error):
            raise ReadModelUnavailableError(
                f"the read model's database is unavailable: {type(error.orig).__name__}"
            ) from error
        raise
    except exc.TimeoutError as error:  # the connection pool is exhausted
        raise ReadModelUnavailableError(
            "the read model's database is unavailable: no free connection"
        ) from error


def normalize_url(url: str | URL) -> URL:
    """The SQLAlchemy URL for a read-model URL; raises `ValueError` for unsupported databases."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"unsupported PostgreSQL driver {driver!r}: use psycopg (3)")
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"unsupported SQLite driver {driver!r}")
        return parsed
    raise ValueError(
        f"unsupported read-model URL {parsed.render_as_string(hide_password=True)!r}: "
        "expected sqlite:///path or postgresql://…"
    )


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the query service read while the updater writes; NORMAL is durable in WAL
        # mode up to the last checkpointed commit and much faster than FULL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_engine_for(
    url: str | URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    echo: bool = False,
) -> Engine:
    """A SQLAlchemy engine for the read model at `url` (see the module docstring for URLs).

    PostgreSQL connections are checked before use (`pool_pre_ping`), so a restarted database
    costs one failed ping, not a failed request. SQLite connections are not: a local file cannot
    go away under an open connection, and the ping (`SELECT 1`, which reads nothing of the file)
    cost ~5 us of CPU per checkout, i.e. per query and per updater poll. For a SQLite file the
    parent directory is created. Creating the engine does not connect.
    """
    sa_url = normalize_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url, echo=echo)
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(
        sa_url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
        echo=echo,
    )
