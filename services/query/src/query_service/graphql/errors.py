"""What a GraphQL error tells the client: `extensions.code`, `extensions.reason`, the message.

API.md fixes `extensions.code` to the HTTP status an equivalent REST call would get, as a
string, from a closed set (`"400"`, `"404"`, `"409"`, `"422"`, `"500"`). The reads map like
their REST counterparts:

- `"400"` `validation_error`: a syntax error, an unknown field or type, a missing or ill-typed
  argument or variable, or a malformed id (`chat_domain.ValidationError`; then
  `extensions.field` names the argument);
- `"404"` `group_chat_not_found`, `member_not_found` or `message_not_found`: a single-object read
  of something that does not exist or that the caller may not see;
- with `AUTH_MODE=jwt` only: `"401"` `unauthorized` (a field read without a bearer token; a
  bad token is refused with HTTP 401 before GraphQL runs) and `"403"` `forbidden`
  (`userAccountId` is not the caller);
- `"500"` `service_unavailable` when the read model cannot be reached (retry later);
- `"500"` `internal_error` for anything else (generic message; logged with its traceback).

List reads of a chat the caller may not see return `[]`, not an error. The read model being
unavailable is the REST API's 503; GraphQL clients of this API family know only the five codes
above, so it is reported as `"500"`, and `reason` says that retrying is the right reaction.
`reason` is the REST problem's `code`: a stable machine-readable string.
"""

from __future__ import annotations

from auth import AuthError, AuthUnavailableError
from chat_domain.errors import ValidationError
from http_kit.graphql_errors import INTERNAL_ERROR, ErrorInfo
from read_model import ReadModelUnavailableError

from query_service.errors import ProblemError

__all__ = ["error_info_for"]


def error_info_for(exc: BaseException) -> ErrorInfo:
    """How `exc`, raised by a resolver, is reported."""
    if isinstance(exc, ProblemError):
        return ErrorInfo.for_status(exc.status, exc.code, exc.detail, exc.field)
    if isinstance(exc, ValidationError):
        return ErrorInfo("400", str(exc.code), exc.message, exc.field)
    if isinstance(exc, AuthError):
        return ErrorInfo(str(exc.status), exc.code, exc.detail)
    if isinstance(exc, AuthUnavailableError):
        return ErrorInfo(
            "500",
            "service_unavailable",
            "the keys to verify tokens cannot be fetched right now; retry later",
        )
    if isinstance(exc, ReadModelUnavailableError):
        return ErrorInfo(
            "500",
            "service_unavailable",
            "the read model is temporarily unavailable; retry later",
        )
    return INTERNAL_ERROR
