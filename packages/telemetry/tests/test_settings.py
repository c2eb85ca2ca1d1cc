"""TelemetrySettings: environment parsing and the derived decisions."""

from __future__ import annotations

import pytest
from telemetry import TelemetryConfigError, TelemetrySettings


def test_tracing_is_off_when_nothing_is_configured() -> None:
    settings = TelemetrySettings.from_env({})

    assert not settings.tracing_enabled
    assert settings.exporters == ()
    assert settings.log_level == "INFO"
    assert settings.propagators == ("tracecontext", "xray")


def test_otlp_is_the_default_exporter_when_an_endpoint_is_set() -> None:
    settings = TelemetrySettings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"})

    assert settings.exporters == ("otlp",)
    assert settings.traces_endpoint == "http://jaeger:4318/v1/traces"


def test_traces_endpoint_is_used_verbatim_when_set() -> None:
    settings = TelemetrySettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom/traces",
        }
    )

    assert settings.traces_endpoint == "http://collector:4318/custom/traces"


def test_explicit_otlp_exporter_uses_the_local_default_endpoint_when_no_endpoint_is_set() -> None:
    settings = TelemetrySettings.from_env({"OTEL_TRACES_EXPORTER": "otlp"})

    assert settings.tracing_enabled
    assert settings.traces_endpoint == "http://localhost:4318/v1/traces"


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "TRUE"},
    ],
)
def test_tracing_is_off_when_disabled_explicitly(env: dict[str, str]) -> None:
    assert not TelemetrySettings.from_env(env).tracing_enabled


def test_exporters_can_be_combined() -> None:
    settings = TelemetrySettings.from_env({"OTEL_TRACES_EXPORTER": "otlp, console"})

    assert settings.exporters == ("otlp", "console")


def test_signing_region_comes_from_the_xray_endpoint_host() -> None:
    settings = TelemetrySettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://xray.ap-northeast-1.amazonaws.com"}
    )

    assert settings.traces_endpoint == "https://xray.ap-northeast-1.amazonaws.com/v1/traces"
    assert settings.signing_region == "ap-northeast-1"


def test_requests_are_unsigned_when_the_endpoint_is_not_aws() -> None:
    settings = TelemetrySettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://xray.example.com"}
    )

    assert settings.signing_region is None


def test_signing_region_can_be_forced_for_other_endpoints() -> None:
    settings = TelemetrySettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://vpce-1.xray.eu-west-1.vpce.amazonaws.com/v1/traces",
            "TELEMETRY_SIGV4_REGION": "eu-west-1",
        }
    )

    assert settings.signing_region == "eu-west-1"


def test_service_name_env_overrides_resource_attributes_and_the_default() -> None:
    both = TelemetrySettings.from_env(
        {"OTEL_SERVICE_NAME": "CommandServer", "OTEL_RESOURCE_ATTRIBUTES": "service.name=Other"}
    )
    attributes_only = TelemetrySettings.from_env(
        {"OTEL_RESOURCE_ATTRIBUTES": "service.name=QueryServer,team=chat%20core"}
    )

    assert both.resolve_service_name("command-service") == "CommandServer"
    assert attributes_only.resolve_service_name("query-service") == "QueryServer"
    assert attributes_only.resource_attributes["team"] == "chat core"
    assert TelemetrySettings.from_env({}).resolve_service_name("updater") == "updater"


def test_log_level_is_read_case_insensitively() -> None:
    assert TelemetrySettings.from_env({"LOG_LEVEL": "debug"}).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_PROPAGATORS": "b3"}, "OTEL_PROPAGATORS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "novalue"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_invalid_configuration_is_rejected_when_read(env: dict[str, str], mentions: str) -> None:
    with pytest.raises(TelemetryConfigError, match=mentions):
        TelemetrySettings.from_env(env)


def test_empty_values_count_as_unset() -> None:
    settings = TelemetrySettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": " ", "LOG_LEVEL": ""}
    )

    assert not settings.tracing_enabled
    assert settings.log_level == "INFO"
