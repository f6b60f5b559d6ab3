"""Reading a planned shift from what an administrator types (local time)."""
from __future__ import annotations

import datetime as dt

from tui.shifts import parse_clock, parse_date, shift_window


def test_clock_and_date_as_people_write_them() -> None:
    assert [parse_clock(t) for t in ("18:00", "18.30", "1800", "8", "830", "24:00")] == \
        [dt.time(18), dt.time(18, 30), dt.time(18), dt.time(8), dt.time(8, 30), dt.time(0)]
    assert [parse_clock(t) for t in ("", "25:00", "18:60", "kl 8", "18:00:00")] == [None] * 5
    day = dt.date(2027, 6, 14)
    assert [parse_date(t) for t in ("14-06-2027", "14.6.2027", "14/6/2027", "2027-06-14")] == [day] * 4
    assert [parse_date(t) for t in ("", "31-02-2027", "14-06", "i dag")] == [None] * 4


def test_a_to_at_or_before_from_is_the_next_day() -> None:
    day = dt.date(2027, 6, 14)
    start, end = shift_window(day, dt.time(18), dt.time(2))
    assert start == int(dt.datetime(2027, 6, 14, 18).timestamp()) and end == int(dt.datetime(2027, 6, 15, 2).timestamp())
    assert shift_window(day, dt.time(9), dt.time(17)) == (int(dt.datetime(2027, 6, 14, 9).timestamp()),
                                                          int(dt.datetime(2027, 6, 14, 17).timestamp()))
    start, end = shift_window(day, dt.time(8), dt.time(8))
    assert end - start == 24 * 3600
