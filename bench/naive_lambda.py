"""The baseline of `bench/cold_start.py`: a Lambda written the naive, eager way.

Everything is imported and built at module level, as many Lambda functions are written:
FastAPI with a GraphQL router (strawberry), a SQLAlchemy engine, a boto3 DynamoDB client and the
OpenTelemetry SDK with an OTLP exporter, all before the first request; a trivial route; Mangum.
Configured by the same environment as our handlers (`READ_MODEL_URL`, `AWS_REGION`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`). Not part of the product.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import sqlalchemy
import strawberry
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from mangum import Mangum
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from strawberry.fastapi import GraphQLRouter

provider = TracerProvider(
    resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "naive")})
)
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer(__name__)

engine = sqlalchemy.create_engine(
    os.environ.get("READ_MODEL_URL", "sqlite://").replace("postgresql://", "postgresql+psycopg://")
)
dynamodb = boto3.client("dynamodb")


@strawberry.type
class Query:
    """A one-field schema."""

    @strawberry.field
    def hello(self) -> str:
        """Say hello."""
        return "hello"


app = FastAPI()
app.include_router(GraphQLRouter(strawberry.Schema(query=Query)), prefix="/graphql")


@app.get("/healthcheck", response_class=PlainTextResponse)
def healthcheck() -> str:
    """200 OK."""
    with tracer.start_as_current_span("healthcheck"):
        return "OK"


_mangum = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve one API Gateway HTTP API event, then flush the spans (the sandbox may freeze)."""
    try:
        return _mangum(event, context)
    finally:
        provider.force_flush(2000)
