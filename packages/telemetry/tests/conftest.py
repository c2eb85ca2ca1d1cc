"""Fixtures for the telemetry tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from telemetry.testing import OtlpReceiver, reset_telemetry


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP receiver on a free loopback port."""
    with OtlpReceiver() as started:
        yield started
        # Flush and stop tracing while the receiver still listens, so shutting down does not
        # retry exports against a closed port.
        reset_telemetry()


@pytest.fixture(autouse=True)
def _clean_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Tests pass settings explicitly; keep the machine's OTEL_* variables out of the SDK's own
    # environment look-ups (resource, sampler, exporter headers).
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    root_level = logging.getLogger().level
    yield
    reset_telemetry()
    logging.getLogger().setLevel(root_level)
