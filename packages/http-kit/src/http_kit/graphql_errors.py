"""What a GraphQL error tells the client: `extensions.code`, `extensions.reason`, the message.

API.md fixes `extensions.code` to the HTTP status an equivalent REST call would get, as a
string, from a closed set (`"400"`, `"401"`, `"403"`, `"404"`, `"409"`, `"422"`, `"500"`):
GraphQL clients of this API family know no 503, so an unavailable backend is `"500"` and its
`reason` (`service_unavailable`) says that retrying is the right reaction. `reason` is the REST
problem's `code`: a stable machine-readable string. Which exception gets which code is each
service's mapping; this module imports no GraphQL library.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INTERNAL_ERROR", "ErrorInfo", "invalid_request"]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """How one error is reported. `expected=False` marks a server fault (logged as an error)."""

    code: str
    reason: str
    message: str
    field: str | None = None
    expected: bool = True

    @classmethod
    def for_status(
        cls, status: int, reason: str, message: str, field: str | None = None
    ) -> ErrorInfo:
        """The error a REST call answered with `status` stands for (any 5xx is `"500"`)."""
        return cls("500" if status >= 500 else str(status), reason, message, field)

    def extensions(self) -> dict[str, str]:
        """The error's `extensions` member: `code`, `reason` (and `field`)."""
        extensions = {"code": self.code, "reason": self.reason}
        if self.field is not None:
            extensions["field"] = self.field
        return extensions


INTERNAL_ERROR = ErrorInfo("500", "internal_error", "an unexpected error occurred", expected=False)
"""An unexpected error: the client learns nothing about it beyond that."""


def invalid_request(message: str) -> ErrorInfo:
    """A request GraphQL refused before running it (syntax, unknown field, bad variable)."""
    return ErrorInfo("400", "validation_error", message)
