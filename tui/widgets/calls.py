"""Calls on the main view: the banner for ringing calls, and the list of call-back requests."""
from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.calls import Callback, Ring, media_label
from tui.widgets.format import span, waited

CITIZEN_DA = {"connected": "siden er åben", "lost": "siden er lukket"}


def ring_line(ring: Ring, now: float) -> Text:
    """One ringing call, e.g. '☎ OPKALD ▶ video  RISIKO  Lise · Ensomhed · venter 2 min'."""
    text = Text()
    text.append(" ☎ OPKALD ", style="bold white on dark_magenta")
    text.append(f" {media_label(ring.media)} ", style="bold")
    if ring.risk:
        text.append(" RISIKO ", style="bold white on red")
        text.append(" ")
    text.append(ring.pseudonym, style="bold")
    if ring.topic:
        text.append(f" · {ring.topic}")
    text.append(f" · venter {waited(ring.waited(now))}")
    if ring.level:
        text.append(f" · trin {ring.level}: ingen på vagt har taget den", style="bold yellow")
    return text


class RingingPanel(Static):
    """Every call ringing this console, with the keys that answer it. Hidden when nothing rings."""

    DEFAULT_CSS = """
    RingingPanel { height: auto; border: heavy $error; padding: 0 1; display: none; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.plain = ""

    def show(self, rings: list[Ring], now: float) -> None:
        text = Text()
        for ring in rings:
            text.append_text(ring_line(ring, now))
            text.append("\n")
        if rings:
            text.append("c tager opkaldet (QR-kode til tabletten) · x afviser med en kort besked · "
                        "a stopper klokken", style="dim")
        self.plain = text.plain
        self.update(text)
        self.display = bool(rings)


def callback_line(callback: Callback, wallclock: float) -> Text:
    """E.g. 'Lise · ▶ video · i dag 21:00–22:00 · siden er åben · forsøg 1 · RINGER NU'."""
    text = Text()
    if callback.risk:
        text.append(" RISIKO ", style="bold white on red")
        text.append(" ")
    text.append(callback.pseudonym, style="bold")
    text.append(f" · {media_label(callback.media)}")
    if callback.window is not None:
        text.append(f" · {span(callback.window[0], callback.window[1], wallclock)}",
                    style="bold green" if callback.due(wallclock) else "")
    if callback.topic:
        text.append(f" · {callback.topic}")
    text.append(f" · {CITIZEN_DA.get(callback.citizen, callback.citizen)}",
                style="" if callback.citizen == "connected" else "italic")
    if callback.tries:
        text.append(f" · forsøg {callback.tries}")
    if callback.ringing:
        text.append(" · RINGER NU", style="bold yellow")
    return text


class CallbackList(OptionList):
    """Call-back requests by window start; Enter calls the highlighted citizen back."""

    class Start(Message):
        def __init__(self, conversation: str) -> None:
            super().__init__()
            self.conversation = conversation

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.items: list[Callback] = []
        self.lines: list[str] = []

    def show(self, items: list[Callback], wallclock: float) -> None:
        keep = self.highlighted_option.id if self.highlighted_option is not None else None
        self.items = list(items)
        lines = [callback_line(c, wallclock) for c in items]
        self.lines = [line.plain for line in lines]
        self.set_options([Option(line, id=c.conversation) for line, c in zip(lines, items)])
        ids = [c.conversation for c in items]
        if keep in ids:
            self.highlighted = ids.index(keep)
        elif items:
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Start(event.option.id))
