"""Timestamps in the domain: timezone-aware UTC datetimes with millisecond precision.

Events store time as integer milliseconds since the Unix epoch; keeping datetimes at that
precision everywhere makes encode/decode an exact round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_utc_millis(moment: datetime) -> datetime:
    """`moment` in UTC, truncated to whole milliseconds. Naive datetimes are refused.

    Raises `ValueError` for a naive datetime: guessing its zone would silently shift history.
    """
    # Fast path for the common case, a datetime already in UTC (as the clocks give them and
    # every decoded timestamp is): no offset to look up, nothing to convert.
    utc = moment
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
        utc = moment.astimezone(UTC)
    micros = utc.microsecond
    return utc if micros % 1000 == 0 else utc.replace(microsecond=micros - micros % 1000)


def to_epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the Unix epoch (truncated, like `to_utc_millis`).

    Raises `ValueError` for a naive datetime, as `to_utc_millis` does.
    """
    if moment.tzinfo is not UTC and (moment.tzinfo is None or moment.utcoffset() is None):
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
    # The difference of aware datetimes is exact and floor division truncates to the
    # millisecond as `to_utc_millis` does, without building the intermediate datetimes (this
    # runs for every timestamp of every event encoded).
    return (moment - _EPOCH) // _ONE_MS


def from_epoch_ms(epoch_ms: int) -> datetime:
    """The UTC datetime `epoch_ms` milliseconds after the Unix epoch."""
    return _EPOCH + timedelta(milliseconds=epoch_ms)
