"""Parse every OpenTofu file in infra/tofu and check the settings the delivery design relies on.

Usage: ``python tools/check_hcl.py [DIR]`` (default ``infra/tofu``). Prints one line per problem
and exits 1 if there is any; silent success otherwise.

checkov checks generic good practice; this checks *our* promises, which a refactor could break
without any generic rule noticing: ECR scans on push and expires untagged images after one day
while keeping the BuildKit `cache` tag; the artifact bucket is encrypted, versioned, private and
TLS-only; every service has an ARM CodeBuild project with privileged Docker and an existing
build spec, and a pipeline on the GitHub connection that hands CodeBuild a full clone; IAM
grants no wildcard actions, and resource "*" only for actions that cannot be scoped (or under a
condition); no broad AWS-managed policy is attached; every variable and output is described;
every checkov skip carries a reason; the AWS provider is pinned.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

# Actions AWS offers no resource-level permission for: "*" is the only possible resource.
UNSCOPEABLE_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "xray:GetSamplingRules",
        "xray:GetSamplingStatisticSummaries",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "dynamodb:ListStreams",
        # CloudWatch Logs vended delivery (API Gateway access logs)
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
    }
)
# Allow statements that may use "*" as resource anyway, each with the reason.
WILDCARD_RESOURCE_ALLOWED = {
    ("artifacts_key", "EnableIamPolicies"): "key policy: '*' is the key itself",
    ("artifacts_key", "CodeBuildLogGroups"): "key policy: '*' is the key itself",
    ("function_boundary", "VpcNetworkInterfaces"): "a boundary; ENIs live in unknown subnets",
}
# Allow statements that may use a wildcard action, each with the reason.
WILDCARD_ACTION_ALLOWED = {
    ("artifacts_key", "EnableIamPolicies"): "AWS's default key policy statement for the account",
}
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
SKIP_RE = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def load(directory: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Parse every *.tf file; returns {file name: parsed} and the parse errors."""
    parsed: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    files = sorted(directory.glob("*.tf"))
    if not files:
        errors.append(f"{directory}: no *.tf files")
    for path in files:
        try:
            with path.open() as handle:
                parsed[path.name] = hcl2.load(handle, serialization_options=OPTIONS)
        except Exception as exc:  # python-hcl2 raises lark's various exception types
            errors.append(f"{path.name}: does not parse: {exc}")
    return parsed, errors


def blocks(parsed: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, str, Any]]:
    """(type, name, body) of every `resource` or `data` block; (name, name, body) otherwise."""
    for doc in parsed.values():
        for entry in doc.get(kind, []):
            for first, value in entry.items():
                if kind in ("resource", "data"):
                    for name, body in value.items():
                        yield first, name, body
                else:
                    yield first, first, value


def find(parsed: dict[str, dict[str, Any]], kind: str, type_: str) -> dict[str, Any]:
    """All `kind` blocks of one type, by name."""
    return {name: body for t, name, body in blocks(parsed, kind) if t == type_}


