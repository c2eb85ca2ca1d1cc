"""Key settings of infra/sam/template.yaml.

cfn-lint and `sam validate --lint` (tools/gates) check the template's shape, but not values
inside `AWS::Serverless::*` properties (a `TRIM_HORIZN` passes both) nor whether the template
agrees with the code. These tests load the YAML and check what matters: routes, images,
architecture, stream options, table layout (against the event store's own table definitions),
environment (parsed by the services' own settings parsers) and least-privilege policies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "sam" / "template.yaml"
PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackName",
    "AWS::URLSuffix",
}
FUNCTIONS = {
    "CommandFunction": "CommandImageUri",
    "QueryFunction": "QueryImageUri",
    "ReadModelUpdaterFunction": "ReadModelUpdaterImageUri",
}


class CloudFormationLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags into their long form."""


def _intrinsic(loader: CloudFormationLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded = yaml.load(TEMPLATE.read_text(), Loader=CloudFormationLoader)
    assert isinstance(loaded, dict)
    return loaded


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]


def properties(template: dict[str, Any], name: str) -> dict[str, Any]:
    return resource(template, name)["Properties"]


def function_setting(template: dict[str, Any], function: str, key: str) -> Any:
    """A function's property, falling back to Globals as SAM does."""
    own = properties(template, function)
    return own[key] if key in own else template["Globals"]["Function"][key]


def environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    """Globals' variables overlaid with the function's, as SAM merges them."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(properties(template, function).get("Environment", {}).get("Variables", {}))
    return merged


def substitute(value: Any, names: dict[str, str]) -> str:
    """Resolve a plain string or a one-argument `Fn::Sub` with the given names."""
    if isinstance(value, str):
        return value
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    return re.sub(r"\$\{([^}!]+)\}", lambda m: names[m.group(1)], text)


def walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def statements(template: dict[str, Any], role_or_function: str) -> list[dict[str, Any]]:
    """IAM statements of an explicit role or of a function's SAM `Policies`."""
    props = properties(template, role_or_function)
    if resource(template, role_or_function)["Type"] == "AWS::IAM::Role":
        return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    found = []
    for policy in props.get("Policies", []):
        # Only inline statements: no broad managed policies or policy templates.
        assert isinstance(policy, dict), f"{role_or_function}: {policy}"
        assert "Statement" in policy, f"{role_or_function}: {policy}"
        found.extend(policy["Statement"])
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def test_template_is_a_sam_template_with_the_pipelines_parameters(
    template: dict[str, Any],
) -> None:
    # LanguageExtensions first: it resolves the optional authorizer's `!If`s for SAM.
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    for parameter in FUNCTIONS.values():
        # Required: the pipelines (infra/buildspec/lib.sh) pass them by these names.
        assert template["Parameters"][parameter]["Type"] == "String"
        assert "Default" not in template["Parameters"][parameter]
    pattern = re.compile(template["Parameters"]["CommandImageUri"]["AllowedPattern"])
    assert pattern.match("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/command:" + "a" * 40)
    assert pattern.match("123456789012.dkr.ecr.us-east-1.amazonaws.com/query@sha256:" + "0" * 64)
    assert not pattern.match("docker.io/library/python:3.13")
    assert template["Parameters"]["StageName"]["Default"] == "Stage"


def test_every_reference_points_at_something_that_exists(template: dict[str, Any]) -> None:
    known = set(template["Resources"]) | set(template["Parameters"]) | PSEUDO_PARAMETERS
    conditions = set(template.get("Conditions", {}))
    for node in walk(template):
        if not isinstance(node, dict):
            continue
        if "Ref" in node:
            assert node["Ref"] in known, node
        if "Fn::GetAtt" in node:
            assert node["Fn::GetAtt"][0] in template["Resources"], node
        if "Fn::If" in node:
            assert node["Fn::If"][0] in conditions, node
        if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            for name in re.findall(r"\$\{([^}!]+)\}", node["Fn::Sub"]):
                assert name.split(".")[0] in known, (name, node)
    for item in template["Resources"].values():
        if "Condition" in item:
            assert item["Condition"] in conditions


@pytest.mark.parametrize(("function", "parameter"), sorted(FUNCTIONS.items()))
def test_functions_run_their_image_on_arm64_with_active_tracing(
    template: dict[str, Any], function: str, parameter: str
) -> None:
    props = properties(template, function)
    assert resource(template, function)["Type"] == "AWS::Serverless::Function"
    assert props["PackageType"] == "Image"
    assert props["ImageUri"] == {"Ref": parameter}
    assert function_setting(template, function, "Architectures") == ["arm64"]
    assert function_setting(template, function, "Tracing") == "Active"
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    # The handler comes from the image's CMD; a Handler/Runtime here would be a zip function.
    assert "Handler" not in props
    assert "Runtime" not in props


