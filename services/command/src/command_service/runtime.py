"""What the command service runs on, built once per process: settings, store, handler, auth.

Framework-free on purpose: the FastAPI app (`command_service.app.create_app`) and the Lambda fast
path (`command_service.lambda_routes`) are both built on one `Runtime`, so that in a Lambda
execution environment they share one event store, one `CommandHandler` (and its aggregate
cache) and one telemetry configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import telemetry
from auth import Authenticator, AuthSettings
from event_store import EventStore, open_event_store

from command_service.authentication import authenticator_for
from command_service.handlers import CommandHandler
from command_service.settings import Settings

__all__ = ["SERVICE_NAME", "Runtime", "build_runtime", "open_store"]

SERVICE_NAME = "command-service"
"""Service name of traces and logs (`OTEL_SERVICE_NAME` overrides it)."""


def open_store(settings: Settings) -> EventStore:
    """The event store `settings.event_store_url` names (the composition root's one choice)."""
    return open_event_store(settings.event_store_url, snapshot_interval=settings.snapshot_interval)


@dataclass(frozen=True, slots=True)
class Runtime:
    """The service's long-lived objects. `owns_store`: whether closing the store is ours."""

    settings: Settings
    event_store: EventStore
    command_handler: CommandHandler
    authenticator: Authenticator
    owns_store: bool

    def close(self) -> None:
        """Close the event store if this runtime opened it."""
        if self.owns_store:
            self.event_store.close()


def build_runtime(
    settings: Settings | None = None,
    *,
    event_store: EventStore | None = None,
    auth: AuthSettings | None = None,
) -> Runtime:
    """Configure telemetry and build the runtime.

    `settings` default to `Settings()` (the environment), `auth` to `AuthSettings.from_env()`.
    The event store is opened from `settings.event_store_url` unless `event_store` is given
    (then the caller owns it). Raises `ValueError` for a malformed setting and
    `EventStoreUnavailableError` when the store cannot be reached.
    """
    settings = settings or Settings()
    authenticator = authenticator_for(auth if auth is not None else AuthSettings.from_env())
    telemetry.configure(SERVICE_NAME)
    store = open_store(settings) if event_store is None else event_store
    handler = CommandHandler(
        store,
        max_retries=settings.command_max_retries,
        limits=settings.limits,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        aggregate_cache_size=settings.aggregate_cache_size,
    )
    return Runtime(settings, store, handler, authenticator, owns_store=event_store is None)
