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
