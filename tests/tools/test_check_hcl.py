"""tools/check_hcl.py: the OpenTofu configuration parses and keeps its promises.

The real configuration must pass; copies with one promise broken must each be caught.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOFU = ROOT / "infra" / "tofu"


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_hcl", ROOT / "tools" / "check_hcl.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_hcl = _load_tool()


PASS_ROLE_STATEMENT = """\
    resources = [aws_iam_role.cloudformation.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["cloudformation.amazonaws.com"]
    }
  }"""


def broken(tmp_path: Path, file: str, old: str, new: str) -> list[str]:
    copy = tmp_path / "tofu"
    shutil.copytree(TOFU, copy)
    text = (copy / file).read_text()
    assert old in text, f"{old!r} not in {file}"
    (copy / file).write_text(text.replace(old, new, 1))
    problems: list[str] = check_hcl.check(copy, repo_root=ROOT)
    return problems


def test_repository_configuration_passes_when_checked() -> None:
    assert check_hcl.check(TOFU) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("ecr.tf", "scan_on_push = true", "scan_on_push = false", "scan_on_push"),
        (
            "ecr.tf",
            'count_unit   = "days"\n      count_number = 1',
            'count_unit   = "days"\n      count_number = 7',
            "untagged images must expire 1 day",
        ),
        ("ecr.tf", "priority    = 1", "priority    = 4", "`cache` tag must be kept"),
        (
            "ecr.tf",
            'filter      = "cache"',
            'filter      = "*"',
            "only `cache` may be a mutable tag",
        ),
        ("s3.tf", "restrict_public_buckets = true", "restrict_public_buckets = false", "public"),
        ("s3.tf", 'status = "Enabled"', 'status = "Suspended"', "versioning"),
        ("s3.tf", 'values   = ["false"]', 'values   = ["true"]', "deny requests without TLS"),
        (
            "codebuild.tf",
            'type                        = "ARM_CONTAINER"',
            'type = "LINUX_CONTAINER"',
            "ARM_CONTAINER",
        ),
        (
            "codebuild.tf",
            "privileged_mode             = true",
            "privileged_mode = false",
            "privileged_mode",
        ),
        (
            "codebuild.tf",
            "infra/buildspec/${each.key}.yml",
            "infra/buildspec/${each.key}.yaml",
            "does not exist",
        ),
        ("codepipeline.tf", '"CODEBUILD_CLONE_REF"', '"CODE_ZIP"', "full clone"),
        ("variables.tf", 'default     = "main"', 'default     = "master"', "branch"),
        ("variables.tf", 'default     = "github"', 'default     = "gh"', "`github`"),
        ("iam_ci.tf", '"ecr:PutImage",', '"ecr:*",', "wildcard action"),
        (
            "iam_ci.tf",
            "resources = [aws_ecr_repository.service[each.key].arn]",
            'resources = ["*"]',
            "resource '*' for scopeable actions",
        ),
        (
            "iam_ci.tf",
            PASS_ROLE_STATEMENT,
            PASS_ROLE_STATEMENT.split("    condition {")[0] + "  }",
            "iam:PassRole needs an iam:PassedToService condition",
        ),
        ("versions.tf", 'version = "~> 6.12"', "", "not pinned"),
        (
            "variables.tf",
            'description = "Branch whose pushes trigger the pipelines."',
            'description = ""',
            "variable branch: no description",
        ),
        (
            "s3.tf",
            "#checkov:skip=CKV2_AWS_62:Nothing consumes object events from this bucket",
            "#checkov:skip=CKV2_AWS_62",
            "needs a reason",
        ),
        ("main.tf", "  services = {", "  services = {\n    frontend = {}", "three services"),
        ("outputs.tf", "output", "output {", "does not parse"),
    ],
)
def test_problem_is_reported_when_a_promise_is_broken(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    problems = broken(tmp_path, file, old, new)
    assert any(expected in p for p in problems), problems


def test_broad_managed_policy_is_reported_when_attached(tmp_path: Path) -> None:
    copy = tmp_path / "tofu"
    shutil.copytree(TOFU, copy)
    (copy / "extra.tf").write_text(
        'resource "aws_iam_role_policy_attachment" "power" {\n'
        '  role       = aws_iam_role.codebuild["query"].name\n'
        '  policy_arn = "arn:aws:iam::aws:policy/PowerUserAccess"\n'
        "}\n"
    )
    assert any("PowerUserAccess" in p for p in check_hcl.check(copy, repo_root=ROOT))


def test_cli_exits_nonzero_and_lists_problems_when_the_configuration_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "tofu"
    shutil.copytree(TOFU, copy)
    (copy / "ecr.tf").write_text((copy / "ecr.tf").read_text().replace("= true", "= false", 1))
    assert check_hcl.main([str(copy)]) == 1
    assert "scan_on_push" in capsys.readouterr().out