@pytest.mark.parametrize(
    ("function", "path"),
    [("CommandFunction", "/command/{proxy+}"), ("QueryFunction", "/query/{proxy+}")],
)
def test_http_api_routes_every_method_under_the_prefix_to_its_function_with_payload_v2(
    template: dict[str, Any], function: str, path: str
) -> None:
    events = properties(template, function)["Events"]
    # The others are GET routes of the health checks (tests/aws/test_sam_auth.py).
    assert all(e["Properties"]["Method"] == "GET" for name, e in events.items() if name != "Api")
    event = events["Api"]
    assert event["Type"] == "HttpApi"
    assert event["Properties"] == {
        "ApiId": {"Ref": "HttpApi"},
        "Path": path,
        "Method": "ANY",
        "PayloadFormatVersion": "2.0",
    }
    api = properties(template, "HttpApi")
    assert resource(template, "HttpApi")["Type"] == "AWS::Serverless::HttpApi"
    assert api["StageName"] == {"Ref": "StageName"}


def test_api_url_output_includes_the_named_stage(template: dict[str, Any]) -> None:
    value = template["Outputs"]["ApiUrl"]["Value"]["Fn::If"]
    assert value[0] == "DefaultStage"
    assert value[1]["Fn::Sub"].endswith("${AWS::URLSuffix}")
    assert value[2]["Fn::Sub"].endswith("${AWS::URLSuffix}/${StageName}")
    assert template["Conditions"]["DefaultStage"] == {
        "Fn::Equals": [{"Ref": "StageName"}, "$default"]
    }


def test_tables_match_what_the_event_store_creates(template: dict[str, Any]) -> None:
    from event_store.dynamodb import create_tables

    class RecordingClient:
        def __init__(self) -> None:
            self.created: dict[str, dict[str, Any]] = {}

        def create_table(self, **definition: Any) -> None:
            self.created[definition.pop("TableName")] = definition

        def describe_time_to_live(self, TableName: str) -> dict[str, Any]:  # noqa: N803
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

        def update_time_to_live(self, **request: Any) -> None:
            self.created[request["TableName"]]["TimeToLiveSpecification"] = request[
                "TimeToLiveSpecification"
            ]

        def get_waiter(self, name: str) -> Any:
            class Waiter:
                def wait(self, **kwargs: Any) -> None:
                    pass

            return Waiter()

    client = RecordingClient()
    create_tables(client, journal_table="journal", snapshot_table="snapshot")

    def comparable(definition: dict[str, Any]) -> dict[str, Any]:
        result = {
            key: value
            for key, value in definition.items()
            if key
            not in {
                "StreamSpecification",
                "PointInTimeRecoverySpecification",
                "TimeToLiveSpecification",
            }
        }
        result["AttributeDefinitions"] = sorted(
            result["AttributeDefinitions"], key=lambda a: a["AttributeName"]
        )
        return result

    for logical_id, name in (("JournalTable", "journal"), ("SnapshotTable", "snapshot")):
        table = resource(template, logical_id)
        assert table["Type"] == "AWS::DynamoDB::Table"
        assert comparable(table["Properties"]) == comparable(client.created[name])
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        # The journal is the system of record: never deleted with the stack.
        assert table["DeletionPolicy"] == "Retain"
        assert table["UpdateReplacePolicy"] == "Retain"
        # TTL as the store sets it (it expires the command side's idempotency records).
        assert table["Properties"].get("TimeToLiveSpecification") == client.created[name].get(
            "TimeToLiveSpecification"
        ), logical_id
    journal = properties(template, "JournalTable")
    assert journal["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert "StreamSpecification" not in properties(template, "SnapshotTable")


def test_updater_reads_the_journal_stream_from_the_start_reporting_partial_failures(
    template: dict[str, Any],
) -> None:
    events = properties(template, "ReadModelUpdaterFunction")["Events"]
    assert len(events) == 1
    (event,) = events.values()
    assert event["Type"] == "DynamoDB"
    stream = event["Properties"]
    assert stream["Stream"] == {"Fn::GetAtt": ["JournalTable", "StreamArn"]}
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["ParallelizationFactor"] == 1
    # Bounded: a poisoned batch must not block its shard until the records expire.
    retries = template["Parameters"]["StreamMaximumRetryAttempts"]
    assert stream["MaximumRetryAttempts"] == {"Ref": "StreamMaximumRetryAttempts"}
    assert 0 <= retries["MinValue"] <= retries["Default"] <= retries["MaxValue"] <= 10000
    assert 60 <= stream["MaximumRecordAgeInSeconds"] <= 86400
    batch = template["Parameters"]["StreamBatchSize"]
    assert stream["BatchSize"] == {"Ref": "StreamBatchSize"}
    assert 1 <= batch["Default"] <= 10000
    on_failure = stream["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue = on_failure["Destination"]["Fn::GetAtt"]
    assert queue[1] == "Arn"
    assert resource(template, queue[0])["Type"] == "AWS::SQS::Queue"


def test_command_environment_points_at_the_stacks_tables(template: dict[str, Any]) -> None:
    from event_store.dynamodb import DynamoDBSettings

    env = environment(template, "CommandFunction")
    url = substitute(env["EVENT_STORE_URL"], {"JournalTable": "J-1", "SnapshotTable": "S-1"})
    settings = DynamoDBSettings.from_url(url)
    assert settings.journal_table == "J-1"
    assert settings.snapshot_table == "S-1"
    assert settings.endpoint_url is None
    assert "READ_MODEL_URL" not in env


@pytest.mark.parametrize("function", ["QueryFunction", "ReadModelUpdaterFunction"])
def test_read_model_url_comes_from_secrets_manager(template: dict[str, Any], function: str) -> None:
    env = environment(template, function)
    assert env["READ_MODEL_URL"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${ReadModelUrlSecret}:SecretString}}"
    }
    assert "EVENT_STORE_URL" not in env


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_telemetry_settings_export_to_the_regions_xray_endpoint(
    template: dict[str, Any], function: str
) -> None:
    from telemetry import TelemetrySettings

    env = {
        key: substitute(value, {"AWS::Region": "ap-northeast-1"})
        for key, value in environment(template, function).items()
        if key.startswith("OTEL_")
    }
    env["LOG_LEVEL"] = template["Parameters"]["LogLevel"]["Default"]
    settings = TelemetrySettings.from_env(env)
    assert settings.tracing_enabled
    assert settings.traces_endpoint == "https://xray.ap-northeast-1.amazonaws.com/v1/traces"
    assert settings.signing_region == "ap-northeast-1"
    assert "xray-lambda" in settings.propagators
    assert (
        settings.resolve_service_name("x")
        == {
            "CommandFunction": "command-service",
            "QueryFunction": "query-service",
            "ReadModelUpdaterFunction": "read-model-updater",
        }[function]
    )


