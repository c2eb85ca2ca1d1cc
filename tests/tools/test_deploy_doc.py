"""docs/deploy.md names only things that exist in this repository.

The deployment guide quotes repository paths, `cqrs-es` sub-commands with their options, the
options of the tools it runs, OpenTofu variables and outputs, the SAM template's parameters,
outputs and resources, the pipelines' stage names and the build scripts' log lines. Each is
checked here against its source of truth, so a rename fails this test instead of leaving the
guide silently wrong. The guide must also list every template parameter: a parameter added to
the template (an authorizer, say) fails here until the guide says who sets it.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cqrs_es.cli import SUBCOMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deploy.md"
TEMPLATE = ROOT / "infra" / "sam" / "template.yaml"
TOFU = ROOT / "infra" / "tofu"
BUILD_SCRIPTS = ("infra/buildspec/build.sh", "infra/buildspec/deploy.sh")

# A repository path: a top-level directory of this repository, then path characters. Not
# preceded by a path character, so "../infra/x" in links and "…/docs/…" in URLs do not count
# (links are checked on their own). `<placeholder>` segments match any name.
PATH = re.compile(
    r"(?<![\w./-])((?:infra|tools|services|packages|docs|tests|src)/[\w./<>*-]*[\w>*])"
)
SUBCOMMAND = re.compile(r"(?<![\w/-])cqrs-es[ \t]+([a-z][a-z0-9-]*)")
CODE_BLOCK = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CAMEL_CASE = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
# Inline names that belong to AWS or PostgreSQL, not to this repository.
EXTERNAL_NAMES = {"LastModified", "max_connections"}
# Lines of the build scripts the guide tells readers to look for.
LOG_MARKERS = (
    "SKIPPED:",
    "DEPLOYED:",
    "affected deployables:",
    "deployed commit",
    "no deployed image recorded in stack",
    "first deployment: waiting for",
)


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form intrinsics (!Ref, !Sub, …) as plain values."""


_CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@cache
def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


@cache
def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), _CloudFormationLoader)
    return loaded


def _tofu_names(kind: str) -> set[str]:
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(TOFU.glob("*.tf")))
    return set(re.findall(rf'^{kind}\s+"([^"]+)"', text, re.MULTILINE))


def _code_blocks(language: str | None = None) -> list[str]:
    return [body for lang, body in CODE_BLOCK.findall(_doc()) if language in (None, lang)]


def _prose() -> str:
    return CODE_BLOCK.sub("", _doc())


def _inline_code() -> list[str]:
    return INLINE_CODE.findall(_prose())


def _command_lines() -> list[str]:
    """Every shell line of the guide (continuations joined), and every inline code span."""
    lines = [
        line
        for body in _code_blocks()
        for line in re.sub(r"\\\n\s*", " ", body).splitlines()
        if line.strip()
    ]
    return lines + _inline_code()


def _words(line: str) -> list[str]:
    """The shell words of `line` up to the end of its first command."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote in prose: nothing to check
        return []
    for i, word in enumerate(words):
        if word in {"|", "||", "&&", ";", ">", "2>", "<"}:
            return words[:i]
    return words


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    prose = CODE_BLOCK.sub("", markdown)
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+)$", prose, re.MULTILINE):
        slug, n = _slug(heading), 1
        while slug in anchors:
            slug = f"{_slug(heading)}-{n}"
            n += 1
        anchors.add(slug)
    return anchors


def _has_anchor(path: Path, anchor: str) -> bool:
    return path.exists() and anchor in _anchors(path.read_text(encoding="utf-8"))


def _exists(path: str) -> bool:
    pattern = re.sub(r"<[^>]*>", "*", path)
    if "*" in pattern:
        return any(ROOT.glob(pattern))
    return (ROOT / pattern).exists()


def test_every_repository_path_exists_when_the_guide_mentions_it() -> None:
    paths = set(PATH.findall(_doc()))
    assert paths, "no repository paths found: has the pattern stopped matching?"
    assert sorted(p for p in paths if not _exists(p)) == []


def test_every_link_resolves_when_the_guide_links_a_file_or_heading() -> None:
    broken = []
    for target in set(LINK.findall(_doc())):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        path = (DOC.parent / file_part).resolve() if file_part else DOC
        anchor_missing = bool(anchor) and path.suffix == ".md" and not _has_anchor(path, anchor)
        if not path.exists() or anchor_missing:
            broken.append(target)
    assert broken == []


def test_every_cqrs_es_subcommand_exists_when_the_guide_names_it() -> None:
    named = set(SUBCOMMAND.findall(_doc()))
    assert named, "the guide no longer names any cqrs-es sub-command"
    assert sorted(named - set(SUBCOMMANDS)) == []


def test_every_cqrs_es_invocation_parses_when_the_guide_shows_its_options() -> None:
    rejected = []
    for line in _command_lines():
        match = SUBCOMMAND.search(line)
        if not match:
            continue
        words = _words(line[match.start() :])
        if len(words) < 2 or words[1] not in SUBCOMMANDS:
            continue  # unknown sub-commands fail the test above
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                build_parser(words[1]).parse_args(words[1:])
        except SystemExit:
            rejected.append(f"{' '.join(words)}: {stderr.getvalue().strip()}")
    assert rejected == []


def test_every_tool_option_exists_when_the_guide_runs_a_tool() -> None:
    unknown = []
    for line in _command_lines():
        words = _words(line)
        for i, word in enumerate(words):
            if not re.fullmatch(r"tools/[\w-]+\.py", word):
                continue
            help_text = _tool_help(word)
            unknown += [
                f"{word} {option}"
                for option in words[i + 1 :]
                if option.startswith("--") and option.split("=")[0] not in help_text
            ]
    assert unknown == []


@cache
def _tool_help(tool: str) -> str:
    result = subprocess.run(
        [sys.executable, tool, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def _tfvars_keys() -> tuple[set[str], set[str]]:
    """Top-level keys of the guide's HCL examples, and the keys of their `stack_parameters`."""
    top: set[str] = set()
    stack: set[str] = set()
    for body in _code_blocks("hcl"):
        depth, in_stack = 0, False
        for raw in body.splitlines():
            line = raw.split("#", 1)[0]
            key = re.match(r"\s*([A-Za-z_][\w-]*)\s*=", line)
            if key and depth == 0:
                top.add(key.group(1))
                in_stack = key.group(1) == "stack_parameters"
            elif key and depth == 1 and in_stack:
                stack.add(key.group(1))
            depth += line.count("{") - line.count("}")
    return top, stack


