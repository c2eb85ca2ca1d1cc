"""What a GraphQL error tells the client: `extensions.code`, `extensions.reason`, the message.

API.md fixes `extensions.code` to the HTTP status an equivalent REST call would get, as a
string, from a closed set: `"400"` invalid input, `"404"` no such group chat, `"409"` conflict,
`"422"` a broken domain rule, `"500"` anything else. The mapping is the REST one
(`command_service.problems.problem_for`), so both APIs report a failure the same way:

- `"400"` `validation_error`: a syntax error, an unknown field or type, a missing or ill-typed
  argument or variable, or an invalid value (`chat_domain.ValidationError`: id, name, content,
  role; then `extensions.field` names the input field);
- `"404"` `group_chat_not_found`;
- `"409"` `group_chat_already_exists`, or `conflict` (still conflicting after the retries);
- `"422"` the broken rule of any other `DomainError`, e.g. `not_an_administrator`;
- with `AUTH_MODE=jwt` only: `"401"` `unauthorized` (a mutation without a bearer token; a bad
  token is refused with HTTP 401 before GraphQL runs) and `"403"` `forbidden` (`executorId`
  is not the caller);
- `"500"` `service_unavailable` when the event store cannot be reached (retry later);
- `"500"` `internal_error` for anything else (generic message; logged with its traceback).

The event store being unavailable is the REST API's 503. GraphQL clients of this API family
know only the five codes above, so it is reported as `"500"`; `reason` says that retrying is the
right reaction. `reason` is the REST problem's `code`: a stable machine-readable string.
"""

from __future__ import annotations

from http_kit.graphql_errors import INTERNAL_ERROR, ErrorInfo

from command_service.problems import problem_for

__all__ = ["error_info_for"]


def error_info_for(exc: BaseException) -> ErrorInfo:
    """How `exc`, raised by a resolver, is reported."""
    problem = problem_for(exc)
    if problem is None:
        return INTERNAL_ERROR
    return ErrorInfo.for_status(problem.status, problem.code, problem.detail, problem.field)