def test_command_may_only_append_to_and_read_its_two_tables(template: dict[str, Any]) -> None:
    found = statements(template, "CommandFunction")
    assert found
    granted: dict[str, set[str]] = {}
    for statement in found:
        assert statement["Effect"] == "Allow"
        table = statement["Resource"]["Fn::GetAtt"]
        assert table[1] == "Arn"
        granted.setdefault(table[0], set()).update(actions(statement))
    assert granted == {
        "JournalTable": {"dynamodb:PutItem", "dynamodb:Query"},
        "SnapshotTable": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    }
    assert "Role" not in properties(template, "CommandFunction")


def test_query_has_no_access_to_dynamodb(template: dict[str, Any]) -> None:
    role = properties(template, "QueryFunction")["Role"]["Fn::GetAtt"][0]
    for statement in statements(template, role):
        assert not any(a.startswith(("dynamodb:", "sqs:")) for a in actions(statement))
    assert "Policies" not in properties(template, "QueryFunction")


def test_updater_may_only_read_the_journal_stream_and_report_to_its_queue(
    template: dict[str, Any],
) -> None:
    role = properties(template, "ReadModelUpdaterFunction")["Role"]["Fn::GetAtt"][0]
    for statement in statements(template, role):
        granted = actions(statement)
        if any(a.startswith("dynamodb:") for a in granted):
            if statement["Resource"] == "*":
                assert granted == {"dynamodb:ListStreams"}  # has no resource-level permissions
            else:
                assert statement["Resource"] == {"Fn::GetAtt": ["JournalTable", "StreamArn"]}
                assert granted <= {
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                }
        if any(a.startswith("sqs:") for a in granted):
            assert granted == {"sqs:SendMessage"}
            assert statement["Resource"] == {
                "Fn::GetAtt": ["ReadModelUpdaterDeadLetterQueue", "Arn"]
            }
        if any(a.startswith("logs:") for a in granted):
            assert statement["Resource"] == {"Fn::GetAtt": ["ReadModelUpdaterLogGroup", "Arn"]}
    everything = {a for s in statements(template, role) for a in actions(s)}
    assert {"dynamodb:GetRecords", "sqs:SendMessage", "xray:PutTraceSegments"} <= everything