def one(value: Any) -> Any:
    """The single nested block of a block list (blocks are lists in the parsed form)."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _variables(parsed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: body for _, name, body in blocks(parsed, "variable")}


def _locals(parsed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for doc in parsed.values():
        for entry in doc.get("locals", []):
            merged.update(entry)
    return merged


def check(directory: Path, repo_root: Path = ROOT) -> list[str]:
    """Every problem found in the configuration under ``directory``."""
    parsed, problems = load(directory)
    if problems:
        return problems
    variables = _variables(parsed)
    services = sorted(_locals(parsed).get("services", {}))
    if sorted(services) != ["command", "query", "read-model-updater"]:
        problems.append(f"locals.services should list the three services, not {services}")

    problems += _check_provider(parsed)
    problems += _check_ecr(parsed)
    problems += _check_bucket(parsed)
    problems += _check_codebuild(parsed, services, repo_root)
    problems += _check_pipelines(parsed, variables)
    problems += _check_iam(parsed)
    problems += _check_docs_and_skips(directory, parsed)
    return problems


def _check_provider(parsed: dict[str, dict[str, Any]]) -> list[str]:
    for doc in parsed.values():
        for terraform in doc.get("terraform", []):
            providers = one(terraform.get("required_providers", [{}]))
            aws = providers.get("aws", {})
            if aws.get("source") == "hashicorp/aws" and aws.get("version"):
                return [] if terraform.get("required_version") else ["required_version not set"]
    return ["the aws provider (hashicorp/aws) is not pinned in required_providers"]


def _check_ecr(parsed: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    repos = find(parsed, "resource", "aws_ecr_repository")
    if not repos:
        return ["no aws_ecr_repository"]
    for name, repo in repos.items():
        scanning = one(repo.get("image_scanning_configuration", [{}]))
        if scanning.get("scan_on_push") is not True:
            problems.append(f"aws_ecr_repository.{name}: scan_on_push must be true")
        mutability = repo.get("image_tag_mutability", "MUTABLE")
        filters = [f.get("filter") for f in repo.get("image_tag_mutability_exclusion_filter", [])]
        if mutability == "IMMUTABLE_WITH_EXCLUSION" and filters != ["cache"]:
            problems.append(f"aws_ecr_repository.{name}: only `cache` may be a mutable tag")
        elif mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
            problems.append(f"aws_ecr_repository.{name}: commit tags must be immutable")
    if not find(parsed, "resource", "aws_ecr_lifecycle_policy"):
        problems.append("no aws_ecr_lifecycle_policy")
    documents = find(parsed, "data", "aws_ecr_lifecycle_policy_document")
    rules = [r for doc in documents.values() for r in doc.get("rule", [])]
    untagged = [r for r in rules if one(r.get("selection"))["tag_status"] == "untagged"]
    if not any(
        one(r["selection"]).get("count_type") == "sinceImagePushed"
        and one(r["selection"]).get("count_unit") == "days"
        and one(r["selection"]).get("count_number") == 1
        and one(r.get("action", [{}])).get("type") == "expire"
        for r in untagged
    ):
        problems.append("ECR lifecycle: untagged images must expire 1 day after push")
    cache = [r for r in rules if "cache" in one(r["selection"]).get("tag_pattern_list", [])]
    wide = [r for r in rules if one(r["selection"])["tag_status"] in ("any", "tagged")]
    wide = [r for r in wide if r not in cache]
    if wide and (not cache or min(r["priority"] for r in cache) > min(r["priority"] for r in wide)):
        problems.append("ECR lifecycle: the `cache` tag must be kept by a higher-priority rule")
    return problems


def _check_bucket(parsed: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    buckets = find(parsed, "resource", "aws_s3_bucket")
    if not buckets:
        return ["no aws_s3_bucket"]
    for name in buckets:
        ref = f"aws_s3_bucket.{name}"

        def attached(type_: str, ref: str = ref) -> list[Any]:
            found = find(parsed, "resource", type_).values()
            return [b for b in found if f"{ref}." in str(b["bucket"])]

        blocks_ = attached("aws_s3_bucket_public_access_block")
        flags = (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
        if not blocks_ or not all(b.get(f) is True for b in blocks_ for f in flags):
            problems.append(f"{ref}: public access must be blocked (all four settings true)")
        sse = attached("aws_s3_bucket_server_side_encryption_configuration")
        algorithms = [
            one(one(s["rule"])["apply_server_side_encryption_by_default"])["sse_algorithm"]
            for s in sse
        ]
        if not algorithms or not all(a in ("aws:kms", "AES256") for a in algorithms):
            problems.append(f"{ref}: default server-side encryption must be configured")
        versioning = attached("aws_s3_bucket_versioning")
        if not any(one(v["versioning_configuration"])["status"] == "Enabled" for v in versioning):
            problems.append(f"{ref}: versioning must be enabled")
        policies = attached("aws_s3_bucket_policy")
        documents = find(parsed, "data", "aws_iam_policy_document")
        tls_only = False
        for policy in policies:
            match = re.search(r"data\.aws_iam_policy_document\.(\w+)\.json", str(policy["policy"]))
            doc = documents.get(match.group(1), {}) if match else {}
            for statement in doc.get("statement", []):
                for condition in statement.get("condition", []):
                    if (
                        statement.get("effect") == "Deny"
                        and condition.get("variable") == "aws:SecureTransport"
                        and condition.get("values") == ["false"]
                    ):
                        tls_only = True
        if not tls_only:
            problems.append(f"{ref}: its bucket policy must deny requests without TLS")
    return problems


def _check_codebuild(
    parsed: dict[str, dict[str, Any]], services: list[str], repo_root: Path
) -> list[str]:
    problems: list[str] = []
    projects = find(parsed, "resource", "aws_codebuild_project")
    if not projects:
        return ["no aws_codebuild_project"]
    for name, project in projects.items():
        ref = f"aws_codebuild_project.{name}"
        env = one(project.get("environment", [{}]))
        if env.get("type") != "ARM_CONTAINER":
            problems.append(f"{ref}: environment type must be ARM_CONTAINER")
        if env.get("privileged_mode") is not True:
            problems.append(f"{ref}: privileged_mode is needed for the Docker daemon")
        image = str(env.get("image", ""))
        if "aarch64" not in image and "${var." not in image:
            problems.append(f"{ref}: image must be an aarch64 image")
        buildspec = str(one(project.get("source", [{}])).get("buildspec", ""))
        paths = [buildspec.replace("${each.key}", s) for s in services] if services else []
        for path in paths or [buildspec]:
            if not (repo_root / path).is_file():
                problems.append(f"{ref}: build spec {path} does not exist")
    return problems


def _resolve(value: Any, variables: dict[str, Any]) -> Any:
    match = re.fullmatch(r"\$\{var\.(\w+)\}", str(value))
    return variables.get(match.group(1), {}).get("default") if match else value


def _check_pipelines(parsed: dict[str, dict[str, Any]], variables: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    pipelines = find(parsed, "resource", "aws_codepipeline")
    if not pipelines:
        return ["no aws_codepipeline"]
    for name, pipeline in pipelines.items():
        ref = f"aws_codepipeline.{name}"
        actions = [a for stage in pipeline.get("stage", []) for a in stage.get("action", [])]
        sources = [a for a in actions if a.get("category") == "Source"]
        if len(sources) != 1 or sources[0].get("provider") != "CodeStarSourceConnection":
            problems.append(f"{ref}: needs one CodeStarSourceConnection source action")
            continue
        config = sources[0].get("configuration", {})
        if config.get("OutputArtifactFormat") != "CODEBUILD_CLONE_REF":
            problems.append(f"{ref}: the source must be a full clone (CODEBUILD_CLONE_REF)")
        if _resolve(config.get("BranchName"), variables) != "main":
            problems.append(f"{ref}: the source branch must default to main")
        if not any(a.get("provider") == "CodeBuild" for a in actions):
            problems.append(f"{ref}: needs a CodeBuild action")
    connection = variables.get("github_connection_name", {}).get("default")
    if connection != "github":
        problems.append("variable github_connection_name must default to `github`")
    return problems


def _check_iam(parsed: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for doc_name, doc in find(parsed, "data", "aws_iam_policy_document").items():
        for statement in doc.get("statement", []):
            if statement.get("effect", "Allow") != "Allow":
                continue  # a wildcard in a Deny only narrows
            key = (doc_name, statement.get("sid"))
            where = f"aws_iam_policy_document.{doc_name} statement {statement.get('sid')!r}"
            actions = [str(a) for a in statement.get("actions", [])]
            if any("*" in a for a in actions) and key not in WILDCARD_ACTION_ALLOWED:
                problems.append(f"{where}: wildcard action in {actions}")
            if "not_actions" in statement or "not_resources" in statement:
                problems.append(f"{where}: NotAction/NotResource grants too much")
            resources = [str(r) for r in statement.get("resources", [])]
            if "*" in resources and key not in WILDCARD_RESOURCE_ALLOWED:
                scoped_by_condition = bool(statement.get("condition"))
                unscopeable = set(actions) <= UNSCOPEABLE_ACTIONS
                if not (scoped_by_condition or unscopeable):
                    problems.append(f"{where}: resource '*' for scopeable actions {actions}")
            if "iam:PassRole" in actions and not statement.get("condition"):
                problems.append(f"{where}: iam:PassRole needs an iam:PassedToService condition")
    for type_ in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment"):
        for name, body in find(parsed, "resource", type_).items():
            if any(p in str(body.get("policy_arn")) for p in BROAD_MANAGED_POLICIES):
                problems.append(f"{type_}.{name}: broad managed policy {body['policy_arn']}")
    for name, role in find(parsed, "resource", "aws_iam_role").items():
        for arn in role.get("managed_policy_arns", []):
            if any(p in str(arn) for p in BROAD_MANAGED_POLICIES):
                problems.append(f"aws_iam_role.{name}: broad managed policy {arn}")
    return problems


def _check_docs_and_skips(directory: Path, parsed: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for kind in ("variable", "output"):
        for _, name, body in blocks(parsed, kind):
            if not str(body.get("description", "")).strip():
                problems.append(f"{kind} {name}: no description")
    for path in sorted(directory.glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP_RE.search(line)
            if match and len((match.group(2) or "").strip()) < 10:
                problems.append(
                    f"{path.name}:{number}: checkov skip {match.group(1)} needs a reason"
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else ROOT / "infra" / "tofu"
    problems = check(directory)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