def test_every_tofu_variable_exists_when_the_guide_sets_or_names_it() -> None:
    variables, outputs = _tofu_names("variable"), _tofu_names("output")
    top, _ = _tfvars_keys()
    assert top, "the guide has no tfvars example"
    named = {s for s in _inline_code() if SNAKE_CASE.fullmatch(s)} - EXTERNAL_NAMES
    assert sorted(top - variables) == []
    assert sorted(named - variables - outputs) == []


def test_every_tofu_output_exists_when_the_guide_reads_it() -> None:
    outputs = _tofu_names("output")
    read = set(re.findall(r"\btofu output(?:\s+-\w+)*\s+([a-z_]+)", _doc()))
    read |= set(re.findall(r"\$\(tf ([a-z_]+)\)", _doc()))  # the guide's `tf` helper
    assert read, "the guide reads no tofu outputs"
    assert sorted(read - outputs) == []


def _override_keys() -> set[str]:
    keys: set[str] = set()
    for line in _command_lines():
        words = _words(line)
        if "--parameter-overrides" not in words:
            continue
        for word in words[words.index("--parameter-overrides") + 1 :]:
            if word.startswith("--"):
                break
            keys.add(word.split("=", 1)[0])
    return keys


def test_every_template_name_exists_when_the_guide_uses_it() -> None:
    template = _template()
    parameters = set(template["Parameters"])
    outputs = set(template["Outputs"])
    resources = set(template["Resources"])
    pipeline = (TOFU / "codepipeline.tf").read_text(encoding="utf-8")
    stages = set(re.findall(r'\b(?:name|namespace)\s*=\s*"([A-Za-z]+)"', pipeline))
    _, stack_keys = _tfvars_keys()
    doc = _doc()

    assert sorted(stack_keys - parameters) == []
    assert sorted(_override_keys() - parameters) == [], "--parameter-overrides of unknown names"
    assert sorted(set(re.findall(r"ParameterKey=='(\w+)'", doc)) - parameters) == []
    assert sorted(set(re.findall(r"OutputKey=='(\w+)'", doc)) - outputs) == []
    assert sorted(set(re.findall(r"--logical-resource-id (\w+)", doc)) - resources) == []
    assert sorted(set(re.findall(r"--stage-name (\w+)", doc)) - stages) == []
    camel = {s for s in _inline_code() if CAMEL_CASE.fullmatch(s)} - EXTERNAL_NAMES
    assert sorted(camel - parameters - outputs - resources - stages) == []


def test_every_template_parameter_is_listed_when_the_template_declares_it() -> None:
    section = _doc().partition("## Template parameters")[2]
    assert section, "the guide lost its template parameter table"
    missing = [p for p in _template()["Parameters"] if f"`{p}`" not in section]
    assert missing == [], "add these parameters to the table in docs/deploy.md"


def test_every_log_line_exists_when_the_guide_says_to_look_for_it() -> None:
    scripts = "\n".join((ROOT / path).read_text(encoding="utf-8") for path in BUILD_SCRIPTS)
    assert [m for m in LOG_MARKERS if m not in _doc()] == []
    assert [m for m in LOG_MARKERS if m not in scripts] == []
    for variable in ("BUILD_SKIPPED", "IMAGE_URI"):
        for spec in ("command", "query", "read-model-updater"):
            text = (ROOT / "infra" / "buildspec" / f"{spec}.yml").read_text(encoding="utf-8")
            assert f"- {variable}" in text, f"{spec}.yml does not export {variable}"


def test_parser_rejects_an_unknown_option_when_checking_invocations() -> None:
    """The invocation check above would be vacuous if the parser accepted anything."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            build_parser("migrate").parse_args(["migrate", "--no-such-option"])
    except SystemExit:
        return
    raise AssertionError("argparse accepted an unknown option")
