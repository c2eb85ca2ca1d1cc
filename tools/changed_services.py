#!/usr/bin/env python3
"""Tell which deployables a change between two commits affects.

Usage::

    python3 tools/changed_services.py --base REV --head REV [--repo DIR] [--explain]

Prints the affected deployables, one per line, in a stable order: the services (``command``,
``query``, ``read-model-updater`` — the directory names of the workspace members under
``services/``) and ``infra`` when infrastructure changed. Exit status 0 even when nothing is
affected (an empty answer is an answer); 2 when the head revision or the repository is unusable.

The answer comes from the uv workspace's dependency graph, not from path patterns alone:

* a path inside a workspace member (``packages/X/…``, ``services/S/…``, including a service's
  Dockerfile) affects every service that depends on that member, directly or transitively, in
  the base *or* the head revision (so adding or dropping a dependency is caught either way);
* ``uv.lock`` or the root ``pyproject.toml``: each service's resolved dependency closure is read
  from the lock at both revisions and compared; a service is affected when its closure differs,
  and every service is affected when that cannot be told (lock missing or unparsable);
* ``infra/**`` affects every service and ``infra``;
* documentation, tests, benchmarks, the local CLI and repository tooling affect nothing (see
  ``_classify`` for the list and the reasons);
* anything else affects every service: an unnecessary build costs minutes, a missed deploy
  leaves production silently behind ``main``.

Renames count twice (old and new path), deletions count like edits, and the revisions are
compared tree to tree, so ``--base`` may be any earlier commit (for example the one currently
deployed), not only the parent. Without a usable ``--base`` (missing, the all-zero SHA that
webhooks send for a new branch, or unknown to this clone) the empty tree is the base and
everything present at head counts as changed.

Standard library and the ``git`` CLI only: it runs as plain ``python3`` (3.11+) in a CodeBuild
container before any dependency is installed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any

INFRA = "infra"
SERVICES_DIR = "services"
# Used only when no revision has a readable workspace: the deployables the pipelines know.
DEFAULT_SERVICES = ("command", "query", "read-model-updater")

# Paths that never change what is deployed. Each entry: (predicate description, reason).
# Documentation: not copied into images and not read by the SAM template.
DOC_SUFFIXES = (".md",)
DOC_DIRS = ("docs/",)
# Tests and benchmarks run in CI only; images are built with `--no-dev` and without tests.
TEST_DIR_NAMES = frozenset({"tests"})
TEST_DIRS = ("bench/",)
TEST_FILES = frozenset({"conftest.py"})
# The root package (src/cqrs_es: the local `cqrs-es` CLI) depends on every service, never the
# other way round: the import contracts forbid services from importing cqrs_es, and each image
# installs only its own service package and that package's dependency closure. A CLI change
# therefore cannot alter any Lambda deployable.
ROOT_PACKAGE_DIRS = ("src/",)
# Repository tooling and CI plumbing: they run around the build, not inside an image. (This file
# included: a change to change detection does not change what any image contains.)
TOOLING_DIRS = ("tools/", ".ci/", ".github/")
TOOLING_FILES = frozenset(
    {
        ".gitignore",
        ".gitattributes",
        ".editorconfig",
        ".pre-commit-config.yaml",
        "LICENSE",
        "compose.yaml",
    }
)


class ChangeDetectionError(Exception):
    """The repository or a revision cannot be used; the message says why."""


# --------------------------------------------------------------------------------------------
# git access


@dataclass(frozen=True)
class Repo:
    """Read-only access to one git repository through the git CLI."""

    path: str

    @cached_property
    def empty_tree(self) -> str:
        """The id of the empty tree in this repository's hash format.

        (4b825dc642cb6eb9a060e54bf8d69288fbee4904 for SHA-1; computed, not hard-coded, so a
        SHA-256 repository works too. git resolves it without the object being stored.)
        """
        return self._run("hash-object", "-t", "tree", "/dev/null").stdout.decode().strip()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            ["git", "-C", self.path, *args],
            capture_output=True,
            check=False,
        )
        if check and proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            raise ChangeDetectionError(f"git {' '.join(args)} failed: {err}")
        return proc

    def commit(self, rev: str) -> str | None:
        """The full SHA of commit ``rev``, or None when this clone does not have it."""
        proc = self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().strip()

    def changed_paths(self, base: str, head: str) -> set[str]:
        """Every path that differs between two trees; a rename yields both of its paths."""
        # --no-renames reports a rename as a deletion plus an addition, so both paths are seen
        # without parsing rename records; -z keeps unusual file names intact.
        out = self._run("diff", "--no-renames", "--name-only", "-z", base, head).stdout
        return {p for p in out.decode().split("\0") if p}

    def files(self, rev: str) -> list[str]:
        """All file paths in the tree of ``rev``."""
        if rev == self.empty_tree:
            return []
        out = self._run("ls-tree", "-r", "-z", "--name-only", rev).stdout
        return [p for p in out.decode().split("\0") if p]

    def read(self, rev: str, path: str) -> bytes | None:
        """The content of ``path`` at ``rev``, or None when it does not exist there."""
        if rev == self.empty_tree:
            return None
        proc = self._run("cat-file", "blob", f"{rev}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None


# --------------------------------------------------------------------------------------------
# the workspace dependency graph

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str | None:
    match = _NAME_RE.match(requirement)
    return normalize(match.group(1)) if match else None


def _load_toml(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def _glob_match(path: str, pattern: str) -> bool:
    # uv expands member globs per path segment: `packages/*` matches `packages/x`, not
    # `packages/x/y`. fnmatch alone would let `*` cross `/`.
    pattern = pattern.strip("/")
    if "**" in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(
        fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pats, strict=True)
    )


@dataclass
class Workspace:
    """The members of a uv workspace at one revision and their workspace dependencies."""

    # member directory (repo-relative, no trailing slash) -> normalized package name
    names: dict[str, str] = field(default_factory=dict)
    # normalized package name -> normalized names of the workspace members it depends on
    deps: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, repo: Repo, rev: str) -> Workspace | None:
        """Read the workspace at ``rev``; None when its root pyproject is missing or broken."""
        root = _load_toml(repo.read(rev, "pyproject.toml"))
        if root is None:
            return None
        ws_table = root.get("tool", {}).get("uv", {}).get("workspace")
        if not isinstance(ws_table, dict):
            return None
        include = [str(p) for p in ws_table.get("members", [])]
        exclude = [str(p) for p in ws_table.get("exclude", [])]
        workspace = cls()
        requirements: dict[str, list[str]] = {}
        for path in repo.files(rev):
            if not path.endswith("/pyproject.toml"):
                continue
            directory = path.rsplit("/", 1)[0]
            if not any(_glob_match(directory, p) for p in include):
                continue
            if any(_glob_match(directory, p) for p in exclude):
                continue
            project = (_load_toml(repo.read(rev, path)) or {}).get("project", {})
            if not isinstance(project, dict) or "name" not in project:
                continue
            name = normalize(str(project["name"]))
            workspace.names[directory] = name
            reqs = [str(r) for r in project.get("dependencies", [])]
            # Extras count too: a service that installs `telemetry[otel]` gets whatever the
            # extra pulls in. Dependency groups (dev tools) never reach an image.
            for extra in (project.get("optional-dependencies") or {}).values():
                reqs.extend(str(r) for r in extra)
            requirements[name] = reqs
        members = set(workspace.names.values())
        for name, reqs in requirements.items():
            found = {_requirement_name(r) for r in reqs}
            workspace.deps[name] = {d for d in found if d in members and d != name}
        return workspace

    def member_of(self, path: str) -> str | None:
        """The package name of the member whose directory contains ``path``."""
        best: str | None = None
        for directory in self.names:
            if path.startswith(directory + "/") and (best is None or len(directory) > len(best)):
                best = directory
        return self.names[best] if best is not None else None

    def services(self) -> dict[str, str]:
        """Deployable name (directory under services/) -> package name."""
        return {
            directory.split("/", 1)[1]: name
            for directory, name in self.names.items()
            if directory.startswith(SERVICES_DIR + "/") and directory.count("/") == 1
        }

    def depends_on(self, package: str, target: str) -> bool:
        """Whether ``package`` is ``target`` or depends on it, directly or transitively."""
        seen: set[str] = set()
        stack = [package]
        while stack:
            current = stack.pop()
            if current == target:
                return True
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.deps.get(current, ()))
        return False


# --------------------------------------------------------------------------------------------
# resolved dependency closures from uv.lock

Closure = frozenset[tuple[str, ...]]
# How uv.lock marks a package built from the workspace rather than downloaded.
WORKSPACE_SOURCES = frozenset({"editable", "virtual", "workspace"})


def _source_key(source: object) -> str:
    return json.dumps(source, sort_keys=True)


def lock_closures(data: bytes | None, packages: Iterable[str]) -> dict[str, Closure] | None:
    """Each package's resolved runtime dependency closure in a uv.lock, or None if unreadable.

    A closure is the set of (name, version, source) of every package installed with it plus
    every dependency edge with its environment marker and extras, so a new version, a new
    source, a dependency added or dropped, or a marker change all make it differ. Development
    dependency groups are not followed: images install without them. Every extra of a
    workspace member is followed, requested or not: an image may install a member's extras on
    top of its service (the Dockerfiles add ``telemetry[otel,aws]`` for trace export), and
    counting one extra too many costs a build where one too few would skip a deploy.
    """
    lock = _load_toml(data)
    if lock is None or not isinstance(lock.get("package"), list):
        return None
    index: dict[str, list[dict[str, Any]]] = {}
    for entry in lock["package"]:
        if isinstance(entry, dict) and "name" in entry:
            index.setdefault(normalize(str(entry["name"])), []).append(entry)

    def candidates(dep: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = index.get(normalize(str(dep.get("name", ""))), [])
        # The lock names a version or source only when one name resolves several ways (forked
        # resolution); otherwise every entry of that name is a candidate.
        if "version" in dep:
            found = [e for e in found if e.get("version") == dep["version"]]
        if "source" in dep:
            found = [e for e in found if e.get("source") == dep["source"]]
        return found

    def walk(root: dict[str, Any]) -> Closure:
        items: set[tuple[str, ...]] = set()
        visited: set[tuple[int, str]] = set()
        stack: list[tuple[dict[str, Any], str]] = [(root, "")]
        while stack:
            entry, extra = stack.pop()
            if (id(entry), extra) in visited:
                continue
            visited.add((id(entry), extra))
            name = normalize(str(entry["name"]))
            version = str(entry.get("version", ""))
            source = entry.get("source")
            items.add(("node", name, version, _source_key(source)))
            if not extra and isinstance(source, dict) and WORKSPACE_SOURCES & source.keys():
                stack.extend((entry, e) for e in entry.get("optional-dependencies") or {})
            if extra:
                deps = (entry.get("optional-dependencies") or {}).get(extra, [])
            else:
                deps = entry.get("dependencies", [])
            for dep in deps:
                if not isinstance(dep, dict):
                    continue
                extras = sorted(str(e) for e in dep.get("extra", []))
                items.add(
                    (
                        "edge",
                        name,
                        version,
                        extra,
                        normalize(str(dep.get("name", ""))),
                        str(dep.get("marker", "")),
                        ",".join(extras),
                    )
                )
                for target in candidates(dep):
                    stack.append((target, ""))
                    stack.extend((target, e) for e in extras)
        return frozenset(items)

    closures: dict[str, Closure] = {}
    for package in packages:
        roots = index.get(normalize(package), [])
        if roots:
            closures[package] = frozenset().union(*(walk(r) for r in roots))
    return closures


# --------------------------------------------------------------------------------------------
# classification


@dataclass
class Analysis:
    """The affected deployables and, per changed path, what it affected and why."""

    affected: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)


def _is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        any(part in TEST_DIR_NAMES for part in parts[:-1])
        or parts[-1] in TEST_FILES
        or path.startswith(TEST_DIRS)
    )


def _classify(path: str) -> str | None:
    """The reason a path cannot affect any deployable, or None when it may."""
    if path.endswith(DOC_SUFFIXES) or path.startswith(DOC_DIRS):
        return "documentation"
    if _is_test_path(path):
        return "tests or benchmarks"
    if path.startswith(ROOT_PACKAGE_DIRS):
        return "local CLI (root package; no service depends on it)"
    if path.startswith(TOOLING_DIRS) or path in TOOLING_FILES:
        return "repository tooling"
    return None


def _ordered(names: Iterable[str]) -> list[str]:
    """The known services in pipeline order, then any other service by name, then infra."""
    rank = {name: i for i, name in enumerate(DEFAULT_SERVICES)}
    rank[INFRA] = len(rank) + 1
    return sorted(set(names), key=lambda n: (rank.get(n, len(DEFAULT_SERVICES)), n))


def analyse(repo: Repo, base: str, head: str) -> Analysis:
    """Affected deployables between two resolved revisions (``base`` may be the empty tree)."""
    paths = repo.changed_paths(base, head)
    analysis = Analysis()
    if not paths:
        return analysis
    workspaces = [ws for ws in (Workspace.load(repo, base), Workspace.load(repo, head)) if ws]
    services: dict[str, set[str]] = {}  # deployable -> package names (at either revision)
    for ws in workspaces:
        for deployable, package in ws.services().items():
            services.setdefault(deployable, set()).add(package)
    all_services = set(services) or set(DEFAULT_SERVICES)

    def affect(path: str, hit: Iterable[str], why: str) -> None:
        names = _ordered(hit)
        analysis.affected.update(names)
        shown = ", ".join(names) if names else "nothing"
        analysis.reasons.append(f"{path}: {shown} ({why})")

    lock_paths = {"uv.lock", "pyproject.toml"} & paths
    for path in sorted(paths - lock_paths):
        reason = _classify(path)
        if reason is not None:
            affect(path, (), reason)
            continue
        if path.startswith(INFRA + "/"):
            affect(path, {*all_services, INFRA}, "infrastructure")
            continue
        hit: set[str] = set()
        owners: set[str] = set()
        for ws in workspaces:
            member = ws.member_of(path)
            if member is None:
                continue
            owners.add(member)
            for deployable, package in ws.services().items():
                if ws.depends_on(package, member):
                    hit.add(deployable)
        if owners:
            affect(path, hit, f"in workspace member {', '.join(sorted(owners))}")
            continue
        top = path.split("/", 2)
        if top[0] == SERVICES_DIR and len(top) > 2:
            # A service directory that is no workspace member at either revision (its
            # pyproject is broken or gone): still that service's own build input.
            affect(path, {top[1]}, "service directory outside the workspace")
            continue
        affect(path, all_services, "not known to be build-neutral")

    if lock_paths:
        shown = " and ".join(sorted(lock_paths))
        packages = {p for names in services.values() for p in names}
        before = lock_closures(repo.read(base, "uv.lock"), packages)
        after = lock_closures(repo.read(head, "uv.lock"), packages)
        if before is None or after is None:
            affect(shown, all_services, "lock missing or unparsable at one revision")
        else:
            changed = {
                deployable
                for deployable, names in services.items()
                if any(p not in before or p not in after or before[p] != after[p] for p in names)
            }
            affect(shown, changed, "resolved dependency closures compared")
    return analysis


def resolve_base(repo: Repo, base: str | None) -> tuple[str, str | None]:
    """The base to diff against and, when it had to fall back, a note saying why."""
    if not base or set(base) == {"0"}:
        return repo.empty_tree, "no base revision given: comparing against the empty tree"
    if base == repo.empty_tree:
        return base, None
    sha = repo.commit(base)
    if sha is None:
        note = f"base {base!r} is not a commit in this clone: comparing against the empty tree"
        return repo.empty_tree, note
    return sha, None


def affected_deployables(repo_path: str, base: str | None, head: str = "HEAD") -> list[str]:
    """Affected deployables between ``base`` and ``head`` in a stable order."""
    repo = Repo(repo_path)
    head_sha = repo.commit(head)
    if head_sha is None:
        raise ChangeDetectionError(f"head revision {head!r} does not exist")
    base_sha, _ = resolve_base(repo, base)
    return _ordered(analyse(repo, base_sha, head_sha).affected)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        description="Print the deployables affected by the changes between two revisions.",
    )
    parser.add_argument(
        "--base",
        help="earlier revision (e.g. the deployed commit); missing, all-zero or unknown means "
        "the empty tree, i.e. everything counts as changed",
    )
    parser.add_argument("--head", default="HEAD", help="later revision (default: HEAD)")
    parser.add_argument("--repo", default=".", help="repository directory (default: .)")
    parser.add_argument(
        "--explain", action="store_true", help="say on stderr why each changed path matters"
    )
    args = parser.parse_args(argv)
    repo = Repo(args.repo)
    try:
        head = repo.commit(args.head)
        if head is None:
            raise ChangeDetectionError(f"head revision {args.head!r} does not exist")
        base, note = resolve_base(repo, args.base)
        if note:
            print(f"changed_services: {note}", file=sys.stderr)
        analysis = analyse(repo, base, head)
    except ChangeDetectionError as exc:
        print(f"changed_services: {exc}", file=sys.stderr)
        return 2
    if args.explain:
        for line in analysis.reasons or ["no changed paths"]:
            print(f"  {line}", file=sys.stderr)
    for name in _ordered(analysis.affected):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
