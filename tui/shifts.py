"""Shifts as the node describes them: the duty roster and the handover notes (docs/api.md 9.5), and a
planned shift read from what an administrator types (``roster.add``)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tui import fields


@dataclass(frozen=True)
class OnDuty:
    name: str
    role: str
    present: bool  # connected to the node right now


@dataclass(frozen=True)
class Shift:
    id: int | str
    name: str
    role: str
    start: float
    end: float


@dataclass
class Roster:
    """``roster``: who is on duty now, the planned shifts (now and the next 7 days) and the hours."""

    on_duty: list[OnDuty] = field(default_factory=list)
    shifts: list[Shift] = field(default_factory=list)
    in_hours: bool | None = None
    next_open: float | None = None

    @classmethod
    def from_frame(cls, f: dict[str, Any]) -> "Roster":
        people = [OnDuty(fields.text(p, "name", "?"), fields.text(p, "role"), fields.flag(p, "present"))
                  for p in fields.dicts(f, "on_duty")]
        shifts = [Shift(s["id"], fields.text(s, "name", "?"), fields.text(s, "role"),
                        fields.number(s, "from"), fields.number(s, "to"))
                  for s in fields.dicts(f, "shifts")
                  if isinstance(s.get("id"), (int, str)) and not isinstance(s.get("id"), bool)]
        in_hours = f.get("in_hours") if isinstance(f.get("in_hours"), bool) else None
        return cls(people, sorted(shifts, key=lambda s: s.start), in_hours, fields.opt_number(f, "next_open"))


@dataclass(frozen=True)
class HandoverNote:
    """A note for the next shift. Free text only: never tied to a conversation or a citizen."""

    id: int | str
    ts: float
    author: str
    text: str
    expires: float | None

    @classmethod
    def from_frame(cls, f: dict[str, Any]) -> "HandoverNote | None":
        note_id = f.get("id")
        if not isinstance(note_id, (int, str)) or isinstance(note_id, bool):
            return None
        return cls(note_id, fields.number(f, "ts"), fields.text(f, "author", "?"), fields.text(f, "text"),
                   fields.opt_number(f, "expires"))


# -- planning a shift from what a person types (local time, as the console shows it)

SHIFT_MAX_S = 24 * 3600


def parse_clock(text: str) -> dt.time | None:
    """'18:00', '18.00', '1800', '18' or '8:30' as a time of day; None if it is not one."""
    text = text.strip().replace(".", ":")
    if ":" in text:
        hours, _, minutes = text.partition(":")
    elif len(text) in (3, 4):
        hours, minutes = text[:-2], text[-2:]
    else:
        hours, minutes = text, "0"
    if not (hours.isdigit() and minutes.isdigit() and len(hours) <= 2 and len(minutes) <= 2):
        return None
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return dt.time(0, 0)
    return dt.time(h, m) if 0 <= h < 24 and 0 <= m < 60 else None


def parse_date(text: str) -> dt.date | None:
    """'14-6-2027', '14.6.2027', '14/6/2027' or '2027-06-14'; None if it is not a date."""
    parts = [p for p in text.strip().replace(".", "-").replace("/", "-").split("-")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    first, month, last = (int(p) for p in parts)
    year, day = (first, last) if len(parts[0]) == 4 else (last, first)
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def shift_window(day: dt.date, start: dt.time, end: dt.time) -> tuple[int, int]:
    """Unix times in whole seconds, local time; an end at or before the start is the next day
    (a night shift 18:00–02:00)."""
    begins = dt.datetime.combine(day, start)
    ends = dt.datetime.combine(day, end)
    if ends <= begins:
        ends += dt.timedelta(days=1)
    return int(begins.timestamp()), int(ends.timestamp())
