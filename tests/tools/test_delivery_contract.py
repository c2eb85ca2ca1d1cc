"""The SAM template and the delivery side (build scripts, OpenTofu) agree on their contract.

deploy.sh overrides one image parameter per service; the CloudFormation role created in
infra/tofu may manage only resources named "<stack>-…" and roles that carry the function
permissions boundary. These tests read the template as data to keep those promises aligned.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "sam" / "template.yaml"
SERVICES = {
    "command": ("CommandImageUri", "CommandFunction"),
    "query": ("QueryImageUri", "QueryFunction"),
    "read-model-updater": ("ReadModelUpdaterImageUri", "ReadModelUpdaterFunction"),
}
# Properties that would give a resource a fixed physical name outside "<stack>-…".
NAME_PROPERTIES = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Logs::LogGroup": "LogGroupName",
}


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation short-form intrinsics (!Ref, !Sub, …) as {"!Tag": value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    return loaded


def _image_parameter_in_scripts(service: str) -> str:
    script = f'source infra/buildspec/lib.sh && image_parameter "{service}"'
    return subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_function_image_comes_from_the_parameter_when_deploy_sh_overrides_it(
    template: dict[str, Any], service: str
) -> None:
    parameter, function = SERVICES[service]
    assert _image_parameter_in_scripts(service) == parameter
    assert "Default" not in template["Parameters"][parameter]
    properties = template["Resources"][function]["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["ImageUri"] == {"!Ref": parameter}


def test_opentofu_names_the_same_parameters_and_functions_when_compared() -> None:
    main_tf = (ROOT / "infra" / "tofu" / "main.tf").read_text()
    for service, (parameter, function) in SERVICES.items():
        block = re.search(rf"{re.escape(service)} = \{{(.*?)\}}", main_tf, re.S)
        assert block is not None, service
        assert f'"{parameter}"' in block.group(1)
        assert f'"{function}"' in block.group(1)


def _names_outside_the_stack_prefix(template: dict[str, Any]) -> dict[str, Any]:
    """The resources of `template` that set a physical name not under "<stack>-…"."""
    fixed = {
        name: resource["Properties"][NAME_PROPERTIES[resource["Type"]]]
        for name, resource in template["Resources"].items()
        if NAME_PROPERTIES.get(resource["Type"]) in (resource.get("Properties") or {})
    }
    return {name: value for name, value in fixed.items() if "${AWS::StackName}-" not in str(value)}


def test_names_stay_under_the_stack_prefix_when_resources_set_them(
    template: dict[str, Any],
) -> None:
    assert _names_outside_the_stack_prefix(template) == {}
    # The template may set no name at all; a planted one proves the check would see it.
    resources = template["Resources"]
    planted = {
        **template,
        "Resources": {
            **resources,
            "Fixed": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "fixed-role"}},
            "Prefixed": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": {"!Sub": "${AWS::StackName}-dlq"}},
            },
        },
    }
    assert _names_outside_the_stack_prefix(planted) == {"Fixed": "fixed-role"}


def test_roles_carry_the_permissions_boundary_when_the_stack_creates_them(
    template: dict[str, Any],
) -> None:
    boundary = (
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${AWS::StackName}-function-boundary"
    )
    global_function = (template.get("Globals") or {}).get("Function") or {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::Role":
            assert properties.get("PermissionsBoundary") == {"!Sub": boundary}, name
        elif resource["Type"] == "AWS::Serverless::Function" and "Role" not in properties:
            # SAM generates the role and gives it the function's boundary.
            value = properties.get(
                "PermissionsBoundary", global_function.get("PermissionsBoundary")
            )
            assert value == {"!Sub": boundary}, name
