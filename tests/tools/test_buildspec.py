"""The CodeBuild build specs and the shared build/deploy scripts they call.

The specs are checked as YAML. build.sh and deploy.sh run for real against a throwaway git
repository, with `aws`, `docker` and `sam` replaced by stubs that record their arguments and
answer from a small JSON state (the stack's status and parameters, the images in ECR).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILDSPEC_DIR = ROOT / "infra" / "buildspec"
SERVICES = ["command", "query", "read-model-updater"]
PARAMETERS = {
    "command": "CommandImageUri",
    "query": "QueryImageUri",
    "read-model-updater": "ReadModelUpdaterImageUri",
}
REGISTRY = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com"


def repo_uri(service: str) -> str:
    return f"{REGISTRY}/cqrs-es/{service}"


# --------------------------------------------------------------------------------------------
# the build spec files


def _spec(service: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((BUILDSPEC_DIR / f"{service}.yml").read_text())
    return loaded


def test_build_specs_match_the_service_directories_when_listed() -> None:
    services = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
    specs = sorted(p.stem for p in BUILDSPEC_DIR.glob("*.yml"))
    assert specs == services == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_build_spec_delegates_to_the_shared_script_when_loaded(service: str) -> None:
    spec = _spec(service)
    assert str(spec["version"]) == "0.2"
    commands = spec["phases"]["build"]["commands"]
    assert commands[0] == f"bash infra/buildspec/build.sh {service}"
    assert {"BUILD_SKIPPED", "IMAGE_URI"} <= set(spec["env"]["exported-variables"])
    python = str(spec["phases"]["install"]["runtime-versions"]["python"])
    assert tuple(int(x) for x in python.split(".")) >= (3, 11)  # tomllib


def test_build_specs_are_identical_when_the_service_name_is_ignored() -> None:
    def generic(service: str) -> str:
        text = (BUILDSPEC_DIR / f"{service}.yml").read_text()
        return text.replace(f"the {service} service", "the S service").replace(
            f"build.sh {service}\n", "build.sh S\n"
        )

    assert len({generic(s) for s in SERVICES}) == 1


# --------------------------------------------------------------------------------------------
# running build.sh with stubbed AWS, docker and SAM

AWS_STUB = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(["aws", *args]) + "\n")
state_path = os.environ["STUB_STATE"]
state = json.load(open(state_path))
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["cloudformation", "describe-stacks"]:
    if state["stack_status"] is None:
        sys.stderr.write("An error occurred (ValidationError) when calling the DescribeStacks "
                         "operation: Stack with id %s does not exist\n" % opt("--stack-name"))
        sys.exit(254)
    query = opt("--query")
    if query == "Stacks[0].StackStatus":
        statuses = state["stack_status"]
        if isinstance(statuses, list):  # a sequence of answers, the last one sticks
            print(statuses.pop(0) if len(statuses) > 1 else statuses[0])
            json.dump(state, open(state_path, "w"))
        else:
            print(statuses)
    else:
        key = query.split("'")[1]
        print(state["parameters"].get(key, "None"))
elif args[:2] == ["ecr", "describe-images"]:
    repo, tag = opt("--repository-name"), opt("--image-ids").split("=", 1)[1]
    if tag not in state["images"].get(repo, []):
        sys.stderr.write("An error occurred (ImageNotFoundException)\n")
        sys.exit(254)
    print("IMAGEDETAILS")
elif args[:2] == ["ecr", "get-login-password"]:
    print("password")
"""

DOCKER_STUB = r"""#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(["docker", *sys.argv[1:]]) + "\n")
if sys.argv[1:3] == ["buildx", "inspect"]:
    sys.exit(1)
if sys.argv[1:2] == ["login"]:
    sys.stdin.read()
"""

SAM_STUB = r"""#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(["sam", *sys.argv[1:]]) + "\n")
state_path = os.environ["STUB_STATE"]
state = json.load(open(state_path))
failures = state.get("sam_failures", [])
if failures:
    message = failures.pop(0)
    json.dump(state, open(state_path, "w"))
    print(message)
    sys.exit(1)
print("Successfully created/updated stack")
"""


