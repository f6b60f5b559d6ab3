"""tui.widgets.format: days, windows and countdowns in plain Danish."""
from __future__ import annotations

import datetime as dt

from tui.widgets.format import at, countdown, day, span


def test_days_and_windows_relative_to_now() -> None:
    now = dt.datetime(2027, 1, 14, 20, 30).timestamp()  # a Thursday evening, local time
    start = dt.datetime(2027, 1, 14, 21, 0).timestamp()
    assert span(start, start + 3600, now) == "i dag 21:00–22:00"
    assert day(start + 86400, now) == "i morgen" and day(start - 86400, now) == "i går"
    assert day(start + 3 * 86400, now) == "søn 17/1"
    assert at(start + 86400, now) == "i morgen kl. 21:00"


def test_countdown_never_goes_below_zero() -> None:
    assert countdown(300) == "5:00" and countdown(299.2) == "5:00" and countdown(61) == "1:01"
    assert countdown(0) == "0:00" and countdown(-5) == "0:00"
