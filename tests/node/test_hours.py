"""Opening hours: spans past midnight, holidays, daylight saving, and the parsers of outside input."""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.hours import DAYS, Hours, span_minutes, validated_holidays, validated_timezone, validated_week
from node.validation import InvalidInput

CPH = ZoneInfo("Europe/Copenhagen")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CPH).timestamp()


def evenings(holidays: list[str] | None = None) -> Hours:
    week = {day: [] for day in DAYS}
    week["mon"] = ["18:00-02:00"]
    week["sat"] = ["10:00-12:00", "20:00-24:00"]
    return Hours(week, holidays or [], "Europe/Copenhagen")


def test_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    hours = evenings()
    # 2026-11-23 is a Monday
    assert not hours.in_hours(at(2026, 11, 23, 17, 59))
    assert hours.in_hours(at(2026, 11, 23, 18, 0))
    assert hours.in_hours(at(2026, 11, 24, 1, 59))   # Tuesday night, still Monday's span
    assert not hours.in_hours(at(2026, 11, 24, 2, 0))
    assert hours.next_open(at(2026, 11, 24, 3, 0)) == at(2026, 11, 28, 10, 0)  # Saturday morning


def test_two_spans_and_a_span_to_midnight() -> None:
    hours = evenings()
    assert hours.in_hours(at(2026, 11, 28, 11, 0)) and not hours.in_hours(at(2026, 11, 28, 13, 0))
    assert hours.in_hours(at(2026, 11, 28, 23, 59)) and not hours.in_hours(at(2026, 11, 29, 0, 0))
    assert hours.next_open(at(2026, 11, 28, 13, 0)) == at(2026, 11, 28, 20, 0)


def test_holiday_closes_the_spans_that_start_that_day() -> None:
    hours = evenings(["2026-11-23"])
    assert not hours.in_hours(at(2026, 11, 23, 19, 0))
    assert hours.next_open(at(2026, 11, 23, 12, 0)) == at(2026, 11, 28, 10, 0)
    tuesday_off = evenings(["2026-11-24"])  # a holiday on Tuesday leaves Monday night's span alone
    assert tuesday_off.in_hours(at(2026, 11, 24, 1, 0))


def test_wall_clock_kept_across_daylight_saving() -> None:
    week = {day: ["18:00-22:00"] for day in DAYS}
    hours = Hours(week, [], "Europe/Copenhagen")
    # 2026-10-25: clocks go back an hour; 18:00 local is still when the centre opens
    assert hours.next_open(at(2026, 10, 25, 12, 0)) == at(2026, 10, 25, 18, 0)
    assert hours.in_hours(at(2026, 3, 29, 21, 30))  # the spring-forward day


def test_closed_week_never_opens() -> None:
    assert Hours({day: [] for day in DAYS}, [], "UTC").next_open(1.8e9) is None


@pytest.mark.parametrize("bad", ["18-22", "18:00-25:00", "24:00-02:00", "18:00-22:00 ", "aa:bb-cc:dd", 1800])
def test_bad_spans_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        span_minutes(bad)


def test_week_needs_every_day_and_few_spans() -> None:
    with pytest.raises(InvalidInput):
        validated_week({"mon": ["08:00-16:00"]})
    with pytest.raises(InvalidInput):
        validated_week({**{d: [] for d in DAYS}, "mon": ["08:00-09:00"] * 5})
    assert validated_week({d: ["00:00-24:00"] for d in DAYS})["sun"] == ["00:00-24:00"]


def test_holidays_and_timezones() -> None:
    assert validated_holidays(["2026-12-25", "2026-12-24", "2026-12-24"]) == ["2026-12-24", "2026-12-25"]
    for bad in (["2026-02-30"], ["24/12/2026"], "2026-12-24", [None]):
        with pytest.raises(InvalidInput):
            validated_holidays(bad)
    assert validated_timezone("Europe/Copenhagen") == "Europe/Copenhagen"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", None, "x" * 100):
        with pytest.raises(InvalidInput):
            validated_timezone(bad)


@given(st.text(max_size=20))
def test_span_parser_refuses_cleanly(text: str) -> None:
    try:
        start, end = span_minutes(text)
    except InvalidInput as exc:
        assert exc.reason
    else:
        assert 0 <= start < end <= start + 1440


@given(st.one_of(st.text(max_size=70), st.none(), st.integers()))
def test_timezone_parser_refuses_cleanly(value: Any) -> None:
    try:
        name = validated_timezone(value)
    except InvalidInput as exc:
        assert exc.reason
    else:
        Hours({d: ["08:00-09:00"] for d in DAYS}, [], name).in_hours(1.8e9)


@given(st.lists(st.one_of(st.text(max_size=12), st.dates().map(str)), max_size=5))
def test_holiday_parser_refuses_cleanly(value: list[str]) -> None:
    try:
        days = validated_holidays(value)
    except InvalidInput as exc:
        assert exc.reason
    else:
        assert all(dt.date.fromisoformat(d) for d in days)
