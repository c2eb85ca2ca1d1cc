"""`read_model.queries`, with each query function run in a span of its own.

The REST routes and the GraphQL resolvers import this module in place of `read_model.queries`
(`from query_service import traced_queries as queries`): same names, same signatures, same
results. Each call is one `query <function>` client span in the request's trace, with the ids it
reads (`group_chat.id`, `message.id`, `member.user_account_id`) and what it found
(`query.found` for one row, `query.result_count` for a list or page). The caller's
`userAccountId` is not repeated on it: the request's server span already has it in `http.url`.

Failures: a bad cursor or limit is the client's mistake (a 400), recorded as `query.error`
without failing the span; anything else (`ReadModelUnavailableError`: a 503) is recorded as an
exception and sets the span's status to error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import telemetry
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from read_model import queries as _queries
from read_model.queries import (
    Bind,
    GroupChatView,
    InvalidCursorError,
    MemberView,
    MessagePage,
    MessageView,
    decode_cursor,
    encode_cursor,
)

__all__ = [
    "Bind",
    "GroupChatView",
    "InvalidCursorError",
    "MemberView",
    "MessagePage",
    "MessageView",
    "decode_cursor",
    "encode_cursor",
    "get_group_chat",
    "get_group_chats",
    "get_member",
    "get_members",
    "get_message",
    "get_messages",
    "traced",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_tracer = telemetry.get_tracer(__name__)

# Query parameters worth recording, and their span attribute names (the caller's
# `user_account_id` is on the server span already).
_RECORDED_ARGUMENTS = {
    "group_chat_id": "group_chat.id",
    "message_id": "message.id",
    "member_user_account_id": "member.user_account_id",
    "limit": "query.limit",
}
_CLIENT_ERRORS = (InvalidCursorError, ValueError)


def _record_result(span: Span, result: object) -> None:
    if isinstance(result, list):
        span.set_attribute("query.result_count", len(result))
    elif isinstance(result, MessagePage):
        span.set_attribute("query.result_count", len(result.items))
        span.set_attribute("query.has_more", result.next_before is not None)
    elif result is None or isinstance(result, GroupChatView | MemberView | MessageView):
        span.set_attribute("query.found", result is not None)


def traced(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` (a function of `read_model.queries`) run in a `query <name>` span.

    See the module docstring for the attributes and how failures are recorded.
    """
    name = function.__name__
    # (position, name, attribute) of the recorded parameters: what `Signature.bind_partial`
    # would find, at a fraction of its cost (~10 us per call).
    recorded = [
        (position, parameter.name, _RECORDED_ARGUMENTS[parameter.name])
        for position, parameter in enumerate(inspect.signature(function).parameters.values())
        if parameter.name in _RECORDED_ARGUMENTS
    ]

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        attributes: dict[str, Any] = {"query.name": name}
        for position, parameter, attribute in recorded:
            value = args[position] if position < len(args) else kwargs.get(parameter)
            if value is not None:
                attributes[attribute] = value
        with _tracer.start_as_current_span(
            f"query {name}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                # Looked up on each call, not bound once: a test that replaces a function of
                # `read_model.queries` replaces it behind the span too.
                result = getattr(_queries, name, function)(*args, **kwargs)
            except _CLIENT_ERRORS as exc:
                span.set_attribute("query.error", f"{type(exc).__name__}: {exc}")
                raise
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
            _record_result(span, result)
            return result

    return wrapper


get_group_chats = traced(_queries.get_group_chats)
get_group_chat = traced(_queries.get_group_chat)
get_members = traced(_queries.get_members)
get_member = traced(_queries.get_member)
get_messages = traced(_queries.get_messages)
get_message = traced(_queries.get_message)
