"""Change detection: which deployables does a diff between two commits affect?

Each test builds a throwaway git repository shaped like this workspace (four packages, three
services, a root package with the CLI, infra, docs, tests) and asks the tool about real commits.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "changed_services.py"
ALL = ["command", "query", "read-model-updater"]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("changed_services", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


changed_services = _load_tool()

# --------------------------------------------------------------------------------------------
# a mini workspace

MEMBERS: dict[str, tuple[str, list[str]]] = {
    # directory: (package name, dependencies)
    "packages/chat-domain": ("chat-domain", []),
    "packages/event-store": ("event-store", []),
    "packages/read-model": ("read-model", ["chat-domain", "sqlalchemy>=2"]),
    "packages/telemetry": ("telemetry", ["opentelemetry-api>=1"]),
    "services/command": (
        "command-service",
        ["chat-domain", "event-store[dynamodb]", "telemetry", "fastapi>=0.115"],
    ),
    "services/query": ("query-service", ["read-model", "telemetry", "fastapi>=0.115"]),
    "services/read-model-updater": (
        "read-model-updater",
        ["chat-domain", "event-store[dynamodb]", "read-model", "telemetry"],
    ),
}

ROOT_PYPROJECT = """\
[project]
name = "cqrs-es"
version = "0.1.0"
dependencies = ["command-service", "query-service", "read-model-updater"]

[tool.uv.workspace]
members = ["packages/*", "services/*"]

[dependency-groups]
dev = ["pytest>=8"]

[tool.ruff]
line-length = 100
"""

DEFAULT_VERSIONS = {
    "sqlalchemy": "2.0.30",
    "opentelemetry-api": "1.27.0",
    "fastapi": "0.115.0",
    "starlette": "0.38.0",
    "boto3": "1.34.0",
    "pytest": "8.3.0",
    "opentelemetry-sdk": "1.27.0",
}


def _member_pyproject(name: str, deps: list[str]) -> str:
    listed = ", ".join(f'"{d}"' for d in deps)
    text = f'[project]\nname = "{name}"\nversion = "0.1.0"\ndependencies = [{listed}]\n'
    if name == "event-store":
        text += '\n[project.optional-dependencies]\ndynamodb = ["boto3>=1.34"]\n'
    return text


def lock_text(
    versions: Mapping[str, str] | None = None, markers: Mapping[str, str] | None = None
) -> str:
    """A uv.lock (same structure uv writes) for the mini workspace."""
    v = {**DEFAULT_VERSIONS, **(versions or {})}
    markers = markers or {}

    def dep(name: str, extra: str | None = None) -> str:
        parts = [f'name = "{name}"']
        if extra:
            parts.append(f'extra = ["{extra}"]')
        if name in markers:
            parts.append(f'marker = "{markers[name]}"')
        return "{ " + ", ".join(parts) + " }"

    def package(
        name: str,
        version: str,
        source: str,
        deps: list[str],
        optional: Mapping[str, list[str]] | None = None,
        dev: list[str] | None = None,
    ) -> str:
        out = f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {source}\n'
        if deps:
            out += "dependencies = [\n" + "".join(f"    {d},\n" for d in deps) + "]\n"
        if optional:
            out += "\n[package.optional-dependencies]\n"
        for extra, extra_deps in (optional or {}).items():
            out += f"{extra} = [\n" + "".join(f"    {d},\n" for d in extra_deps) + "]\n"
        if dev:
            out += "\n[package.dev-dependencies]\ndev = [\n"
            out += "".join(f"    {d},\n" for d in dev) + "]\n"
        return out + "\n"

    registry = '{ registry = "https://pypi.org/simple" }'

    def editable(path: str) -> str:
        return f'{{ editable = "{path}" }}'

    text = 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n'
    text += "[manifest]\nmembers = [\n"
    names = sorted(["cqrs-es", *(n for n, _ in MEMBERS.values())])
    text += "".join(f'    "{n}",\n' for n in names) + "]\n\n"
    text += package("boto3", v["boto3"], registry, [])
    text += package("chat-domain", "0.1.0", editable("packages/chat-domain"), [])
    text += package(
        "command-service",
        "0.1.0",
        editable("services/command"),
        [dep("chat-domain"), dep("event-store", "dynamodb"), dep("fastapi"), dep("telemetry")],
    )
    text += package(
        "cqrs-es",
        "0.1.0",
        editable("."),
        [dep("command-service"), dep("query-service"), dep("read-model-updater")],
        dev=[dep("pytest")],
    )
    text += package(
        "event-store",
        "0.1.0",
        editable("packages/event-store"),
        [],
        optional={"dynamodb": [dep("boto3")]},
    )
    text += package("fastapi", v["fastapi"], registry, [dep("starlette")])
    text += package("opentelemetry-api", v["opentelemetry-api"], registry, [])
    text += package("pytest", v["pytest"], registry, [])
    text += package(
        "query-service",
        "0.1.0",
        editable("services/query"),
        [dep("fastapi"), dep("read-model"), dep("telemetry")],
    )
    text += package(
        "read-model",
        "0.1.0",
        editable("packages/read-model"),
        [dep("chat-domain"), dep("sqlalchemy")],
    )
    text += package(
        "read-model-updater",
        "0.1.0",
        editable("services/read-model-updater"),
        [dep("chat-domain"), dep("event-store", "dynamodb"), dep("read-model"), dep("telemetry")],
    )
    text += package("sqlalchemy", v["sqlalchemy"], registry, [])
    text += package("starlette", v["starlette"], registry, [])
    text += package("opentelemetry-sdk", v["opentelemetry-sdk"], registry, [])
    # Services depend on plain `telemetry`; their images add the `otel` extra on top.
    text += package(
        "telemetry",
        "0.1.0",
        editable("packages/telemetry"),
        [dep("opentelemetry-api")],
        optional={"otel": [dep("opentelemetry-sdk")]},
    )
    return text


class GitRepo:
    """A throwaway repository with helpers to commit changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def change(self, *edits: Callable[[GitRepo], object]) -> tuple[str, str]:
        """Commit the edits on top of HEAD; return (base, head)."""
        base = self.git("rev-parse", "HEAD")
        for edit in edits:
            edit(self)
        return base, self.commit()

    def affected(self, base: str | None, head: str = "HEAD") -> list[str]:
        result: list[str] = changed_services.affected_deployables(str(self.path), base, head)
        return result


