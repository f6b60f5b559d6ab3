"""Calls as the console sees them (docs/api.md section 9): a ringing call, a call-back request, and
the one-time host link that opens an answered call on a tablet."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui import fields

MEDIA_DA = {"video": "video", "audio": "kun lyd"}
MEDIA_ICON = {"video": "▶", "audio": "♪"}  # one cell each, in every terminal font

RING_STOP_DA = {
    "accepted": "{by} tog opkaldet fra {who}.",
    "declined": "{by} afviste opkaldet fra {who}.",
    "left": "{who} lagde på.",
    "chat": "{who} vil hellere skrive: opkaldet er nu en chat i køen.",
    "lost": "{who} mistede forbindelsen. Opkaldet er slut.",
    "timeout": "Opkaldet fra {who} er udløbet.",
    "ended": "Opkaldet fra {who} er slut.",
}

def ring_stop_text(reason: str, by: str | None, who: str, me: str | None) -> str:
    """'Anna tog opkaldet fra Lise.' — or 'Du …' when it was this console's own person."""
    template = RING_STOP_DA.get(reason, "Opkaldet fra {who} ringer ikke længere.")
    person = "Du" if by is not None and by == me else (by or "En kollega")
    return template.format(by=person, who=who)


def media_label(media: str) -> str:
    """'▶ video' or '♪ kun lyd': the kind of call, readable without colours."""
    return f"{MEDIA_ICON.get(media, '?')} {MEDIA_DA.get(media, media or 'opkald')}"


@dataclass
class Ring:
    """A call that rings this console until ``call.ring_stop``. ``level`` 0 = on duty, n = escalated."""

    conversation: str
    pseudonym: str
    topic: str | None
    risk: bool
    media: str
    level: int
    waiting_s: float
    received: float  # local monotonic time, so the wait ticks on screen

    @classmethod
    def from_frame(cls, f: dict[str, Any], now: float) -> "Ring | None":
        cid = fields.conversation(f)
        if cid is None:
            return None
        return cls(cid, fields.text(f, "pseudonym", "?"), fields.opt_text(f, "topic"), fields.flag(f, "risk"),
                   fields.text(f, "media", "video"), int(fields.number(f, "level")), fields.number(f, "waiting_s"),
                   now)

    def waited(self, now: float) -> float:
        return self.waiting_s + max(0.0, now - self.received)


@dataclass
class Callback:
    """A citizen asked to be called back within ``window`` (Unix times)."""

    conversation: str
    pseudonym: str
    topic: str | None
    risk: bool
    media: str
    window: tuple[float, float] | None
    citizen: str  # connected / lost
    tries: int
    ringing: bool

    @classmethod
    def from_frame(cls, f: dict[str, Any]) -> "Callback | None":
        cid = fields.conversation(f)
        if cid is None:
            return None
        return cls(cid, fields.text(f, "pseudonym", "?"), fields.opt_text(f, "topic"), fields.flag(f, "risk"),
                   fields.text(f, "media", "video"), fields.window(f), fields.text(f, "citizen", "lost"),
                   int(fields.number(f, "tries")), fields.flag(f, "ringing"))

    def due(self, wallclock: float) -> bool:
        """The window has started (and not ended)."""
        return self.window is not None and self.window[0] <= wallclock <= self.window[1]


@dataclass
class CallLink:
    """``call.accepted``: the answered call's room and, for ``device: "link"``, the one-time host link."""

    conversation: str
    room: str
    title: str
    device: str
    url: str
    expires: float | None  # the node's clock
    ttl_s: float
    received: float  # local monotonic time: the countdown runs from here, whatever the clocks say

    @classmethod
    def from_frame(cls, f: dict[str, Any], now: float) -> "CallLink | None":
        cid = fields.conversation(f)
        if cid is None:
            return None
        room = f.get("room") if isinstance(f.get("room"), dict) else {}
        return cls(cid, fields.text(room, "room"), fields.text(room, "title"), fields.text(f, "device", "link"),
                   fields.text(f, "url"), fields.opt_number(f, "expires"), fields.number(f, "ttl_s"), now)

    def left(self, now: float) -> float:
        """Seconds until the link dies (0 when it has)."""
        return max(0.0, self.ttl_s - (now - self.received))
