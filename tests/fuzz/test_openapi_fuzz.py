"""schemathesis against both services' OpenAPI documents, on the real processes.

Every operation goes through schemathesis' phases (examples, coverage, fuzzing and, for the
command service, stateful sequences that follow the links added below), with a fixed seed and a
bounded number of examples per operation. Every response must be a non-5xx, documented status
with the documented content type and a body that conforms to the documented schema.

Generated ids are mostly garbage (400s) or unknown (404s); ids that exist are drawn from a
dictionary half of the time so that the domain rules and the read paths are reached too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

pytestmark = pytest.mark.slow

SEED = 20261128
MAX_EXAMPLES = 30
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
RUN_TIMEOUT = 240.0  # seconds; a run takes ~20 s here

# Existing ids for each parameter that holds one: (where, name) -> dictionary.
_ID_PARAMETERS = {
    "path.groupChatId": "group_chats",
    "path.messageId": "messages",
    "path.memberUserAccountId": "users",
    "query.userAccountId": "users",
    "body.groupChatId": "group_chats",
    "body.messageId": "messages",
    "body.userAccountId": "users",
    "body.executorId": "users",
}


def _toml_strings(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def schemathesis_config(seeded: Any, *, probability: float = 0.5) -> str:
    """schemathesis.toml: the seeded ids as dictionaries, drawn with `probability`."""
    lines = [
        "[dictionaries.users]",
        f"values = {_toml_strings(seeded.users)}",
        "[dictionaries.group_chats]",
        f"values = {_toml_strings(seeded.group_chats)}",
        "[dictionaries.messages]",
        f"values = {_toml_strings(seeded.messages)}",
        "[parameters]",
    ]
    lines += [
        f'"{name}" = {{ dictionary = "{dictionary}", probability = {probability} }}'
        for name, dictionary in _ID_PARAMETERS.items()
    ]
    return "\n".join(lines) + "\n"


def _link(target: str, **body: str) -> dict[str, Any]:
    return {"operationId": target, "requestBody": body}


def with_command_links(document: dict[str, Any]) -> dict[str, Any]:
    """The command service's document with OpenAPI links for stateful sequences.

    A chat's creator may do everything to it: the chat id comes from the response, the
    executor from the request. A posted message may then be edited or deleted by its sender.
    """
    same_chat = {"groupChatId": "$response.body#/groupChatId"}
    same_executor = {"executorId": "$request.body#/executorId"}
    chat_links = {
        target: _link(target, **same_chat, **same_executor)
        for target in (
            "renameGroupChat",
            "deleteGroupChat",
            "addMember",
            "removeMember",
            "postMessage",
        )
    }
    message_links = {
        target: _link(target, **same_chat, **same_executor, messageId="$response.body#/messageId")
        for target in ("editMessage", "deleteMessage")
    }
    member_links = {  # the member just added posts
        "postMessage": _link("postMessage", **same_chat, executorId="$request.body#/userAccountId"),
        "removeMember": _link(
            "removeMember",
            **same_chat,
            **same_executor,
            userAccountId="$request.body#/userAccountId",
        ),
    }
    links = {
        ("/command/v1/group-chats/create", "201"): chat_links,
        ("/command/v1/group-chats/post-message", "201"): message_links,
        ("/command/v1/group-chats/add-member", "200"): member_links,
    }
    for (path, status), by_target in links.items():
        response = document["paths"][path]["post"]["responses"][status]
        response["links"] = by_target
    return document


def run_schemathesis(
    location: str, *, workdir: Path, config: str, base_url: str | None = None
) -> dict[str, Any]:
    """Run `schemathesis run` in `workdir` (its caches go there); returns its JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "schemathesis.toml").write_text(config)
    report = workdir / "report.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        "schemathesis.toml",
        "--no-color",
        "run",
        location,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    if base_url:
        command += ["--url", base_url]
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    (workdir / "output.txt").write_text(result.stdout + result.stderr)
    assert report.exists(), result.stdout + result.stderr
    data: dict[str, Any] = json.loads(report.read_text())
    data["_output"] = result.stdout[-20000:]
    data["_exit_code"] = result.returncode
    return data


def server_errors(report: dict[str, Any]) -> int:
    """How many failures were 5xx responses."""
    return sum(
        1
        for failure in report.get("failures", [])
        for check in _checks_of(failure)
        if check == "not_a_server_error"
    )


def _checks_of(failure: Any) -> list[str]:
    text = json.dumps(failure)
    return [name for name in CHECKS if name in text]


def _assert_clean(report: dict[str, Any]) -> None:
    assert report["test_cases"]["with_failures"] == 0, report["_output"]
    assert not report["failures"], report["_output"]
    assert not report["errors"], report["_output"]
    assert report["_exit_code"] == 0, report["_output"]
    assert report["operations"]["tested"] == report["operations"]["total"], report["_output"]


def test_every_command_response_is_documented_and_no_5xx_when_fuzzed(
    fuzz_stack: Any, tmp_path: Path, reliability: Any
) -> None:
    document = httpx2.get(f"{fuzz_stack.command_url}/openapi.json", timeout=30).json()
    schema_file = tmp_path / "command-openapi.json"
    schema_file.write_text(json.dumps(with_command_links(document)))
    origin = fuzz_stack.command_url.removesuffix("/command")

    report = run_schemathesis(
        str(schema_file),
        workdir=tmp_path / "run",
        config=schemathesis_config(fuzz_stack.seeded),
        base_url=origin,
    )

    reliability.record(
        "fuzz",
        "command service REST (schemathesis)",
        operations=report["operations"]["tested"],
        cases=report["test_cases"]["generated"],
        stateful=report["phases"]["stateful"]["status"],
        server_errors=server_errors(report),
        failures=report["test_cases"]["with_failures"],
        seed=SEED,
        max_examples=MAX_EXAMPLES,
    )
    _assert_clean(report)
    assert report["phases"]["stateful"]["status"] == "success", report["_output"]


def test_every_query_response_is_documented_and_no_5xx_when_fuzzed(
    fuzz_stack: Any, tmp_path: Path, reliability: Any
) -> None:
    report = run_schemathesis(
        f"{fuzz_stack.query_url}/openapi.json",
        workdir=tmp_path / "run",
        config=schemathesis_config(fuzz_stack.seeded),
    )

    reliability.record(
        "fuzz",
        "query service REST (schemathesis)",
        operations=report["operations"]["tested"],
        cases=report["test_cases"]["generated"],
        server_errors=server_errors(report),
        failures=report["test_cases"]["with_failures"],
        seed=SEED,
        max_examples=MAX_EXAMPLES,
    )
    _assert_clean(report)