def seed_workspace(repo: GitRepo) -> None:
    repo.write("pyproject.toml", ROOT_PYPROJECT)
    repo.write("uv.lock", lock_text())
    repo.write("README.md", "# demo\n")
    repo.write("conftest.py", "")
    repo.write("src/cqrs_es/cli.py", "def main() -> None: ...\n")
    repo.write("docs/deploy.md", "# deploy\n")
    repo.write("tests/e2e/test_flow.py", "")
    repo.write("bench/cold_start.py", "")
    repo.write("tools/gates", "#!/bin/sh\n")
    repo.write("infra/sam/template.yaml", "Resources: {}\n")
    repo.write("infra/README.md", "# infra\n")
    for directory, (name, deps) in MEMBERS.items():
        module = name.replace("-", "_")
        repo.write(f"{directory}/pyproject.toml", _member_pyproject(name, deps))
        repo.write(f"{directory}/src/{module}/__init__.py", f'"""{name}."""\n')
        repo.write(f"{directory}/tests/test_{module}.py", "")
        repo.write(f"{directory}/README.md", f"# {name}\n")
        if directory.startswith("services/"):
            repo.write(f"{directory}/Dockerfile", "FROM scratch\n")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    seed_workspace(r)
    r.commit("initial")
    return r


def edit(rel: str, text: str = "# edited\n") -> Callable[[GitRepo], None]:
    def apply(r: GitRepo) -> None:
        target = r.path / rel
        old = target.read_text() if target.exists() else ""
        r.write(rel, old + text)

    return apply


def set_lock(versions: Mapping[str, str] | None = None, **kw: Mapping[str, str]) -> Callable:
    return lambda r: r.write("uv.lock", lock_text(versions, **kw))


# --------------------------------------------------------------------------------------------
# first commit and unusable bases


@pytest.mark.parametrize("base", [None, "HEAD~1", "HEAD^"])
def test_everything_is_affected_when_the_commit_has_no_parent(
    repo: GitRepo, base: str | None
) -> None:
    assert repo.git("rev-list", "--count", "HEAD") == "1"
    assert repo.affected(base) == [*ALL, "infra"]


@pytest.mark.parametrize(
    "base",
    ["", "0" * 40, "1234567890abcdef1234567890abcdef12345678", "no-such-branch"],
)
def test_everything_is_affected_when_the_base_is_null_or_unknown(repo: GitRepo, base: str) -> None:
    repo.change(edit("docs/deploy.md"))
    assert repo.affected(base) == [*ALL, "infra"]


def test_nothing_is_affected_when_base_and_head_are_the_same_commit(repo: GitRepo) -> None:
    assert repo.affected("HEAD", "HEAD") == []


