"""Handover notes between shifts: read them, write one, delete your own (``handover.*``).

Free text only: the node never ties a note to a conversation or a citizen, and the screen asks
staff not to write names either.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.shifts import HandoverNote
from tui.widgets.format import at, clock

if TYPE_CHECKING:
    from tui.app import ConsoleApp

TEXT_MAX = 2000
HOURS_RANGE = (1, 168)


def note_line(note: HandoverNote, now: float) -> Text:
    text = Text()
    text.append(f"{clock(note.ts)} {note.author}: ", style="bold")
    text.append(note.text)
    if note.expires is not None:
        text.append(f"  (vises til {at(note.expires, now)})", style="dim")
    return text


class HandoverScreen(ModalScreen[None]):
    """The live notes, newest first. ``greeting``: opened by itself at login or when going on duty."""

    BINDINGS = [Binding("escape", "close", "Luk"), Binding("delete", "delete", "Slet noten")]

    def __init__(self, greeting: bool = False) -> None:
        super().__init__()
        self.greeting = greeting
        self.notes: list[HandoverNote] = []
        self.lines: list[str] = []

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        title = "Noter fra sidste vagt" if self.greeting else "Overlevering til næste vagt"
        with Vertical(classes="dialog wide"):
            yield Static(title, classes="dialog-title", markup=False)
            yield Static("Korte beskeder mellem vagter. Skriv aldrig navne eller noget, der kan "
                         "genkende en borger.", markup=False)
            yield OptionList(id="notes")
            yield Static("", id="notes-empty", markup=False)
            yield Input(placeholder="Ny note til næste vagt (Enter gemmer)", max_length=TEXT_MAX, id="text")
            with Horizontal(classes="form-row"):
                yield Static("Vises i timer (tom = centrets standard):", markup=False)
                yield Input(placeholder="1–168", restrict=r"[0-9]*", max_length=3, id="hours")
            yield Static("Del sletter den markerede note (din egen; en administrator kan slette alle). "
                         "Esc lukker.", classes="dim", markup=False)

    def on_mount(self) -> None:
        self.show(self.console.state.handover)
        if self.greeting and self.notes:
            self.query_one("#notes", OptionList).focus()
        else:
            self.query_one("#text", Input).focus()
        self.app.call_later(self._ask)

    async def _ask(self) -> None:
        await self.console.send_frame({"type": "handover.list"}, quiet=True)

    def show(self, notes: list[HandoverNote]) -> None:
        now = self.console.wallclock()
        self.notes = list(notes)
        self.console.handover_seen.update(note.id for note in self.notes)
        lines = [note_line(n, now) for n in self.notes]
        self.lines = [line.plain for line in lines]
        options = self.query_one("#notes", OptionList)
        keep = options.highlighted
        options.set_options([Option(line, id=f"n{i}") for i, line in enumerate(lines)])
        if self.notes:
            options.highlighted = min(keep or 0, len(self.notes) - 1)
        self.query_one("#notes-empty", Static).update("" if self.notes else "Ingen noter lige nu.")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#text", Input).value.strip()
        if not text:
            self.query_one("#text", Input).focus()
            return
        raw_hours = self.query_one("#hours", Input).value.strip()
        frame: dict[str, Any] = {"type": "handover.add", "text": text}
        if raw_hours:
            hours = int(raw_hours) if raw_hours.isdigit() else 0
            if not HOURS_RANGE[0] <= hours <= HOURS_RANGE[1]:
                self.notify("Skriv 1–168 timer, eller lad feltet stå tomt.", severity="warning")
                return
            frame["hours"] = hours
        if await self.console.send_frame(frame):
            self.query_one("#text", Input).value = ""
            self.query_one("#hours", Input).value = ""
            self.notify("Noten er gemt til næste vagt.", markup=False)

    async def action_delete(self) -> None:
        index = self.query_one("#notes", OptionList).highlighted
        if index is None or not 0 <= index < len(self.notes):
            self.notify("Vælg en note på listen først.", severity="warning")
            return
        await self.console.send_frame({"type": "handover.delete", "note": self.notes[index].id})

    def action_close(self) -> None:
        self.dismiss(None)
