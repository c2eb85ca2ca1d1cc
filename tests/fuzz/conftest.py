"""Fixtures of the fuzz suite: the real command, query and updater processes on SQLite files
(`cqrs_es.testing`), with a little data in them so that generated requests get past the 404s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2
import pytest

from cqrs_es.testing import Backend, ServiceStack, eventually
from cqrs_es.testing.fixtures import (  # noqa: F401 (fixtures and hooks, found by name)
    process_harness,
    pytest_runtest_makereport,
)
from cqrs_es.testing.reliability import (  # noqa: F401 (a fixture and hooks, found by name)
    pytest_runtest_logreport,
    pytest_sessionfinish,
    reliability,
)

ALICE = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE1A"
BOB = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE2B"
STRANGER = "UserAccount-01H42K4ABWQ5V2XQEP3A48VE4D"


@dataclass
class Seeded:
    """Ids that exist in the stack's stores, for the fuzzers' dictionaries."""

    users: list[str] = field(default_factory=list)
    group_chats: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


@dataclass
class FuzzStack:
    """The running services and the ids seeded into them."""

    stack: ServiceStack
    seeded: Seeded

    @property
    def command_url(self) -> str:
        """Base URL of the command service (`http://host:port/command`)."""
        return self.stack.command_url

    @property
    def query_url(self) -> str:
        """Base URL of the query service (`http://host:port/query`)."""
        return self.stack.query_url


def _seed(command_url: str, query_url: str) -> Seeded:
    """Two chats (one deleted), two members, three messages; waits until they are projected."""
    seeded = Seeded(users=[ALICE, BOB, STRANGER])
    with httpx2.Client(base_url=f"{command_url}/v1/group-chats", timeout=30) as http:

        def post(path: str, **body: str) -> dict[str, str]:
            response = http.post(path, json=body)
            assert response.status_code in (200, 201), response.text
            result: dict[str, str] = response.json()
            return result

        chat = post("/create", name="fuzzing", executorId=ALICE)["groupChatId"]
        post("/add-member", groupChatId=chat, userAccountId=BOB, role="member", executorId=ALICE)
        for sender, text in ((ALICE, "hello"), (BOB, "hi"), (ALICE, "bye")):
            message = post("/post-message", groupChatId=chat, content=text, executorId=sender)
            seeded.messages.append(message["messageId"])
        deleted = post("/create", name="gone", executorId=ALICE)["groupChatId"]
        post("/delete", groupChatId=deleted, executorId=ALICE)
        seeded.group_chats += [chat, deleted]

    url = f"{query_url}/v1/group-chats/{chat}/messages"
    eventually(
        lambda: httpx2.get(url, params={"userAccountId": ALICE}, timeout=10),
        lambda r: r.status_code == 200 and len(r.json()["items"]) == 3,
        "the seeded messages projected into the read model",
    )
    return seeded


@pytest.fixture(scope="session")
def fuzz_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzStack]:
    """`cqrs-es command`, `query` and `updater` on fresh SQLite files, with seeded data.

    Shared by the fuzz tests of a session: they only add garbage and chats of their own.
    """
    directory = tmp_path_factory.mktemp("fuzz-stack")
    with process_harness(request, directory / "processes") as harness:
        stack = harness.services(Backend.sqlite(directory / "data"))
        yield FuzzStack(stack, _seed(stack.command_url, stack.query_url))