# --------------------------------------------------------------------------------------------
# the workspace dependency graph


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("packages/chat-domain/src/chat_domain/__init__.py", ALL),
        ("packages/read-model/src/read_model/__init__.py", ["query", "read-model-updater"]),
        ("packages/event-store/src/event_store/__init__.py", ["command", "read-model-updater"]),
        ("packages/telemetry/src/telemetry/__init__.py", ALL),
        ("packages/read-model/pyproject.toml", ["query", "read-model-updater"]),
        ("services/command/src/command_service/__init__.py", ["command"]),
        ("services/query/src/query_service/__init__.py", ["query"]),
        ("services/read-model-updater/src/read_model_updater/x.py", ["read-model-updater"]),
        ("services/command/Dockerfile", ["command"]),
        ("services/query/pyproject.toml", ["query"]),
    ],
)
def test_dependents_are_affected_when_a_workspace_member_changes(
    repo: GitRepo, path: str, expected: list[str]
) -> None:
    base, head = repo.change(edit(path))
    assert repo.affected(base, head) == expected


def test_a_new_dependent_is_affected_when_it_starts_depending_on_a_changed_package(
    repo: GitRepo,
) -> None:
    def query_depends_on_event_store(r: GitRepo) -> None:
        name, deps = MEMBERS["services/query"]
        r.write("services/query/pyproject.toml", _member_pyproject(name, [*deps, "event-store"]))

    base, head = repo.change(
        query_depends_on_event_store, edit("packages/event-store/src/event_store/__init__.py")
    )
    assert repo.affected(base, head) == ALL


def test_former_dependents_are_affected_when_a_package_is_deleted(repo: GitRepo) -> None:
    def drop_telemetry(r: GitRepo) -> None:
        r.git("rm", "-r", "-q", "packages/telemetry")
        name, deps = MEMBERS["services/query"]
        r.write(
            "services/query/pyproject.toml",
            _member_pyproject(name, [d for d in deps if d != "telemetry"]),
        )

    base, head = repo.change(drop_telemetry)
    assert repo.affected(base, head) == ALL


def test_only_dependents_are_affected_when_a_file_is_deleted(repo: GitRepo) -> None:
    base, head = repo.change(
        lambda r: r.git("rm", "-q", "packages/event-store/src/event_store/__init__.py")
    )
    assert repo.affected(base, head) == ["command", "read-model-updater"]


def test_both_sides_are_affected_when_a_file_moves_between_services(repo: GitRepo) -> None:
    repo.change(edit("services/command/src/command_service/shared.py", "X = 1\n"))
    base, head = repo.change(
        lambda r: r.git(
            "mv",
            "services/command/src/command_service/shared.py",
            "services/query/src/query_service/shared.py",
        )
    )
    assert repo.affected(base, head) == ["command", "query"]


def test_the_old_owner_is_affected_when_a_file_is_renamed_into_docs(repo: GitRepo) -> None:
    repo.change(edit("packages/read-model/src/read_model/notes.txt", "notes\n"))
    base, head = repo.change(
        lambda r: r.git("mv", "packages/read-model/src/read_model/notes.txt", "docs/notes.txt")
    )
    assert repo.affected(base, head) == ["query", "read-model-updater"]


def test_changes_accumulate_when_the_base_is_several_commits_back(repo: GitRepo) -> None:
    base, _ = repo.change(edit("services/query/src/query_service/__init__.py"))
    _, head = repo.change(edit("services/command/src/command_service/__init__.py"))
    assert repo.affected(base, head) == ["command", "query"]


def test_nothing_is_affected_when_a_change_was_reverted_before_head(repo: GitRepo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.change(edit("services/query/src/query_service/__init__.py"))
    repo.git("revert", "--no-edit", "HEAD")
    assert repo.affected(base, "HEAD") == []


# --------------------------------------------------------------------------------------------
# paths that cannot change a deployable, and paths that change all of them


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "docs/deploy.md",
        "docs/diagram.svg",
        "packages/chat-domain/README.md",
        "services/query/README.md",
        "infra/README.md",
        "packages/chat-domain/tests/test_chat_domain.py",
        "services/command/tests/conftest.py",
        "tests/e2e/test_flow.py",
        "conftest.py",
        "bench/cold_start.py",
        "src/cqrs_es/cli.py",
        "tools/gates",
        "tools/changed_services.py",
    ],
)
def test_nothing_is_affected_when_only_docs_tests_cli_or_tooling_change(
    repo: GitRepo, path: str
) -> None:
    base, head = repo.change(edit(path))
    assert repo.affected(base, head) == []


