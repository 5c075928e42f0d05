"""Every time the alliance reads or writes, with one rule for zones.

On the wire a time is whole seconds since the Unix epoch (UTC). Text is ISO 8601 and
always says its zone (`Z` or `±hh:mm`); a date-time without one is refused, never
guessed. A bare date (`2020-04-30`) is a civil date in the host cities and means
00:00 of that day in China Standard Time (UTC+8), the zone in which quota periods
(days, ISO weeks, months, years) are counted as well.

Times are bounded to what ISO 8601 and every platform's date types can show:
1970-01-01T00:00:00Z (0) to 9999-12-31T23:59:59Z; a value outside is refused with a
clear error instead of failing deep inside a date library.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from citycredit.core._offers import Period
from citycredit.errors import InvalidArgumentError

__all__ = [
    "CHINA_TZ",
    "MAX_TIME_S",
    "iso",
    "iso_local",
    "parse_time_s",
    "period_key",
    "to_epoch_s",
]

# The host cities' civil time: quota periods and bare dates are counted here.
CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")
# 9999-12-31T23:59:59Z, the last second ISO 8601 text (and Python's datetime) can show.
MAX_TIME_S = 253_402_300_799


def _checked(seconds: int, what: str) -> int:
    if not 0 <= seconds <= MAX_TIME_S:
        raise InvalidArgumentError(f"{what} {seconds} is outside 1970-01-01 … 9999-12-31T23:59:59Z")
    return seconds


def parse_time_s(value: object, what: str = "time") -> int:
    """Seconds since the epoch from an integer, ISO 8601 text with a zone, or a bare date (UTC+8)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _checked(value, what)
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return _checked(int(datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp()), what)
            moment = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                raise InvalidArgumentError(f"{what} {value!r} has no time zone; add Z or +08:00")
            return _checked(int(moment.timestamp()), what)
    raise InvalidArgumentError(
        f"{what} must be seconds or ISO 8601 with a zone (e.g. 2026-11-22T10:00:00+08:00), not {value!r}")


def to_epoch_s(at: int | float | datetime, what: str = "time") -> int:
    """Seconds since the epoch from a number or a datetime that knows its zone (the SDK's arguments)."""
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidArgumentError(f"{what} needs a time zone (e.g. 2026-11-22T10:00:00+08:00)")
        return _checked(int(at.timestamp()), what)
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise InvalidArgumentError(f"{what} is a datetime or seconds, not {type(at).__name__}")
    if at != at or at in (float("inf"), float("-inf")):
        raise InvalidArgumentError(f"{what} must be a finite number of seconds")
    return _checked(int(at), what)


def iso(epoch_s: int) -> str:
    """ISO 8601 in UTC: `2026-11-18T07:06:40Z`."""
    return datetime.fromtimestamp(_checked(epoch_s, "time"), UTC).isoformat().replace("+00:00", "Z")


def iso_local(epoch_s: int) -> str:
    """ISO 8601 in the host cities' time: `2026-11-18T15:06:40+08:00`."""
    return datetime.fromtimestamp(_checked(epoch_s, "time"), CHINA_TZ).isoformat()


def period_key(period: Period | str, now_s: int) -> str:
    """The calendar bucket (UTC+8) a quota counts in: "2026-11-03", "2026-W45", "2026-11" or "2026"."""
    period = Period.parse(period)
    moment = datetime.fromtimestamp(_checked(now_s, "time"), CHINA_TZ)
    if period is Period.DAY:
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if period is Period.WEEK:
        week = moment.isocalendar()
        return f"{week.year:04d}-W{week.week:02d}"
    if period is Period.MONTH:
        return f"{moment.year:04d}-{moment.month:02d}"
    return f"{moment.year:04d}"
