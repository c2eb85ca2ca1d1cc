"""Health checks: `GET /query/healthcheck` and `GET /query/v1/healthcheck`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse


def create_router() -> APIRouter:
    """The health-check routes. They answer while the process serves requests (liveness); they
    do not touch the database, so that a database outage does not get the process restarted."""
    router = APIRouter(prefix="/query", tags=["health"])

    @router.get(
        "/healthcheck",
        response_class=PlainTextResponse,
        operation_id="healthCheck",
        summary="Health check",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def healthcheck() -> str:
        return "OK"

    @router.get(
        "/v1/healthcheck",
        response_class=PlainTextResponse,
        operation_id="healthCheckV1",
        summary="Health check (versioned path)",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def healthcheck_v1() -> str:
        return "OK"

    return router
