"""Small text helpers shared by widgets and screens (Danish, plain words)."""
from __future__ import annotations

import datetime as dt


def clock(ts: float) -> str:
    """HH:MM in local time."""
    try:
        return dt.datetime.fromtimestamp(ts).strftime("%H:%M")
    except (OverflowError, OSError, ValueError):
        return "--:--"


def waited(seconds: float) -> str:
    """'under 1 min', '4 min', '1 t 05 min'."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under 1 min"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} t {minutes % 60:02d} min"


def short_fingerprint(fp: str) -> str:
    """The first and last four groups, as people read them aloud over the phone."""
    groups = fp.split(":")
    if len(groups) <= 8:
        return fp
    return ":".join(groups[:4]) + " … " + ":".join(groups[-4:])


WEEKDAYS = ["man", "tir", "ons", "tor", "fre", "lør", "søn"]


def day(ts: float, now: float) -> str:
    """'i dag', 'i morgen', 'i går' or 'tor 12/6' (local time), for times near ``now``."""
    try:
        date, today = dt.datetime.fromtimestamp(ts).date(), dt.datetime.fromtimestamp(now).date()
    except (OverflowError, OSError, ValueError):
        return "?"
    delta = (date - today).days
    if delta == 0:
        return "i dag"
    if delta == 1:
        return "i morgen"
    if delta == -1:
        return "i går"
    return f"{WEEKDAYS[date.weekday()]} {date.day}/{date.month}"


def span(start: float, end: float, now: float) -> str:
    """A window such as 'i dag 21:00–22:00' (the day of its start)."""
    return f"{day(start, now)} {clock(start)}–{clock(end)}"


def at(ts: float, now: float) -> str:
    """'i morgen kl. 18:00'."""
    return f"{day(ts, now)} kl. {clock(ts)}"


def countdown(seconds: float) -> str:
    """'4:59' (minutes:seconds), never negative."""
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"
