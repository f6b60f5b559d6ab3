"""Alerts night staff cannot miss: terminal bell, OSC 9 desktop notification, toast, repeated.

Escape sequences go to the terminal through one injectable ``write`` function (the app's driver in
real use, a list in tests). They reach a terminal over SSH as plain bytes. Inside tmux the bell is
left alone (tmux turns it into its own bell-action), but OSC 9 is wrapped in tmux's DCS
passthrough, which needs ``set -g allow-passthrough on`` (tmux 3.3+). GNU screen gets its own
DCS wrapping.
"""
from __future__ import annotations

import os
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Mapping

Writer = Callable[[str], None]
BELL = "\a"
DEFAULT_REPEAT = 20.0
MAX_NOTIFICATION = 120


def clean(text: str, limit: int = MAX_NOTIFICATION) -> str:
    """Text safe inside an escape sequence: no control characters (C0, C1, DEL), bounded length."""
    out = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") or ch == "\x7f" else ch for ch in text)
    out = " ".join(out.split())
    return out[:limit]


def osc9(text: str) -> str:
    """The OSC 9 notification sequence, terminated by ST."""
    return f"\x1b]9;{clean(text)}\x1b\\"


def tmux_passthrough(sequence: str) -> str:
    """Wrap a sequence so tmux hands it to the outer terminal (every ESC inside is doubled)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def screen_passthrough(sequence: str) -> str:
    """Wrap a sequence for GNU screen."""
    return "\x1bP" + sequence + "\x1b\\"


@dataclass
class TerminalSignals:
    """Writes the bell and desktop notifications, wrapped for the multiplexer it runs in."""

    write: Writer
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def multiplexer(self) -> str | None:
        if self.env.get("TMUX"):
            return "tmux"
        if self.env.get("STY"):
            return "screen"
        return None

    def bell(self) -> None:
        self.write(BELL)

    def desktop(self, text: str) -> None:
        sequence = osc9(text)
        if self.multiplexer == "tmux":
            sequence = tmux_passthrough(sequence)
        elif self.multiplexer == "screen":
            sequence = screen_passthrough(sequence)
        self.write(sequence)


@dataclass
class Alert:
    """One thing someone must see. ``key`` merges duplicates, e.g. ("new", conversation)."""

    key: tuple[str, str]
    text: str
    severity: str  # "information", "warning" or "error" (as Textual's notify)
    conversation: str | None
    first: float
    last: float
    rings: int = 1


class Alerter:
    """Keeps unacknowledged alerts and rings them again every ``repeat`` seconds.

    ``toast`` shows the on-screen notification (the app's ``notify``); ``signals`` does bell + OSC 9.
    ``tick`` is called about once a second by the app; ``now`` is injectable for tests.
    """

    def __init__(self, signals: TerminalSignals, toast: Callable[[str, str], None],
                 repeat: float = DEFAULT_REPEAT, now: Callable[[], float] = time.monotonic) -> None:
        self.signals, self.toast, self.repeat, self.now = signals, toast, repeat, now
        self.pending: dict[tuple[str, str], Alert] = {}

    def _ring(self, alert: Alert, again: bool) -> None:
        prefix = "Stadig ikke set: " if again else ""
        self.signals.bell()
        self.signals.desktop(f"fristed: {prefix}{alert.text}")
        self.toast(prefix + alert.text, alert.severity)

    def raise_alert(self, key: tuple[str, str], text: str, severity: str = "warning",
                    conversation: str | None = None) -> Alert:
        """Ring now (unless the same alert is already pending, which keeps its own rhythm)."""
        existing = self.pending.get(key)
        if existing is not None:
            if _rank(severity) > _rank(existing.severity):
                existing.severity, existing.text = severity, text
            return existing
        now = self.now()
        alert = Alert(key, text, severity, conversation, now, now)
        self.pending[key] = alert
        self._ring(alert, again=False)
        return alert

    def tick(self) -> int:
        """Ring every alert that has waited ``repeat`` seconds since it last rang; return how many."""
        now = self.now()
        rung = 0
        for alert in list(self.pending.values()):
            if now - alert.last >= self.repeat:
                alert.last, alert.rings = now, alert.rings + 1
                self._ring(alert, again=True)
                rung += 1
        return rung

    def acknowledge(self, conversation: str | None = None, kinds: tuple[str, ...] | None = None) -> int:
        """Stop ringing: everything, or what concerns one conversation (optionally only some kinds)."""
        gone = [key for key, alert in self.pending.items()
                if (conversation is None or alert.conversation == conversation)
                and (kinds is None or key[0] in kinds)]
        for key in gone:
            del self.pending[key]
        return len(gone)


def _rank(severity: str) -> int:
    return {"information": 0, "warning": 1, "error": 2}.get(severity, 0)