class Pipeline:
    """A clone of a mini workspace plus the real scripts, and the stubbed outside world."""

    def __init__(self, tmp_path: Path) -> None:
        self.repo = tmp_path / "repo"
        self.stubs = tmp_path / "bin"
        self.state_path = tmp_path / "state.json"
        self.log_path = tmp_path / "calls.jsonl"
        self.result_path = tmp_path / "result.env"
        self.repo.mkdir()
        self.stubs.mkdir()
        for name, text in {"aws": AWS_STUB, "docker": DOCKER_STUB, "sam": SAM_STUB}.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        self.git_env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        self.git("init", "-q", "-b", "main")
        self.write(
            "pyproject.toml",
            '[project]\nname = "root"\nversion = "0"\n\n'
            '[tool.uv.workspace]\nmembers = ["packages/*", "services/*"]\n',
        )
        self.write("packages/shared/pyproject.toml", '[project]\nname = "shared"\nversion = "0"\n')
        for service in SERVICES:
            deps = '["shared"]' if service != "query" else "[]"
            self.write(
                f"services/{service}/pyproject.toml",
                f'[project]\nname = "{service}-svc"\nversion = "0"\ndependencies = {deps}\n',
            )
            self.write(f"services/{service}/Dockerfile", "FROM scratch\n")
        self.write("infra/sam/template.yaml", "Resources: {}\n")
        (self.repo / "tools").mkdir()
        shutil.copy(ROOT / "tools" / "changed_services.py", self.repo / "tools")
        shutil.copytree(BUILDSPEC_DIR, self.repo / "infra" / "buildspec")
        self.first = self.commit()
        self.state: dict[str, Any] = {
            "stack_status": "UPDATE_COMPLETE",
            "parameters": {PARAMETERS[s]: f"{repo_uri(s)}:{self.first}" for s in SERVICES},
            "images": {f"cqrs-es/{s}": [self.first] for s in SERVICES},
        }

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=self.repo,
            env=self.git_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def write(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "change")
        return self.git("rev-parse", "HEAD")

    def change(self, rel: str) -> str:
        path = self.repo / rel
        self.write(rel, (path.read_text() if path.exists() else "") + "# changed\n")
        return self.commit()

    def build(self, service: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.state_path.write_text(json.dumps(self.state))
        self.log_path.write_text("")
        full_env = {
            **self.git_env,
            "PATH": f"{self.stubs}{os.pathsep}{os.environ['PATH']}",
            "STUB_STATE": str(self.state_path),
            "STUB_LOG": str(self.log_path),
            "STACK_NAME": "cqrs-es",
            "SAM_ARTIFACT_BUCKET": "artifacts",
            "CFN_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/cqrs-es-cloudformation",
            "CODEBUILD_RESOLVED_SOURCE_VERSION": self.git("rev-parse", "HEAD"),
            "BUILD_RESULT_FILE": str(self.result_path),
            "STACK_POLL_SECONDS": "0",
            "BOOTSTRAP_WAIT_SECONDS": "0",
            "STACK_WAIT_SECONDS": "0",
            "PYTHON": "python3",
            **{f"{s.upper().replace('-', '_')}_REPOSITORY_URI": repo_uri(s) for s in SERVICES},
            **env,
        }
        return subprocess.run(
            ["bash", str(self.repo / "infra" / "buildspec" / "build.sh"), service],
            cwd=self.repo,
            env=full_env,
            capture_output=True,
            text=True,
            check=False,
        )

    def calls(self, tool: str, *prefix: str) -> list[list[str]]:
        lines = [json.loads(x) for x in self.log_path.read_text().splitlines()]
        return [c[1:] for c in lines if c[0] == tool and c[1 : 1 + len(prefix)] == list(prefix)]

    def result(self) -> dict[str, str]:
        pairs = (line.removeprefix("export ").split("=", 1) for line in self.result_path.open())
        return {k: v.strip() for k, v in pairs}


def _overrides(sam_call: list[str]) -> list[str]:
    start = sam_call.index("--parameter-overrides") + 1
    end = next(i for i in range(start, len(sam_call)) if sam_call[i].startswith("--"))
    return sam_call[start:end]


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(tmp_path)


@pytest.mark.slow
def test_build_is_skipped_and_succeeds_when_the_service_is_unaffected(
    pipeline: Pipeline,
) -> None:
    pipeline.change("services/query/src/query.py")
    proc = pipeline.build("command")
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED" in proc.stderr
    assert pipeline.result() == {"BUILD_SKIPPED": "true", "IMAGE_URI": ""}
    assert pipeline.calls("docker") == []
    assert pipeline.calls("sam") == []


@pytest.mark.slow
def test_only_this_function_is_deployed_when_the_service_is_affected(
    pipeline: Pipeline,
) -> None:
    head = pipeline.change("services/query/src/query.py")
    proc = pipeline.build("query")
    assert proc.returncode == 0, proc.stderr
    image = f"{repo_uri('query')}:{head}"
    assert pipeline.result() == {"BUILD_SKIPPED": "false", "IMAGE_URI": image}
    [build] = pipeline.calls("docker", "buildx", "build")
    for flag in (
        "--platform linux/arm64",
        "--file services/query/Dockerfile",
        f"--tag {image}",
        f"--cache-from type=registry,ref={repo_uri('query')}:cache",
        "--provenance=false",
        "--push",
    ):
        assert flag in " ".join(build)
    cache_to = build[build.index("--cache-to") + 1]
    assert cache_to.startswith(f"type=registry,ref={repo_uri('query')}:cache,mode=max")
    assert build[-1] == "."  # context: the repository root
    [deploy] = pipeline.calls("sam", "deploy")
    assert _overrides(deploy) == [f"QueryImageUri={image}"]
    assert deploy[deploy.index("--role-arn") + 1].endswith("cqrs-es-cloudformation")


@pytest.mark.slow
def test_every_dependent_is_built_when_a_shared_package_changes(pipeline: Pipeline) -> None:
    pipeline.change("packages/shared/src/shared.py")
    outcomes = {s: pipeline.build(s) for s in SERVICES}
    assert all(p.returncode == 0 for p in outcomes.values())
    assert "SKIPPED" in outcomes["query"].stderr
    assert "DEPLOYED" in outcomes["command"].stderr
    assert "DEPLOYED" in outcomes["read-model-updater"].stderr


@pytest.mark.slow
def test_base_is_the_deployed_commit_not_the_parent_when_a_run_was_missed(
    pipeline: Pipeline,
) -> None:
    pipeline.change("services/command/src/command.py")  # never deployed: its run failed
    pipeline.change("docs/notes.md")
    proc = pipeline.build("command")
    assert proc.returncode == 0, proc.stderr
    assert pipeline.result()["BUILD_SKIPPED"] == "false"


@pytest.mark.slow
def test_service_is_built_when_the_deployed_image_is_not_tagged_with_a_commit(
    pipeline: Pipeline,
) -> None:
    pipeline.state["parameters"]["CommandImageUri"] = f"{repo_uri('command')}:latest"
    pipeline.change("docs/notes.md")
    proc = pipeline.build("command")
    assert proc.returncode == 0, proc.stderr
    assert "not tagged with a commit" in proc.stderr
    assert len(pipeline.calls("docker", "buildx", "build")) == 1


@pytest.mark.slow
def test_pushed_image_is_reused_when_the_same_commit_is_retried(pipeline: Pipeline) -> None:
    head = pipeline.change("services/command/src/command.py")
    pipeline.state["images"]["cqrs-es/command"].append(head)
    proc = pipeline.build("command")
    assert proc.returncode == 0, proc.stderr
    assert pipeline.calls("docker", "buildx", "build") == []
    assert len(pipeline.calls("sam", "deploy")) == 1


@pytest.mark.slow
def test_first_deployment_creates_the_stack_with_all_images_of_the_commit(
    pipeline: Pipeline,
) -> None:
    head = pipeline.change("services/command/src/command.py")
    pipeline.state["stack_status"] = None
    pipeline.state["parameters"] = {}
    for s in ("query", "read-model-updater"):
        pipeline.state["images"][f"cqrs-es/{s}"].append(head)
    proc = pipeline.build("command")
    assert proc.returncode == 0, proc.stderr
    [deploy] = pipeline.calls("sam", "deploy")
    assert sorted(_overrides(deploy)) == sorted(
        f"{PARAMETERS[s]}={repo_uri(s)}:{head}" for s in SERVICES
    )


@pytest.mark.slow
def test_first_deployment_fails_clearly_when_other_images_never_appear(
    pipeline: Pipeline,
) -> None:
    pipeline.change("services/command/src/command.py")
    pipeline.state["stack_status"] = None
    pipeline.state["parameters"] = {}
    proc = pipeline.build("command")
    assert proc.returncode != 0
    assert "release the query pipeline" in proc.stderr
    assert pipeline.calls("sam") == []


@pytest.mark.slow
def test_deploy_is_retried_when_another_pipeline_updates_the_stack_first(
    pipeline: Pipeline,
) -> None:
    pipeline.change("services/query/src/query.py")
    pipeline.state["sam_failures"] = [
        "Stack:cqrs-es is in UPDATE_IN_PROGRESS state and can not be updated."
    ]
    proc = pipeline.build("query")
    assert proc.returncode == 0, proc.stderr
    assert len(pipeline.calls("sam", "deploy")) == 2


@pytest.mark.slow
def test_deploy_waits_when_the_stack_is_busy(pipeline: Pipeline) -> None:
    pipeline.change("services/query/src/query.py")
    pipeline.state["stack_status"] = ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"]
    proc = pipeline.build("query", STACK_WAIT_SECONDS="60")
    assert proc.returncode == 0, proc.stderr
    assert "waiting" in proc.stderr


@pytest.mark.slow
def test_build_fails_when_sam_deploy_fails_for_another_reason(pipeline: Pipeline) -> None:
    pipeline.change("services/query/src/query.py")
    pipeline.state["sam_failures"] = ["Error: Failed to create changeset: AccessDenied"]
    proc = pipeline.build("query")
    assert proc.returncode != 0
    assert len(pipeline.calls("sam", "deploy")) == 1
    assert not pipeline.result_path.exists()


@pytest.mark.slow
def test_build_fails_with_instructions_when_the_stack_is_rollback_complete(
    pipeline: Pipeline,
) -> None:
    pipeline.change("services/query/src/query.py")
    pipeline.state["stack_status"] = "ROLLBACK_COMPLETE"
    proc = pipeline.build("query")
    assert proc.returncode != 0
    assert "delete-stack" in proc.stderr


@pytest.mark.slow
def test_build_fails_when_the_service_name_is_unknown(pipeline: Pipeline) -> None:
    proc = pipeline.build("frontend")
    assert proc.returncode != 0
    assert "unknown service" in proc.stderr
