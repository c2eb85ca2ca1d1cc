"""Timestamps: millisecond precision, UTC, naive datetimes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from chat_domain.timestamps import from_epoch_ms, to_epoch_ms, to_utc_millis
from hypothesis import given
from hypothesis import strategies as st

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30))]
    ),
)


@given(moments)
def test_epoch_ms_is_the_utc_time_truncated_to_the_millisecond_in_any_zone(
    moment: datetime,
) -> None:
    truncated = to_utc_millis(moment)
    assert to_epoch_ms(moment) == (truncated - _EPOCH) // timedelta(milliseconds=1)
    assert from_epoch_ms(to_epoch_ms(moment)) == truncated


def test_epoch_ms_truncates_towards_the_past_when_before_1970() -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert to_epoch_ms(moment) == -1
    assert to_epoch_ms(moment + timedelta(microseconds=1)) == 0


def test_epoch_ms_raises_value_error_when_the_datetime_is_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_epoch_ms(datetime(2024, 1, 1))
