"""`cqrs-es create-dynamodb-tables` against moto."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cqrs_es.cli import main


@pytest.fixture
def client(moto_endpoint: str) -> Iterator[Any]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    yield client
    client.close()


@pytest.fixture
def names(client: Any) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:12]
    journal, snapshot = f"journal-{suffix}", f"snapshot-{suffix}"
    yield journal, snapshot
    existing = set(client.list_tables()["TableNames"])
    for name in {journal, snapshot} & existing:
        client.delete_table(TableName=name)


def test_creates_the_tables_then_reports_them_existing_when_run_twice(
    moto_endpoint: str,
    client: Any,
    names: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal, snapshot = names
    monkeypatch.setenv(
        "EVENT_STORE_URL",
        f"dynamodb://{journal}?snapshot_table={snapshot}&endpoint_url={moto_endpoint}",
    )

    assert main(["create-dynamodb-tables"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{journal}: created", f"{snapshot}: created"]
    assert main(["create-dynamodb-tables"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{journal}: already exists",
        f"{snapshot}: already exists",
    ]
    stream = client.describe_table(TableName=journal)["Table"]["StreamSpecification"]
    assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_url_option_wins_over_the_environment_when_both_are_given(
    moto_endpoint: str,
    client: Any,
    names: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal, snapshot = names
    monkeypatch.setenv("EVENT_STORE_URL", "sqlite:///var/events.db")
    url = f"dynamodb://{journal}?snapshot_table={snapshot}&endpoint_url={moto_endpoint}"

    assert main(["create-dynamodb-tables", "--url", url]) == 0
    assert {journal, snapshot} <= set(client.list_tables()["TableNames"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "set EVENT_STORE_URL"),
        ("sqlite:///var/events.db", "needs a dynamodb:// URL"),
        ("dynamodb://journal?shard=3", "unknown parameter"),
    ],
)
def test_exits_2_with_a_message_when_the_url_is_not_usable(
    url: str | None,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("EVENT_STORE_URL", raising=False)
    argv = ["create-dynamodb-tables"] + (["--url", url] if url else [])

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_exits_1_with_a_message_when_dynamodb_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = f"dynamodb://journal?endpoint_url=http://127.0.0.1:{closed_port}&region=us-east-1"

    assert main(["create-dynamodb-tables", "--url", url]) == 1
    assert "unreachable" in capsys.readouterr().err
