"""Static checks of the services' Lambda container images (services/*/Dockerfile).

There is no Docker engine here, so the images are not built. Instead the Dockerfiles are parsed
and their structure checked (base image, stages, cache mounts, layer order, handler), and the
two uv steps are replayed outside Docker with exactly the files the build would give them: the
dependency export (which third-party packages each image gets) and the workspace install (that
the copied sources are enough to build and contain the handler module).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_BASE = re.compile(r"^public\.ecr\.aws/lambda/python:3\.(1[2-9])-arm64$")
UV_IMAGE = re.compile(r"^ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+$")

# service directory -> (distribution name, handler)
SERVICES = {
    "command": ("command-service", "command_service.lambda_handler.handler"),
    "query": ("query-service", "query_service.lambda_handler.handler"),
    "read-model-updater": ("read-model-updater", "read_model_updater.lambda_handler.handler"),
}

# Third-party distributions an image must not carry: the other sides' heavy dependencies.
FORBIDDEN_DEPENDENCIES = {
    "command": {"sqlalchemy", "alembic", "aws-lambda-powertools"},
    "query": {"boto3", "s3transfer", "aws-lambda-powertools", "psycopg-pool"},
    "read-model-updater": {"fastapi", "starlette", "strawberry-graphql", "mangum"},
}
# ... and those it needs at run time on Lambda (handler adapter, X-Ray export with SigV4).
REQUIRED_DEPENDENCIES = {
    "command": {"mangum", "fastapi", "boto3", "opentelemetry-sdk", "botocore"},
    "query": {"mangum", "fastapi", "sqlalchemy", "psycopg", "opentelemetry-sdk", "botocore"},
    "read-model-updater": {"sqlalchemy", "boto3", "opentelemetry-sdk"},
}


@dataclass
class Instruction:
    keyword: str
    arguments: str
    flags: list[str] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return shlex.split(self.arguments)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    syntax: str | None
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Split a Dockerfile into stages of instructions (continuations joined, comments dropped)."""
    lines = path.read_text().splitlines()
    syntax = None
    if lines and (match := re.match(r"^#\s*syntax\s*=\s*(\S+)", lines[0])):
        syntax = match.group(1)
    logical: list[str] = []
    current = ""
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit between continuation lines too
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    assert not current, f"{path}: dangling line continuation"

    stages: list[Stage] = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        keyword = keyword.upper()
        flags: list[str] = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, rest, flags))
    return Dockerfile(syntax, stages)


