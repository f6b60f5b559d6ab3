"""Opening hours: weekly spans in the centre's time zone, closed on holidays.

A span is ``"HH:MM-HH:MM"``; an end at or before the start runs past midnight (``18:00-02:00``),
and ``24:00`` is the end of the day. A holiday closes the spans that *start* on that date. Hours
only inform the citizen page and the console: whoever is on duty keeps the centre open.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from node.validation import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAY = "00:00-24:00"
DEFAULT_TIMEZONE = "Europe/Copenhagen"
MAX_SPANS = 4
MAX_HOLIDAYS = 100
LOOK_AHEAD_DAYS = 15
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def default_week() -> dict[str, list[str]]:
    return {day: [ALL_DAY] for day in DAYS}


def span_minutes(text: str) -> tuple[int, int]:
    """(start, end) in minutes after the day's midnight; ``end`` may pass 1440 (the next day)."""
    found = _SPAN.match(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(f"an opening span looks like 18:00-22:00, not {str(text)[:20]!r}", "bad_field")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 1440:
        raise InvalidInput("a span ends at 24:00 at the latest", "bad_field")
    if end <= start:
        end += 1440
    return start, end


def validated_week(value: Any) -> dict[str, list[str]]:
    """A week of spans: every day named, at most four spans a day (an empty list is a closed day)."""
    if not isinstance(value, dict) or set(value) != set(DAYS):
        raise InvalidInput("'opening_hours' needs each of mon, tue, wed, thu, fri, sat and sun", "bad_field")
    week: dict[str, list[str]] = {}
    for day in DAYS:
        spans = value[day]
        if not isinstance(spans, list) or len(spans) > MAX_SPANS:
            raise InvalidInput(f"'opening_hours.{day}' is a list of at most {MAX_SPANS} spans", "bad_field")
        for span in spans:
            span_minutes(span)
        week[day] = list(spans)
    return week


def validated_holidays(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        raise InvalidInput(f"'holidays' is a list of at most {MAX_HOLIDAYS} dates", "bad_field")
    for item in value:
        try:
            if not isinstance(item, str) or not _DATE.match(item):
                raise ValueError
            dt.date.fromisoformat(item)
        except ValueError:
            raise InvalidInput("a holiday is a date written YYYY-MM-DD", "bad_field") from None
    return sorted(set(value))


def validated_timezone(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidInput("'timezone' is a name such as Europe/Copenhagen", "bad_field")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("'timezone' is not a time zone this node knows", "bad_field") from None
    return value


class Hours:
    """Answers "are we open now?" and "when do we open next?" for one centre's settings."""

    def __init__(self, week: dict[str, list[str]], holidays: list[str], timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self.week = {day: [span_minutes(s) for s in week.get(day, [])] for day in DAYS}
        self.holidays = frozenset(holidays)

    def _spans(self, day: dt.date) -> list[tuple[float, float]]:
        if day.isoformat() in self.holidays:
            return []
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=self.tz)
        out = []
        for start, end in self.week[DAYS[day.weekday()]]:
            out.append((self._at(midnight, start), self._at(midnight, end)))
        return out

    @staticmethod
    def _at(midnight: dt.datetime, minutes: int) -> float:
        """Wall-clock time ``minutes`` after a local midnight (so a DST change keeps 18:00 at 18:00)."""
        day = midnight.date() + dt.timedelta(days=minutes // 1440)
        hour, minute = divmod(minutes % 1440, 60)
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=midnight.tzinfo).timestamp()

    def _today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self.tz).date()

    def in_hours(self, now: float) -> bool:
        today = self._today(now)
        for offset in (-1, 0):
            for start, end in self._spans(today + dt.timedelta(days=offset)):
                if start <= now < end:
                    return True
        return False

    def next_open(self, now: float) -> float | None:
        """The start of the next span after ``now`` within about two weeks, or None."""
        today = self._today(now)
        starts = [start for offset in range(LOOK_AHEAD_DAYS)
                  for start, _ in self._spans(today + dt.timedelta(days=offset)) if start > now]
        return min(starts) if starts else None
