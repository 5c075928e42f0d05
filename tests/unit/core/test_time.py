"""Time (SPEC 9): one rule for zones, bare dates in UTC+8, the 0 … 9999-12-31T23:59:59Z bounds, quota periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from citycredit.core import MAX_TIME_S, Period, iso, iso_local, parse_time_s, period_key, to_epoch_s
from citycredit.errors import InvalidArgumentError
from hypothesis import given
from hypothesis import strategies as st

NOW = parse_time_s("2021-04-15T10:00:00+08:00")



@pytest.mark.parametrize(("period", "when", "key"), [
    (Period.DAY, "2026-11-03T23:59:59+08:00", "2026-11-03"),
    (Period.DAY, "2026-11-03T16:00:00+00:00", "2026-11-04"),  # midnight in UTC+8, not in UTC
    (Period.MONTH, "2026-11-30T16:30:00+00:00", "2026-12"),
    (Period.MONTH, "2026-11-30T23:59:59+08:00", "2026-11"),
    (Period.WEEK, "2026-01-01T00:00:00+08:00", "2026-W01"),
    (Period.WEEK, "2027-01-01T12:00:00+08:00", "2026-W53"),  # ISO weeks cross the year
    (Period.WEEK, "2026-11-16T00:00:00+08:00", "2026-W47"),
    (Period.WEEK, "2026-11-15T23:59:59+08:00", "2026-W46"),
    (Period.YEAR, "2026-12-31T16:00:00+00:00", "2027"),
    ("month", "2026-11-18T07:06:40+00:00", "2026-11"),
])
def test_period_key_uses_calendar_buckets_in_utc8(period: Period | str, when: str, key: str) -> None:
    assert period_key(period, parse_time_s(when)) == key


def test_period_key_refuses_unknown_periods() -> None:
    with pytest.raises(InvalidArgumentError, match="period"):
        period_key("fortnight", NOW)


def test_parse_time() -> None:
    assert parse_time_s("2020-04-30") == 1588176000  # midnight UTC+8
    assert parse_time_s("2020-04-30T00:00:00Z") == 1588204800
    assert parse_time_s(12) == 12
    for bad in ("yesterday", "2020-04-30T00:00:00", True, 1.5, None, -1, 253_402_300_800):
        with pytest.raises(InvalidArgumentError):
            parse_time_s(bad)


@pytest.mark.parametrize(("when", "keys"), [
    ("2026-11-18T16:30:00Z", ("2026-11-19", "2026-W47", "2026-11", "2026")),  # SPEC 8.7's examples
    ("2026-12-31T20:00:00Z", ("2027-01-01", "2026-W53", "2027-01", "2027")),
])
def test_the_spec_examples_of_period_keys(when: str, keys: tuple[str, ...]) -> None:
    now = parse_time_s(when)
    assert tuple(period_key(p, now) for p in (Period.DAY, Period.WEEK, Period.MONTH, Period.YEAR)) == keys


def test_bounds_and_writers() -> None:
    assert parse_time_s(MAX_TIME_S) == MAX_TIME_S and parse_time_s("9999-12-31T23:59:59Z") == MAX_TIME_S
    assert iso(MAX_TIME_S) == "9999-12-31T23:59:59Z" and iso(0) == "1970-01-01T00:00:00Z"
    assert iso_local(1795000000) == "2026-11-18T19:06:40+08:00"
    for bad in (MAX_TIME_S + 1, -1, 2**63):
        with pytest.raises(InvalidArgumentError):
            iso(bad)
        with pytest.raises(InvalidArgumentError):
            to_epoch_s(bad)
    with pytest.raises(InvalidArgumentError):
        parse_time_s("+10000-01-01T00:00:00Z")
    with pytest.raises(InvalidArgumentError):
        period_key(Period.DAY, MAX_TIME_S + 1)


def test_to_epoch_s_takes_numbers_and_zoned_datetimes() -> None:
    assert to_epoch_s(12.9) == 12 and to_epoch_s(datetime(2020, 4, 30, tzinfo=timezone(timedelta(hours=8)))) == \
        1588176000
    for bad in (datetime(2020, 4, 30), float("nan"), float("inf"), True, "12"):
        with pytest.raises(InvalidArgumentError):
            to_epoch_s(bad)  # type: ignore[arg-type]


@given(st.integers(0, MAX_TIME_S))
def test_iso_round_trips_through_parse_time(seconds: int) -> None:
    text = iso(seconds)
    assert text.endswith("Z") and parse_time_s(text) == seconds
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == datetime.fromtimestamp(seconds, UTC)
