"""Shifts as the node describes them: the duty roster and the handover notes (docs/api.md 9.5)."""
from __future__ import annotations

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
