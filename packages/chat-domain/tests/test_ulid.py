"""ULID text form, parsing and monotonic generation."""

from __future__ import annotations

import base64
import pickle
import threading
from datetime import UTC, datetime

import pytest
from chat_domain import InvalidUlidError, Ulid, UlidGenerator, new_ulid
from hypothesis import given, settings
from hypothesis import strategies as st

MAX = (1 << 128) - 1


def test_text_form_is_26_upper_case_crockford_characters_when_formatting() -> None:
    ulid = Ulid.from_parts(1_469_918_176_385, 0x3DF5_2DD1_D3F9_2E5A_1B3C)
    text = str(ulid)
    assert len(text) == 26
    assert text == text.upper()
    assert text.startswith("01ARYZ6S41")
    assert set(text) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


@given(st.integers(min_value=0, max_value=MAX))
@settings(max_examples=200, deadline=None)
def test_parse_returns_the_same_value_when_given_its_text_in_any_case(value: int) -> None:
    ulid = Ulid(value)
    assert Ulid.parse(str(ulid)) == ulid
    assert Ulid.parse(str(ulid).lower()) == ulid
    assert Ulid.from_bytes(bytes(ulid)) == ulid


def _reference_text(value: int) -> str:
    # RFC 4648 base32 of the value padded to 130 bits, mapped to Crockford's alphabet.
    rfc4648 = base64.b32encode((value << 6).to_bytes(17, "big"))[:26].decode()
    return rfc4648.translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    )


@given(st.integers(min_value=0, max_value=MAX))
@settings(max_examples=300, deadline=None)
def test_text_form_matches_the_base32_reference_when_formatting_any_value(value: int) -> None:
    assert str(Ulid(value)) == _reference_text(value)


@given(st.integers(min_value=0, max_value=MAX))
@settings(max_examples=100, deadline=None)
def test_equality_hash_order_and_repr_ignore_whether_the_text_was_computed(value: int) -> None:
    formatted, fresh, parsed = Ulid(value), Ulid(value), Ulid.parse(_reference_text(value).lower())
    str(formatted)  # computes and keeps the text form
    assert formatted == fresh == parsed
    assert hash(formatted) == hash(fresh) == hash(parsed)
    assert not formatted < fresh
    assert not fresh < formatted
    assert repr(fresh) == repr(formatted) == repr(parsed) == f"Ulid('{_reference_text(value)}')"
    assert str(parsed) == str(fresh) == _reference_text(value)
    assert pickle.loads(pickle.dumps(formatted)) == fresh


def test_extreme_values_round_trip_when_formatted() -> None:
    assert str(Ulid(0)) == "0" * 26
    assert str(Ulid(MAX)) == "7" + "Z" * 25
    assert Ulid.parse("7" + "z" * 25).value == MAX


@pytest.mark.parametrize(
    "text",
    [
        "",
        "01ARYZ6S41TSV4RRFFQ69G5FA",  # 25 characters
        "01ARYZ6S41TSV4RRFFQ69G5FAVV",  # 27 characters
        "01ARYZ6S41TSV4RRFFQ69G5FAU",  # U is not Crockford
        "01ARYZ6S41TSV4RRFFQ69G5FAI",  # I neither
        "01ARYZ6S41TSV4RRFFQ69G5FA-",
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",  # overflows 128 bits
        " 1ARYZ6S41TSV4RRFFQ69G5FAV",
    ],
)
def test_parse_raises_invalid_ulid_error_when_text_is_not_a_ulid(text: str) -> None:
    with pytest.raises(InvalidUlidError):
        Ulid.parse(text)


def test_parse_raises_invalid_ulid_error_when_given_a_non_string() -> None:
    with pytest.raises(InvalidUlidError):
        Ulid.parse(12345)


def test_parts_are_recovered_when_built_from_parts() -> None:
    ulid = Ulid.from_parts(1_700_000_000_123, 42)
    assert (ulid.timestamp_ms, ulid.randomness) == (1_700_000_000_123, 42)
    assert ulid.to_datetime() == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def test_ulids_sort_by_value_when_compared() -> None:
    assert Ulid(1) < Ulid(2)
    assert sorted([Ulid(3), Ulid(1), Ulid(2)]) == [Ulid(1), Ulid(2), Ulid(3)]
    assert str(Ulid(1)) < str(Ulid(2))


def test_ids_increase_strictly_when_generated_within_the_same_millisecond() -> None:
    generate = UlidGenerator(clock=lambda: 1000, random_bytes=lambda n: b"\xff" * (n - 1) + b"\x00")
    ids = [generate() for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert all(u.timestamp_ms == 1000 for u in ids)


def test_ids_increase_strictly_when_the_clock_steps_backwards() -> None:
    times = iter([5000, 5000, 4000, 3000, 6000])
    generate = UlidGenerator(clock=lambda: next(times))
    ids = [generate() for _ in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert ids[-1].timestamp_ms == 6000


def test_timestamp_carries_forward_when_randomness_overflows() -> None:
    generate = UlidGenerator(clock=lambda: 1000, random_bytes=lambda n: b"\xff" * n)
    first, second = generate(), generate()
    assert first.randomness == (1 << 80) - 1
    assert second > first
    assert second.timestamp_ms == 1001


def test_ids_are_unique_and_ordered_per_thread_when_shared_between_threads() -> None:
    generate = UlidGenerator()
    per_thread: list[list[Ulid]] = [[] for _ in range(4)]

    def work(out: list[Ulid]) -> None:
        for _ in range(2000):
            out.append(generate())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [u for out in per_thread for u in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in per_thread)


def test_new_ulid_increases_when_called_repeatedly() -> None:
    ids = [new_ulid() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000


def test_ulid_is_immutable_when_assigned_to() -> None:
    ulid = Ulid(1)
    with pytest.raises(AttributeError):
        ulid.value = 2  # type: ignore[misc]
