"""Command handling: load the group chat, decide, append, retrying when a concurrent writer wins.

Framework-free on purpose: the REST app, the GraphQL mutations and the Lambda handler all run
commands through the same `CommandHandler`.

    handler = CommandHandler(store, max_retries=3, aggregate_cache_size=1024)
    command = PostMessage.parse(group_chat_id=..., content=..., executor_id=...)  # 400s
    result = handler.handle(command)  # DomainError (404/409/422), CommandConflictError (409),
                                      # EventStoreUnavailableError (503)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

import telemetry
from chat_domain import (
    Command,
    DecodeError,
    DomainError,
    Event,
    EventId,
    EventSequenceError,
    GroupChat,
    GroupChatId,
    IdGenerator,
    Limits,
    decide,
    decode,
    decode_state,
    encode,
    encode_state,
    evolve,
    new_ulid,
)
from event_store import (
    ConcurrencyError,
    DuplicateIdempotencyKeyError,
    EventStore,
    IdempotencyRecord,
    NewEvent,
    StoredEvent,
)
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from command_service.aggregate_cache import DEFAULT_AGGREGATE_CACHE_SIZE, AggregateCache
from command_service.idempotency import (
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    CommandResponse,
    IdempotencyInProgressError,
    IdempotencyKey,
    IdempotencyKeyReusedError,
    response_for,
)

__all__ = [
    "CommandConflictError",
    "CommandHandler",
    "CommandResult",
    "GroupChatRepository",
    "LoadedGroupChat",
    "default_backoff",
]

_log = logging.getLogger(__name__)
_tracer = telemetry.get_tracer(__name__)

DEFAULT_MAX_RETRIES = 3


# While tracing is off, no span is started at all: even the API's no-op spans cost tens of
# microseconds per command (a context attached and detached, generator context managers), as
# much as everything else the handler does. Attributes set on this span go nowhere.
_UNTRACED: AbstractContextManager[Span] = nullcontext(INVALID_SPAN)


def _command_span(name: str, aggregate_id: str) -> AbstractContextManager[Span]:
    """The span of one command, `command <name>` (a no-op span while tracing is off)."""
    if not telemetry.tracing_enabled():
        return _UNTRACED
    return _tracer.start_as_current_span(
        f"command {name}",
        attributes={"command.name": name, "aggregate.id": aggregate_id},
    )


def _store_call(
    operation: str, store: EventStore, aggregate_id: str
) -> AbstractContextManager[Span]:
    """A client span around one event store call (a no-op span while tracing is off)."""
    if not telemetry.tracing_enabled():
        return _UNTRACED
    return _traced_store_call(operation, store, aggregate_id)


@contextmanager
def _traced_store_call(operation: str, store: EventStore, aggregate_id: str) -> Iterator[Span]:
    """A client span around one event store call, named `event_store <operation>`.

    The event store package knows nothing of telemetry (an import contract), so its calls are
    traced here, where the command service makes them. A lost optimistic-concurrency race is an
    expected outcome that the handler retries: it is recorded as `event_store.conflict`, not as
    an error; any other exception marks the span as failed.
    """
    with _tracer.start_as_current_span(
        f"event_store {operation}",
        kind=SpanKind.CLIENT,
        attributes={
            "event_store.operation": operation,
            "event_store.backend": type(store).__name__,
            "aggregate.id": aggregate_id,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except ConcurrencyError as exc:
            span.set_attribute("event_store.conflict", True)
            if exc.actual_version is not None:
                span.set_attribute("event_store.actual_version", exc.actual_version)
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


class CommandConflictError(Exception):
    """The command kept losing the race against concurrent writers of the same group chat.

    Raised after the handler's bounded retries; the client may simply send the command again.
    `code` and `status` are the edge's problem code and HTTP status, as on `DomainError`.
    """

    code = "conflict"
    status = 409

    def __init__(self, group_chat_id: GroupChatId, attempts: int) -> None:
        self.group_chat_id = group_chat_id
        self.attempts = attempts
        self.message = (
            f"{group_chat_id} was modified concurrently {attempts} times in a row; "
            "retry the request"
        )
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class LoadedGroupChat:
    """A group chat as loaded: its state (None if it does not exist) and its stream version.

    `version` is the `expected_version` of the next append (0 for a chat with no events).
    """

    group_chat_id: GroupChatId
    state: GroupChat | None
    version: int


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a handled command did: the events it appended and the resulting state/version."""

    group_chat_id: GroupChatId
    events: tuple[Event, ...]
    state: GroupChat
    version: int


