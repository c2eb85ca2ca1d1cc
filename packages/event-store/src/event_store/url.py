"""Pick and open an event store backend from a URL (the composition root's one entry point)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

from event_store._types import DEFAULT_SNAPSHOT_INTERVAL, EventStore

_FORMATS = (
    "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "postgresql://user@host:5432/db (or postgres://), "
    "dynamodb://<journal_table>?snapshot_table=…&endpoint_url=…&region=…&shard_count=…"
)


def open_event_store(url: str, *, snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL) -> EventStore:
    """Open the event store `url` names; drivers are imported only for the backend chosen.

    - `memory://`: in-process, nothing persists.
    - `sqlite:///relative/path.db` or `sqlite:////absolute/path.db`: a SQLite file; missing parent
      directories are created.
    - `postgresql://…` or `postgres://…` (a libpq URL, passed on as is; `postgresql+psycopg://`
      is accepted too).
    - `dynamodb://<journal_table>?snapshot_table=<t>&endpoint_url=…&region=…&shard_count=64`.

    SQL schemas are created or migrated on opening. Raises `ValueError` for an unknown scheme or a
    malformed URL, `EventStoreUnavailableError` when the backend cannot be reached.
    """
    scheme, _, _ = url.partition("://")
    scheme = scheme.lower()
    if scheme == "memory":
        from event_store.memory import InMemoryEventStore

        if url.lower() != "memory://":
            raise ValueError(f"a memory:// URL takes no host, path or options: {url!r}")
        return InMemoryEventStore(snapshot_interval)
    if scheme == "sqlite":
        from event_store.sqlite import SqliteEventStore

        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteEventStore(path, snapshot_interval)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from event_store.postgres import PostgresEventStore

        if scheme == "postgresql+psycopg":
            url = "postgresql://" + url.partition("://")[2]
        return PostgresEventStore(url, snapshot_interval)
    if scheme == "dynamodb":
        # Imported by name: boto3 is heavy and optional, and only the AWS deployment needs it.
        dynamodb = importlib.import_module("event_store.dynamodb")
        store = dynamodb.DynamoDBEventStore.from_url(url, snapshot_interval=snapshot_interval)
        return cast(EventStore, store)
    raise ValueError(f"unknown event store URL {_redacted(url)!r}; expected one of: {_FORMATS}")


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///relative` or `sqlite:////absolute` URL names."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite" or parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"expected sqlite:///relative/path.db or sqlite:////absolute/path.db, got {url!r}"
        )
    # The third slash separates the (empty) host from the path: what follows it is the path.
    path = unquote(parts.path)[1:]
    if not path or path.endswith("/") or path == ":memory:":
        raise ValueError(f"a sqlite:// URL must name a database file, got {url!r}")
    return Path(path)


def _redacted(url: str) -> str:
    # Unknown URLs may still carry a password; keep it out of error messages and logs.
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