@pytest.mark.parametrize(
    "path", ["infra/sam/template.yaml", "infra/buildspec/build.sh", "infra/tofu/main.tf"]
)
def test_every_service_and_infra_are_affected_when_infrastructure_changes(
    repo: GitRepo, path: str
) -> None:
    base, head = repo.change(edit(path))
    assert repo.affected(base, head) == [*ALL, "infra"]


def test_every_service_is_affected_when_an_unknown_root_file_changes(repo: GitRepo) -> None:
    # .dockerignore shapes every image's build context; unknown paths are treated the same way.
    base, head = repo.change(edit(".dockerignore", "**/.venv\n"))
    assert repo.affected(base, head) == ALL


# --------------------------------------------------------------------------------------------
# uv.lock and the root pyproject


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ({"sqlalchemy": "2.0.31"}, ["query", "read-model-updater"]),
        ({"boto3": "1.35.0"}, ["command", "read-model-updater"]),
        ({"starlette": "0.39.0"}, ["command", "query"]),
        ({"opentelemetry-api": "1.28.0"}, ALL),
        ({"opentelemetry-sdk": "1.28.0"}, ALL),
        ({"pytest": "8.4.0"}, []),
    ],
)
def test_services_whose_closure_changed_are_affected_when_the_lock_changes(
    repo: GitRepo, versions: dict[str, str], expected: list[str]
) -> None:
    base, head = repo.change(set_lock(versions))
    assert repo.affected(base, head) == expected


def test_a_service_is_affected_when_a_dependency_marker_changes(repo: GitRepo) -> None:
    base, head = repo.change(set_lock(markers={"sqlalchemy": "sys_platform != 'win32'"}))
    assert repo.affected(base, head) == ["query", "read-model-updater"]


def test_nothing_is_affected_when_the_root_pyproject_changes_without_the_lock(
    repo: GitRepo,
) -> None:
    base, head = repo.change(edit("pyproject.toml", "\n[tool.mypy]\nstrict = true\n"))
    assert repo.affected(base, head) == []


def test_nothing_is_affected_when_a_dev_tool_is_added_to_pyproject_and_lock(
    repo: GitRepo,
) -> None:
    base, head = repo.change(
        lambda r: r.write("pyproject.toml", ROOT_PYPROJECT.replace('"pytest>=8"', '"pytest>=8.4"')),
        set_lock({"pytest": "8.4.0"}),
    )
    assert repo.affected(base, head) == []


def test_every_service_is_affected_when_the_lock_cannot_be_parsed(repo: GitRepo) -> None:
    base, head = repo.change(lambda r: r.write("uv.lock", "<<<<<<< HEAD\nversion = 1\n"))
    assert repo.affected(base, head) == ALL


def test_every_service_is_affected_when_the_lock_is_deleted(repo: GitRepo) -> None:
    base, head = repo.change(lambda r: r.git("rm", "-q", "uv.lock"))
    assert repo.affected(base, head) == ALL


def test_every_service_is_affected_when_the_lock_appears_for_the_first_time(
    tmp_path: Path,
) -> None:
    r = GitRepo(tmp_path / "repo")
    seed_workspace(r)
    (r.path / "uv.lock").unlink()
    r.commit("no lock yet")
    base, head = r.change(set_lock())
    assert r.affected(base, head) == ALL


# --------------------------------------------------------------------------------------------
# the command line


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Plain python3, no virtualenv: this is how CodeBuild runs it before installing anything.
    return subprocess.run(
        ["python3", str(TOOL), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_cli_prints_one_deployable_per_line_when_run_with_plain_python(repo: GitRepo) -> None:
    base, head = repo.change(edit("packages/read-model/src/read_model/__init__.py"))
    proc = _cli("--base", base, "--head", head, "--explain", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "query\nread-model-updater\n"
    assert "packages/read-model/src/read_model/__init__.py" in proc.stderr


def test_cli_prints_nothing_and_succeeds_when_nothing_is_affected(repo: GitRepo) -> None:
    base, head = repo.change(edit("docs/deploy.md"))
    proc = _cli("--base", base, "--head", head, "--repo", str(repo.path), cwd=ROOT)
    assert (proc.returncode, proc.stdout) == (0, "")


def test_cli_fails_with_a_message_when_the_head_does_not_exist(repo: GitRepo) -> None:
    proc = _cli("--base", "HEAD", "--head", "no-such-rev", cwd=repo.path)
    assert proc.returncode == 2
    assert "no-such-rev" in proc.stderr