class GroupChatRepository:
    """Loads and saves `GroupChat`s in an `EventStore` (the aggregate id is the prefixed id).

    Loading starts from the latest snapshot when there is one and it decodes; a snapshot that
    does not decode (written by an older state format, or damaged) is only a cache, so the state
    is then rebuilt from the whole history, and the next due snapshot replaces it.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store

    @property
    def store(self) -> EventStore:
        """The event store this repository reads and writes."""
        return self._store

    def load(self, group_chat_id: GroupChatId) -> LoadedGroupChat:
        """The current state of `group_chat_id` and its version.

        Raises `EventStoreUnavailableError` when the store cannot be reached, and
        `DecodeError` / `EventSequenceError` when stored events are unusable (server faults).
        """
        aggregate_id = str(group_chat_id)
        with _store_call("load", self._store, aggregate_id) as span:
            stream = self._store.load(aggregate_id)
            _record_loaded(span, stream.version, len(stream.events), stream.snapshot is not None)
        state: GroupChat | None = None
        events: Sequence[StoredEvent] = stream.events
        if stream.snapshot is not None:
            try:
                state = decode_state(stream.snapshot.payload)
                if state.id != group_chat_id or state.version != stream.snapshot.seq_nr:
                    raise DecodeError(
                        f"snapshot of {aggregate_id} at seq_nr {stream.snapshot.seq_nr} holds "
                        f"the state of {state.id} at version {state.version}"
                    )
            except DecodeError as exc:
                _log.warning(
                    "snapshot of %s is unusable (%s); rebuilding from all events",
                    aggregate_id,
                    exc,
                    extra={"aggregate_id": aggregate_id},
                )
                state = None
                with _store_call("load", self._store, aggregate_id) as span:
                    span.set_attribute("event_store.use_snapshot", False)
                    full = self._store.load(aggregate_id, use_snapshot=False)
                    _record_loaded(span, full.version, len(full.events), False)
                events = full.events
        for stored in events:
            try:
                state = evolve(state, decode(stored.event_type, None, stored.payload))
            except (DecodeError, EventSequenceError) as exc:
                # Name the stored event, so an operator can find it (the domain cannot know).
                raise type(exc)(
                    f"stored event {aggregate_id} seq_nr {stored.seq_nr} "
                    f"({stored.event_type!r}, event id {stored.event_id}): {exc}"
                ) from exc
        version = 0 if state is None else state.version
        if version != stream.version:
            raise EventSequenceError(
                f"{aggregate_id}: the events fold to version {version}, "
                f"but the store is at version {stream.version}"
            )
        return LoadedGroupChat(group_chat_id, state, version)

    def save(
        self,
        group_chat_id: GroupChatId,
        expected_version: int,
        events: Sequence[Event],
        state: GroupChat,
        metadata: Mapping[str, str] | None = None,
        idempotency: IdempotencyRecord | None = None,
    ) -> int:
        """Append `events` if the chat is still at `expected_version`; return the new version.

        `state` is the state after the events: it becomes the snapshot when one is due (the
        store decides). `idempotency` is recorded in the same transaction. Raises
        `ConcurrencyError` when another writer appended first, `DuplicateIdempotencyKeyError`
        when another request recorded the key first.
        """
        new_events = [
            NewEvent(
                event_id=encoded.event_id,
                event_type=encoded.type_name,
                payload=encoded.payload,
                occurred_at_ms=encoded.occurred_at_ms,
                metadata=dict(metadata or {}),
            )
            for encoded in map(encode, events)
        ]
        aggregate_id = str(group_chat_id)
        snapshot = lambda: encode_state(state)  # noqa: E731 - called only when one is due
        if not telemetry.tracing_enabled():  # no span to fill in (see `_UNTRACED`)
            return self._append(aggregate_id, expected_version, new_events, snapshot, idempotency)
        with _traced_store_call("append", self._store, aggregate_id) as span:
            span.set_attribute("event_store.expected_version", expected_version)
            span.set_attribute("event_store.event_count", len(new_events))
            version = self._append(
                aggregate_id, expected_version, new_events, snapshot, idempotency
            )
            span.set_attribute("event_store.version", version)
        return version

    def _append(
        self,
        aggregate_id: str,
        expected_version: int,
        new_events: list[NewEvent],
        snapshot: Callable[[], bytes],
        idempotency: IdempotencyRecord | None,
    ) -> int:
        if idempotency is None:
            return self._store.append(aggregate_id, expected_version, new_events, snapshot)
        return self._store.append(
            aggregate_id, expected_version, new_events, snapshot, idempotency=idempotency
        )

    def find_idempotency(self, group_chat_id: GroupChatId, key: str) -> IdempotencyRecord | None:
        """The unexpired idempotency record under `key` (a consistent read), or None."""
        with _store_call("get_idempotency", self._store, str(group_chat_id)) as span:
            record = self._store.get_idempotency(key)
            span.set_attribute("event_store.idempotency_found", record is not None)
        return record


def _record_loaded(span: Span, version: int, event_count: int, from_snapshot: bool) -> None:
    span.set_attribute("event_store.version", version)
    span.set_attribute("event_store.event_count", event_count)
    span.set_attribute("event_store.from_snapshot", from_snapshot)


def default_backoff(retry: int) -> float:
    """Seconds to wait before retry number `retry` (1, 2, …): exponential with full jitter.

    Jitter spreads out writers that just collided, so that they do not collide again.
    """
    return random.uniform(0.0, min(0.1, 0.002 * 2**retry))


def _client_key_of(scoped: str) -> str:
    # `<executor>/<Command>/<client key>`: neither of the first two contains a `/`.
    return scoped.split("/", 2)[-1]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _StaleCachedStateError(Exception):
    """The command failed on a cached state that may be stale: run it again on a fresh load."""


class CommandHandler:
    """Runs commands against the event store: load → decide → append with the expected version.

    When the append loses a race (`ConcurrencyError`), the whole load → decide → append runs
    again, at most `max_retries` more times, since the command may no longer be valid on the
    new state (it is decided again, never blindly re-appended). After that it raises
    `CommandConflictError`. Domain errors (`DomainError`: 404/409/422) propagate unchanged.
    `limits` bounds the size of a chat (passed to `decide`).

    `execute` runs a command idempotently when given an `IdempotencyKey` (see
    `command_service.idempotency`): every attempt first looks the key up, and the response is
    recorded with the event for `idempotency_ttl_seconds`.

    Thread-safe: it holds no per-command state, so one instance serves every request.
    Commands on the same chat within one process take turns (a striped lock), so that
    concurrent requests to a busy chat queue up instead of losing the append race over and
    over; retries then only settle races between processes (several servers or Lambdas).

    With `aggregate_cache_size` > 0 the handler keeps the state each command leaves behind for
    that many chats (`command_service.aggregate_cache`) and skips the load when the next
    command on a chat finds it there. Correct with several processes writing: the append
    carries the cached version as its expected version, so when another process wrote in
    between it fails, the entry is dropped and the command runs again on a fresh load, right
    away and without using up one of the `max_retries` (a stale cache is not contention). A
    command refused on a cached state is likewise decided again on a fresh load before it is
    refused. The idempotency key is still looked up before every decision.
    """

    LOCK_STRIPES = 256

    def __init__(
        self,
        store: EventStore,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        generator: IdGenerator = new_ulid,
        clock: Callable[[], datetime] = _utc_now,
        backoff: Callable[[int], float] = default_backoff,
        sleep: Callable[[float], None] = time.sleep,
        limits: Limits | None = None,
        idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        aggregate_cache_size: int = DEFAULT_AGGREGATE_CACHE_SIZE,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if idempotency_ttl_seconds < 1:
            raise ValueError("idempotency_ttl_seconds must be >= 1")
        if aggregate_cache_size < 0:
            raise ValueError("aggregate_cache_size must be >= 0")
        self.repository = GroupChatRepository(store)
        self.max_retries = max_retries
        self.limits = limits if limits is not None else Limits()
        self.idempotency_ttl_seconds = idempotency_ttl_seconds
        self.generator = generator
        """Source of new ids (events here; chats, members and messages in `X.parse`)."""
        self._clock = clock
        self._backoff = backoff
        self._sleep = sleep
        self._locks = tuple(threading.Lock() for _ in range(self.LOCK_STRIPES))
        self._cache = AggregateCache(aggregate_cache_size) if aggregate_cache_size > 0 else None

    @property
    def cache(self) -> AggregateCache | None:
        """The states kept between commands, or None when caching is off (size 0)."""
        return self._cache

    def _lock_for(self, aggregate_id: str) -> threading.Lock:
        # Stripes keep memory bounded whatever the number of chats; two chats sharing a
        # stripe only wait for each other, which is harmless. The string's hash is cached in
        # it (and salted per process, which only matters within this one).
        return self._locks[hash(aggregate_id) % self.LOCK_STRIPES]

    def handle(self, command: Command) -> CommandResult:
        """Run `command`; return what it appended.

        Raises `DomainError` (the command is refused), `CommandConflictError` (still
        conflicting after the retries) or `EventStoreUnavailableError` (retry later).
        """
        outcome = self._run(command, None)
        assert isinstance(outcome, CommandResult)  # no key, so never a recorded response
        return outcome

    def execute(
        self, command: Command, *, idempotency: IdempotencyKey | None = None
    ) -> CommandResponse:
        """Run `command` and return the API's answer (`response_for(command)`).

        With `idempotency`, a request already recorded under the key is not run again: its
        recorded response comes back (`replayed=True`), or `IdempotencyKeyReusedError` when
        the recorded request differs (another fingerprint). Otherwise the command runs and its
        response is recorded with its event. Raises what `handle` raises, and
        `IdempotencyInProgressError` when a concurrent request holds the key and its outcome
        cannot be read yet.
        """
        response = response_for(command)
        if idempotency is None:
            self._run(command, None)  # what `handle` does, one call less per request
            return response
        record = IdempotencyRecord(
            key=idempotency.scoped,
            fingerprint=idempotency.fingerprint,
            response=response.to_bytes(),
            expires_at=int(self._clock().timestamp()) + self.idempotency_ttl_seconds,
        )
        outcome = self._run(command, record)
        if isinstance(outcome, CommandResult):
            return response
        if outcome.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReusedError(idempotency.client_key)
        return CommandResponse.from_bytes(outcome.response)

    def _run(
        self, command: Command, record: IdempotencyRecord | None
    ) -> CommandResult | IdempotencyRecord:
        """The retry loop: a `CommandResult`, or the record already stored under the key."""
        name = type(command).__name__
        aggregate_id = str(command.group_chat_id)
        refused: DomainError | CommandConflictError | IdempotencyInProgressError | None = None
        retries = 0
        # A refused command is the caller's problem, not a failed span: it is recorded as an
        # attribute and raised after the span ends, so that only server faults mark it as error.
        with _command_span(name, aggregate_id) as span:
            if record is not None:
                span.set_attribute("command.idempotent", True)
            lock = self._lock_for(aggregate_id)
            lock.acquire()
            try:
                while True:
                    try:
                        # Looked up on every attempt: the request that beat this one to the
                        # aggregate (or to the key) may be this request's own earlier copy.
                        if record is not None:
                            found = self.repository.find_idempotency(
                                command.group_chat_id, record.key
                            )
                            if found is not None:
                                span.set_attribute("command.idempotency_replayed", True)
                                return found
                        result = self._attempt(command, record, span)
                        break
                    except _StaleCachedStateError:
                        # The entry is gone (taken by the attempt): this time the chat is
                        # loaded, so this happens at most once per command.
                        span.set_attribute("command.stale_cache", True)
                        continue
                    except (ConcurrencyError, DuplicateIdempotencyKeyError):
                        if retries >= self.max_retries:
                            raise
                        retries += 1
                        delay = self._backoff(retries)
                        if delay > 0:
                            self._sleep(delay)
                span.set_attribute("aggregate.seq_nr", result.version)
            except ConcurrencyError as exc:
                refused = CommandConflictError(command.group_chat_id, retries + 1)
                refused.__cause__ = exc
                _log.warning("%s on %s: %s", name, aggregate_id, refused.message)
            except DuplicateIdempotencyKeyError as exc:
                # Another request recorded the key, yet the record cannot be read (expired in
                # between, or on a store whose reads lag): its outcome is unknown here.
                refused = IdempotencyInProgressError(_client_key_of(exc.key))
                refused.__cause__ = exc
                _log.warning("%s on %s: %s", name, aggregate_id, refused.message)
            except DomainError as exc:
                refused = exc
            finally:
                lock.release()
                span.set_attribute("command.conflict_retries", retries)
            if refused is not None:
                span.set_attribute("command.error_code", str(refused.code))
        if refused is not None:
            raise refused
        return result

    def _attempt(
        self, command: Command, record: IdempotencyRecord | None, span: Span
    ) -> CommandResult:
        """One load (or cached state) → decide → append; `_StaleCachedStateError`: go again.

        Runs under the chat's lock, so no other command of this handler touches the chat's
        cache entry meanwhile. The entry is taken out for the attempt and only a state the
        store confirmed goes back: loaded, or after a successful append.
        """
        chat_id = command.group_chat_id
        cached = None if self._cache is None else self._cache.take(chat_id)
        span.set_attribute("command.cached_state", cached is not None)
        current: GroupChat | None
        if cached is not None:
            current, expected_version = cached, cached.version
        else:
            loaded = self.repository.load(chat_id)
            current, expected_version = loaded.state, loaded.version
        try:
            events = decide(
                current,
                command,
                event_id=EventId.generate(self.generator),
                occurred_at=self._clock(),
                limits=self.limits,
            )
        except DomainError as exc:
            if cached is not None:
                # Another process may have made the command valid (added the executor as a
                # member, …): only the current state may refuse it.
                raise _StaleCachedStateError from exc
            self._keep(current, expected_version)
            raise
        state = current
        for event in events:
            state = evolve(state, event)
        if state is None:  # pragma: no cover - decide returns at least one event or raises
            raise EventSequenceError(f"{type(command).__name__} produced no events")
        try:
            version = self.repository.save(
                chat_id,
                expected_version,
                events,
                state,
                # Inside the command's span: the updater's projection span becomes its child.
                metadata=telemetry.inject_context(),
                idempotency=record,
            )
        except ConcurrencyError as exc:
            if cached is not None:
                raise _StaleCachedStateError from exc
            raise
        self._keep(state, version)
        return CommandResult(chat_id, events, state, version)

    def _keep(self, state: GroupChat | None, version: int) -> None:
        """Cache `state`, confirmed by the store at `version` (a chat that exists only)."""
        if self._cache is not None and state is not None and state.version == version:
            self._cache.put(state)
