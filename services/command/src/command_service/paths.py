"""The command service's paths, in a module that imports nothing (the Lambda fast path needs
them without FastAPI)."""

from __future__ import annotations

from typing import Final

__all__ = ["GRAPHQL_PATH", "GROUP_CHATS_PREFIX", "HEALTHCHECK_PATH"]

GROUP_CHATS_PREFIX: Final = "/command/v1/group-chats"
HEALTHCHECK_PATH: Final = "/command/v1/healthcheck"
GRAPHQL_PATH: Final = "/command/graphql"
