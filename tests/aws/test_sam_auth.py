"""The SAM template's optional JWT authorizer, in both variants CloudFormation can deploy.

`AWS::LanguageExtensions` resolves the `!If`s on `HasJwtAuthorizer` before the SAM transform
runs; `tools/sam_variants.py` does the same here (and in the gates, where the SAM translator
then checks both variants).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from auth import AuthSettings

ROOT = Path(__file__).resolve().parents[2]
HEALTH_CHECKS = {
    "CommandFunction": {"Healthcheck": "/command/v1/healthcheck"},
    "QueryFunction": {
        "Healthcheck": "/query/healthcheck",
        "HealthcheckV1": "/query/v1/healthcheck",
    },
}


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sam_variants", ROOT / "tools" / "sam_variants.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sam_variants = _load_tool()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = sam_variants.load()
    return loaded


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][name]["Properties"]
    return properties


def test_parameters_are_optional_and_the_condition_is_on_the_issuer(
    template: dict[str, Any],
) -> None:
    for name in ("JwtIssuer", "JwtAudience"):
        assert template["Parameters"][name] == {
            "Type": "String",
            "Default": "",
            "Description": template["Parameters"][name]["Description"],
        }
    assert template["Conditions"]["HasJwtAuthorizer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]
    }
    rule = template["Rules"]["JwtAudienceWithIssuer"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]
    }


def test_api_has_no_authorizer_and_services_trust_the_request_when_no_issuer_is_set(
    template: dict[str, Any],
) -> None:
    off = sam_variants.variant(template, jwt=False)

    assert off["Transform"] == ["AWS::Serverless-2016-10-31"]
    assert "Auth" not in props(off, "HttpApi")
    for function, routes in HEALTH_CHECKS.items():
        assert props(off, function)["Environment"]["Variables"]["AUTH_MODE"] == "none"
        for event in routes:
            assert "Auth" not in props(off, function)["Events"][event]["Properties"]


def test_every_route_but_the_health_checks_needs_a_jwt_when_an_issuer_is_set(
    template: dict[str, Any],
) -> None:
    on = sam_variants.variant(template, jwt=True)

    auth = props(on, "HttpApi")["Auth"]
    assert auth["DefaultAuthorizer"] == "JwtAuthorizer"
    authorizer = auth["Authorizers"]["JwtAuthorizer"]
    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    assert authorizer["JwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": [{"Ref": "JwtAudience"}],
    }
    for function, routes in HEALTH_CHECKS.items():
        events = props(on, function)["Events"]
        assert "Auth" not in events["Api"]["Properties"]  # the default authorizer applies
        for event, path in routes.items():
            assert events[event]["Properties"]["Path"] == path
            assert events[event]["Properties"]["Auth"] == {"Authorizer": "NONE"}


def test_services_take_the_caller_from_the_authorizer_when_an_issuer_is_set(
    template: dict[str, Any],
) -> None:
    on = sam_variants.variant(template, jwt=True)

    for function in HEALTH_CHECKS:
        env = props(on, function)["Environment"]["Variables"]
        settings = AuthSettings.from_env({"AUTH_MODE": env["AUTH_MODE"]})
        # No JWKS in the functions: API Gateway verified the token; its claims are in the event.
        assert settings.enabled
        assert not settings.verifies_locally
    updater = props(on, "ReadModelUpdaterFunction")["Environment"]["Variables"]
    assert "AUTH_MODE" not in updater