def load_workspace() -> dict[str, dict[str, object]]:
    """Workspace members by distribution name: directory and workspace dependencies."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: dict[str, dict[str, object]] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in sorted(ROOT.glob(pattern)):
            manifest = directory / "pyproject.toml"
            if not manifest.is_file():
                continue
            project = tomllib.loads(manifest.read_text())["project"]
            members[project["name"]] = {
                "dir": directory.relative_to(ROOT).as_posix(),
                "deps": [
                    re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0] for d in project["dependencies"]
                ],
            }
    for member in members.values():
        member["deps"] = [d for d in member["deps"] if d in members]  # type: ignore[attr-defined]
    return members


def workspace_closure(distribution: str) -> set[str]:
    """The member directories `distribution` needs: itself and its workspace dependencies."""
    members = load_workspace()
    seen: set[str] = set()
    pending = [distribution]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(members[name]["deps"])  # type: ignore[arg-type]
    return {str(members[name]["dir"]) for name in seen}


def mount_options(flag: str) -> dict[str, str]:
    assert flag.startswith("--mount=")
    return dict(part.split("=", 1) for part in flag.removeprefix("--mount=").split(","))


def dockerfile(service: str) -> Dockerfile:
    return parse_dockerfile(ROOT / "services" / service / "Dockerfile")


def installs(stage: Stage) -> list[Instruction]:
    return [i for i in stage.of("RUN") if "uv pip install" in i.arguments]


def requirements_export(service: str) -> Instruction:
    runs = [
        i for s in dockerfile(service).stages for i in s.of("RUN") if "uv export" in i.arguments
    ]
    assert len(runs) == 1, f"{service}: expected one `uv export` step"
    return runs[0]


def workspace_install(service: str) -> tuple[Stage, Instruction]:
    for stage in dockerfile(service).stages:
        for run in installs(stage):
            if "-r" not in run.words:
                return stage, run
    raise AssertionError(f"{service}: no install of workspace packages")


parametrize_services = pytest.mark.parametrize("service", sorted(SERVICES))


@parametrize_services
def test_dockerfile_uses_buildkit_syntax_and_pinned_images_when_parsed(service: str) -> None:
    parsed = dockerfile(service)
    assert parsed.syntax == "docker/dockerfile:1"
    for stage in parsed.stages:
        assert LAMBDA_BASE.match(stage.base) or UV_IMAGE.match(stage.base), stage.base
    # The runtime stage (the last one) is the Lambda Python base image for arm64.
    assert LAMBDA_BASE.match(parsed.stages[-1].base)
    assert parsed.stages[-1].name is None
    # Every stage that runs Python code runs the same interpreter as the runtime image.
    assert {s.base for s in parsed.stages if LAMBDA_BASE.match(s.base)} == {parsed.stages[-1].base}
    uv_copies = [i for s in parsed.stages for i in s.of("COPY") if "--from=uv" in i.flags]
    assert uv_copies
    assert all(i.words == ["/uv", "/bin/uv"] for i in uv_copies)


@parametrize_services
def test_handler_is_the_command_when_the_image_starts(service: str) -> None:
    runtime = dockerfile(service).stages[-1]
    _, handler = SERVICES[service]
    cmd = runtime.of("CMD")
    assert len(cmd) == 1
    assert json.loads(cmd[0].arguments) == [handler]
    assert not runtime.of("ENTRYPOINT"), "the base image's entrypoint runs the Lambda runtime"
    module_path = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert (ROOT / "services" / service / "src" / module_path).is_file()


@parametrize_services
def test_every_install_uses_the_uv_cache_mount_and_compiles_bytecode(service: str) -> None:
    parsed = dockerfile(service)
    steps = [(s, i) for s in parsed.stages for i in installs(s)]
    assert len(steps) == 2, "one dependency install, one workspace install"
    for stage, run in steps:
        mounts = [mount_options(f) for f in run.flags if f.startswith("--mount=")]
        assert {"type": "cache", "target": "/root/.cache/uv"} in mounts
        env = " ".join(i.arguments for i in stage.of("ENV"))
        assert "UV_COMPILE_BYTECODE=1" in env
        words = run.words
        assert words[words.index("--target") + 1] == "${LAMBDA_TASK_ROOT}"
        assert "--no-deps" in words, "only what the lock says, nothing resolved at build time"


@parametrize_services
def test_dependency_layer_comes_before_any_source_when_built(service: str) -> None:
    parsed = dockerfile(service)
    dependency_stage = next(s for s in parsed.stages for i in installs(s) if "-r" in i.words)
    # The dependency stage sees no source at all: only the exported requirements.
    for copy in dependency_stage.of("COPY"):
        assert not any("/src" in w for w in copy.words), copy.arguments
    assert "--require-hashes" in installs(dependency_stage)[0].words
    # In the runtime image the dependencies are the first layer, the workspace code the second.
    runtime_copies = [(i.flags, i.words) for i in parsed.stages[-1].of("COPY")]
    application_stage, _ = workspace_install(service)
    assert runtime_copies == [
        ([f"--from={dependency_stage.name}"], ["${LAMBDA_TASK_ROOT}", "${LAMBDA_TASK_ROOT}"]),
        ([f"--from={application_stage.name}"], ["${LAMBDA_TASK_ROOT}", "${LAMBDA_TASK_ROOT}"]),
    ]


@parametrize_services
def test_export_sees_only_the_lock_and_manifests_when_building(service: str) -> None:
    run = requirements_export(service)
    mounts = [mount_options(f) for f in run.flags if f.startswith("--mount=")]
    assert all(m["type"] == "bind" and m["source"] == m["target"] for m in mounts)
    manifests = {m["source"] for m in mounts}
    expected = {"uv.lock", "pyproject.toml"} | {
        f"{m['dir']}/pyproject.toml" for m in load_workspace().values()
    }
    # All member manifests (uv must see the whole workspace) and nothing else: no source file
    # can invalidate the dependency layer.
    assert manifests == expected
    words = run.words
    distribution, _ = SERVICES[service]
    assert words[:2] == ["uv", "export"]
    assert {"--frozen", "--no-dev", "--no-emit-workspace"} <= set(words)
    packages = {words[i + 1] for i, w in enumerate(words) if w == "--package"}
    assert packages == {distribution, "telemetry"}
    assert "--no-hashes" not in words


@parametrize_services
def test_image_copies_only_its_own_workspace_members(service: str) -> None:
    stage, run = workspace_install(service)
    distribution, _ = SERVICES[service]
    expected = workspace_closure(distribution)
    copied_dirs = set()
    for copy in stage.of("COPY"):
        if copy.flags:
            continue  # from another stage or image (uv), not from the build context
        *sources, _destination = copy.words
        for source in sources:
            assert source.endswith(("/pyproject.toml", "/src")), f"copies {source}"
            copied_dirs.add(source.rsplit("/", 1)[0])
    assert copied_dirs == expected
    installed = {w.removeprefix("./") for w in run.words if w.startswith("./")}
    assert installed == expected


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _matches(path: str, pattern: str) -> bool:
    # fnmatch's `*` also crosses `/`, which is close enough for these simple patterns.
    if pattern.startswith("**/"):
        rest = pattern.removeprefix("**/")
        return fnmatch.fnmatchcase(path, rest) or fnmatch.fnmatchcase(path, "*/" + rest)
    return fnmatch.fnmatchcase(path, pattern)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, roughly: the last matching pattern wins; excluding a directory excludes
    everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if any(_matches(prefix, pattern.removeprefix("!")) for prefix in prefixes):
            ignored = not negated
    return ignored


@parametrize_services
def test_build_context_keeps_what_the_dockerfile_reads(service: str) -> None:
    patterns = _dockerignore_patterns()
    stage, _ = workspace_install(service)
    needed = [m["source"] for f in requirements_export(service).flags for m in [mount_options(f)]]
    for copy in stage.of("COPY"):
        if not copy.flags:
            needed.extend(copy.words[:-1])
    for path in needed:
        assert not _ignored(path, patterns), f".dockerignore drops {path}"
    for unwanted in (".git", ".venv", "var", ".env", "services/command/tests", "infra"):
        assert _ignored(unwanted, patterns), f".dockerignore keeps {unwanted}"


@pytest.fixture(scope="module")
def uv() -> str:
    path = shutil.which("uv")
    if path is None:
        # tools/test installs uv, so in CI its absence is a broken setup, not a reason to skip.
        if os.environ.get("CI") == "true":
            pytest.fail("uv is not on PATH")
        pytest.skip("uv is not on PATH")
    return path


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{shlex.join(argv)} failed:\n{result.stderr}"


def _build_context(tmp_path: Path, paths: list[str]) -> Path:
    for relative in paths:
        source, target = ROOT / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return tmp_path


@parametrize_services
def test_image_dependencies_are_only_its_own_when_exported_from_the_lock(
    service: str, uv: str, tmp_path: Path
) -> None:
    run = requirements_export(service)
    mounted = [mount_options(f)["source"] for f in run.flags]
    context = _build_context(tmp_path / "context", mounted)
    words = run.words
    output = tmp_path / "requirements.txt"
    words[words.index("--output-file") + 1] = str(output)
    _run([uv, *words[1:]], cwd=context)
    text = output.read_text()
    names = {
        line.split("==", 1)[0].strip().lower()
        for line in text.splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }
    assert REQUIRED_DEPENDENCIES[service] <= names
    assert not names & FORBIDDEN_DEPENDENCIES[service]
    assert "--hash=sha256:" in text
    # Workspace members come from the sources in the next stage, never from the export.
    assert not names & set(load_workspace())


@parametrize_services
def test_copied_sources_install_the_handler_when_built(
    service: str, uv: str, tmp_path: Path
) -> None:
    stage, run = workspace_install(service)
    sources = [w for c in stage.of("COPY") if not c.flags for w in c.words[:-1]]
    context = _build_context(tmp_path / "context", sources)
    target = tmp_path / "task"
    words = run.words
    words[words.index("--python") + 1] = sys.executable
    words[words.index("--target") + 1] = str(target)
    _run([uv, *words[1:]], cwd=context, env={**_clean_env(), "UV_COMPILE_BYTECODE": "1"})
    _, handler = SERVICES[service]
    module = handler.rsplit(".", 1)[0]
    assert (target / (module.replace(".", "/") + ".py")).is_file()
    assert list((target / module.split(".")[0]).glob("__pycache__/*.pyc"))
    # Exactly the members' import packages: no tests, no other member.
    # (uv leaves a `.lock` file in the target directory.)
    top_level = {
        p.name
        for p in target.iterdir()
        if not p.name.endswith(".dist-info") and not p.name.startswith(".")
    }
    modules = {
        p.name
        for d in workspace_closure(SERVICES[service][0])
        for p in (context / d / "src").iterdir()
        if p.is_dir()
    }
    assert top_level == modules


def _clean_env() -> dict[str, str]:
    # Keep the user's uv cache and network settings, drop the project's virtualenv.
    return {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
