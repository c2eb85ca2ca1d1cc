"""`MessageIndex` against a plain model: random posts, edits and deletes, past tail merges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from chat_domain import MessageId, Ulid, UserAccountId
from chat_domain.message_index import RECORD_SIZE, MessageIndex
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SENDERS = [UserAccountId(Ulid.from_parts(1_700_000_000_000, i)) for i in range(5)]


@dataclass(frozen=True)
class Op:
    kind: str  # "post" (a burst of `size` posts), "edit", "delete", "delete_unknown"
    size: int
    pick: int
    sender: int


ops = st.builds(
    Op,
    kind=st.sampled_from(["post", "post", "edit", "delete", "delete", "delete_unknown"]),
    size=st.integers(1, 300),
    pick=st.integers(0, 10_000),
    sender=st.integers(0, len(SENDERS) - 1),
)

Model = dict[MessageId, tuple[UserAccountId, datetime] | None]  # None: deleted


def check(index: MessageIndex, model: Model) -> None:
    live = [(i, *m) for i, m in model.items() if m is not None]
    assert index.count == len(model)
    assert index.live_count == len(live)
    assert list(index.live()) == live
    assert index.deleted_ids() == {i for i, m in model.items() if m is None}
    for message_id, known in list(model.items())[-3:]:
        assert message_id in index
        assert index.find(message_id) == known
    unknown = MessageId(Ulid.from_parts(1, 1))
    assert unknown not in index
    assert index.find(unknown) is None
    # The bytes carry it all: read back, and rebuilt from objects, it is the same index.
    assert MessageIndex.from_records(index.records, index.senders) == index
    rebuilt = MessageIndex.from_messages(live, (i for i, m in model.items() if m is None))
    assert rebuilt == index
    assert hash(rebuilt) == hash(index)


@given(plan=st.lists(ops, min_size=1, max_size=12))
@settings(max_examples=60, deadline=None)
def test_index_matches_a_model_when_messages_are_posted_edited_and_deleted(plan: list[Op]) -> None:
    index = MessageIndex()
    model: Model = {}
    serial = 0
    for op in plan:
        ids = list(model)
        if op.kind == "post":
            for _ in range(op.size):
                serial += 1
                message_id = MessageId(Ulid.from_parts(1_700_000_000_000 + serial, serial))
                sender = SENDERS[(op.sender + serial) % len(SENDERS)]
                created = T0 + timedelta(milliseconds=serial)
                index = index.posted(message_id, sender, created)
                model[message_id] = (sender, created)
        elif op.kind == "delete_unknown" or not ids:
            assert index.deleted(MessageId(Ulid.from_parts(2, op.pick))) is index
        else:
            message_id = ids[op.pick % len(ids)]
            if op.kind == "delete":
                index = index.deleted(message_id)
                model[message_id] = None
            else:
                sender, created = SENDERS[op.sender], T0 + timedelta(days=op.pick)
                index = index.edited(message_id, sender, created)
                if model[message_id] is not None:
                    model[message_id] = (sender, created)
        check(index, model)


def test_indexes_are_equal_when_deleted_ids_sit_elsewhere_and_bytes_split_differently() -> None:
    ids = [MessageId(Ulid.from_parts(1, i)) for i in range(600)]
    folded = MessageIndex()
    for i, message_id in enumerate(ids):
        folded = folded.posted(message_id, SENDERS[i % 2], T0)
    folded = folded.deleted(ids[0]).deleted(ids[599])
    live = [(i, SENDERS[n % 2], T0) for n, i in enumerate(ids) if n not in (0, 599)]
    rebuilt = MessageIndex.from_messages(live, [ids[599], ids[0]])
    assert folded == rebuilt
    assert folded != MessageIndex.from_messages(live, [ids[0]])
    assert folded != MessageIndex.from_messages(reversed(live), [ids[599], ids[0]])


def test_from_messages_raises_value_error_when_an_id_appears_twice() -> None:
    message_id = MessageId(Ulid.from_parts(1, 1))
    with pytest.raises(ValueError, match="twice"):
        MessageIndex.from_messages([(message_id, SENDERS[0], T0)], [message_id])
    with pytest.raises(ValueError, match="twice"):
        MessageIndex.from_messages([(message_id, SENDERS[0], T0)] * 2, [])


def test_posted_raises_value_error_when_created_before_1970() -> None:
    with pytest.raises(ValueError, match="1970"):
        MessageIndex().posted(
            MessageId(Ulid.from_parts(1, 1)), SENDERS[0], datetime(1969, 12, 31, tzinfo=UTC)
        )


@pytest.mark.parametrize(
    ("records", "senders", "message"),
    [
        (b"x" * (RECORD_SIZE + 1), b"", "whole number of records"),
        (b"", b"x" * 15, "whole number of ids"),
        (b"\x00" * RECORD_SIZE, b"", "no senders"),
    ],
)
def test_from_records_raises_value_error_when_bytes_are_not_an_index(
    records: bytes, senders: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MessageIndex.from_records(records, senders)


def test_find_raises_value_error_when_a_record_names_a_missing_sender() -> None:
    message_id = MessageId(Ulid.from_parts(1, 1))
    index = MessageIndex().posted(message_id, SENDERS[0], T0)
    broken = index.records[:-1] + b"\x07"
    with pytest.raises(ValueError, match="sender 7"):
        MessageIndex.from_records(broken, index.senders).find(message_id)
