"""Limits on GraphQL documents, as strawberry schema extensions (imports strawberry).

A document is refused with `"400"` errors before it runs when it has too many tokens (checked
while parsing, so a huge document costs little), selections nested too deep, or too many
aliases (each one more resolver call: a command, or a database query).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from graphql import GraphQLError, ValidationContext, ValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.extensions.query_depth_limiter import create_validator

__all__ = ["DepthLimiter", "document_limits"]


class DepthLimiter(AddValidationRules):
    """strawberry's `QueryDepthLimiter` rule, failing closed on documents it cannot measure.

    Its depth walk raises on some malformed documents (an empty selection set such as `{a{}}`,
    a spread of an unknown fragment), which would be a 500; such a document is refused with a
    `"400"` instead, like any other invalid one.
    """

    def __init__(self, max_depth: int) -> None:
        measure = create_validator(max_depth, None)

        class Rule(ValidationRule):
            def __init__(self, context: ValidationContext) -> None:
                super().__init__(context)
                try:
                    measure(context)  # reports a too-deep operation on `context` itself
                except (KeyError, ValueError, RecursionError):
                    self.report_error(
                        GraphQLError(
                            "the document's depth cannot be determined: it has an empty "
                            "selection set or spreads an unknown fragment"
                        )
                    )

        super().__init__([Rule])


def document_limits(
    *, max_tokens: int, max_depth: int, max_aliases: int
) -> list[Callable[[], SchemaExtension]]:
    """The schema `extensions` enforcing the three limits (tokens first: it runs while parsing)."""
    return [
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        partial(DepthLimiter, max_depth=max_depth),
        partial(MaxAliasesLimiter, max_alias_count=max_aliases),
    ]
