"""tui.alerts: the escape sequences (plain, tmux, screen) and repeat-until-acknowledged."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tui.alerts import Alerter, TerminalSignals, clean, osc9, tmux_passthrough


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_osc9_plain_and_inside_tmux_and_screen() -> None:
    out: list[str] = []
    TerminalSignals(out.append, {}).desktop("Ny i køen")
    TerminalSignals(out.append, {"TMUX": "/tmp/tmux-0/default,1,0"}).desktop("Ny i køen")
    TerminalSignals(out.append, {"STY": "123.pts-0"}).desktop("Ny i køen")
    assert out[0] == "\x1b]9;Ny i køen\x1b\\"
    assert out[1] == "\x1bPtmux;\x1b\x1b]9;Ny i køen\x1b\x1b\\\x1b\\"
    assert out[2] == "\x1bP\x1b]9;Ny i køen\x1b\\\x1b\\"


def test_bell_is_never_wrapped() -> None:
    out: list[str] = []
    TerminalSignals(out.append, {"TMUX": "x"}).bell()
    assert out == ["\a"]


@given(st.text(max_size=300))
def test_no_text_can_break_out_of_the_sequence(text: str) -> None:
    seq = osc9(text)
    body = seq[len("\x1b]9;"):-2]
    assert "\x1b" not in body and "\a" not in body and "\x9c" not in body
    assert all(ord(ch) >= 32 and not 0x7f <= ord(ch) <= 0x9f for ch in body)
    assert len(body) <= 120
    wrapped = tmux_passthrough(seq)
    assert wrapped.startswith("\x1bPtmux;") and wrapped.endswith("\x1b\\")


def test_clean_strips_escape_injection() -> None:
    assert clean("Lise\x1b]52;c;ZXZpbA==\aHej") == "Lise ]52;c;ZXZpbA== Hej"


def test_alert_rings_once_then_repeats_until_acknowledged() -> None:
    out: list[str] = []
    toasts: list[tuple[str, str]] = []
    now = FakeTime()
    alerter = Alerter(TerminalSignals(out.append, {}), lambda t, s: toasts.append((t, s)), repeat=20, now=now)
    alerter.raise_alert(("new", "c1"), "Lise venter i køen", "warning", "c1")
    assert out == ["\a", "\x1b]9;fristed: Lise venter i køen\x1b\\"]
    assert toasts == [("Lise venter i køen", "warning")]
    now.t = 19.9
    assert alerter.tick() == 0
    now.t = 20.0
    assert alerter.tick() == 1
    assert out[-2:] == ["\a", "\x1b]9;fristed: Stadig ikke set: Lise venter i køen\x1b\\"]
    # the same alert again does not ring twice; a graver one upgrades the severity
    alerter.raise_alert(("new", "c1"), "RISIKO – Lise venter i køen", "error", "c1")
    assert len(out) == 4 and alerter.pending[("new", "c1")].severity == "error"
    alerter.raise_alert(("escalation", "c2"), "Brug for hjælp", "error", "c2")
    assert alerter.acknowledge("c1") == 1
    now.t = 100
    assert alerter.tick() == 1  # only c2 still rings
    assert alerter.acknowledge() == 1
    now.t = 200
    assert alerter.tick() == 0 and not alerter.pending


def test_acknowledge_by_kind() -> None:
    alerter = Alerter(TerminalSignals(lambda s: None, {}), lambda t, s: None, now=FakeTime())
    alerter.raise_alert(("new", "c1"), "a", conversation="c1")
    alerter.raise_alert(("escalation", "c1"), "b", conversation="c1")
    assert alerter.acknowledge(kinds=("new",)) == 1
    assert list(alerter.pending) == [("escalation", "c1")]
