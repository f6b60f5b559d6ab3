"""Small modal dialogs. Each dismisses with a result (or None for "Fortryd"), never sends anything."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.shifts import parse_clock, parse_date, shift_window

REQUEUE = "__queue__"


class Dialog(ModalScreen[object]):
    """Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Fortryd")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)


class FormDialog(Dialog):
    """A dialog with an OK button: Enter in a field or OK calls ``_choose``; picking from a list moves
    on to the ``NEXT_FIELD`` input."""

    NEXT_FIELD: str | None = None

    def _choose(self) -> None:
        raise NotImplementedError

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if self.NEXT_FIELD is None:
            return
        event.stop()
        self.query_one(self.NEXT_FIELD, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._choose()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.prevent_default()  # Textual would run Dialog's handler as well: a second dismiss pops the screen below
        if event.button.id == "ok":
            self._choose()
        else:
            super().on_button_pressed(event)


@dataclass(frozen=True)
class TransferChoice:
    to: str | None  # None: back to the queue
    note: str


class TransferDialog(FormDialog):
    """Pick an on-duty person, or the queue, and write a note for them."""

    NEXT_FIELD = "#note"

    def __init__(self, pseudonym: str, people: list[str], allow_queue: bool = True,
                 title: str | None = None) -> None:
        super().__init__()
        self.pseudonym, self.people, self.allow_queue = pseudonym, people, allow_queue
        self.title_text = title or f"Overdrag samtalen med {pseudonym}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            options = [Option(f"Til {name}", id=f"p:{name}") for name in self.people]
            if self.allow_queue:
                options.append(Option("Tilbage til køen", id=REQUEUE))
            if not options:
                yield Static("Ingen andre er på vagt.", markup=False)
            yield OptionList(*options, id="targets")
            yield Input(placeholder="Note til den næste (valgfri, højst 500 tegn)", max_length=500, id="note")
            with Horizontal(classes="buttons"):
                yield Button("Overdrag", variant="primary", id="ok")
                yield Button("Fortryd", id="cancel")

    def _choose(self) -> None:
        targets = self.query_one("#targets", OptionList)
        option = targets.highlighted_option
        if option is None:
            self.notify("Vælg hvem samtalen skal til.", severity="warning")
            return
        to = None if option.id == REQUEUE else (option.id or "")[2:]
        self.dismiss(TransferChoice(to, self.query_one("#note", Input).value.strip()))



class EscalateDialog(FormDialog):
    """"Brug for hjælp": ring the staff on duty."""

    def __init__(self, pseudonym: str) -> None:
        super().__init__()
        self.pseudonym = pseudonym

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Brug for hjælp i samtalen med {self.pseudonym}", classes="dialog-title", markup=False)
            yield Static("Medarbejderne på vagt får en alarm og kan gå ind i samtalen.", markup=False)
            yield Input(placeholder="Kort besked til dem (valgfri)", max_length=500, id="note")
            with Horizontal(classes="buttons"):
                yield Button("Tilkald hjælp", variant="error", id="ok")
                yield Button("Fortryd", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    def _choose(self) -> None:
        self.dismiss(self.query_one("#note", Input).value.strip())


@dataclass(frozen=True)
class EndChoice:
    topic: str
    outcome: str


class EndDialog(FormDialog):
    """End a chat with the anonymous registration: topic and an optional outcome."""

    NEXT_FIELD = "#outcome"

    def __init__(self, pseudonym: str, topics: list[str], current: str | None) -> None:
        super().__init__()
        self.pseudonym = pseudonym
        self.topics = list(dict.fromkeys(topics + ["Andet"]))
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Afslut samtalen med {self.pseudonym}", classes="dialog-title", markup=False)
            yield Static("Hvad handlede samtalen om? (gemmes anonymt til statistik)", markup=False)
            yield OptionList(*[Option(t, id=f"t{i}") for i, t in enumerate(self.topics)], id="topics")
            yield Input(placeholder="Udfald (valgfrit, højst 40 tegn)", max_length=40, id="outcome")
            with Horizontal(classes="buttons"):
                yield Button("Afslut samtalen", variant="warning", id="ok")
                yield Button("Fortryd", id="cancel")

    def on_mount(self) -> None:
        topics = self.query_one("#topics", OptionList)
        if self.current in self.topics:
            topics.highlighted = self.topics.index(self.current)
        topics.focus()

    def _choose(self) -> None:
        index = self.query_one("#topics", OptionList).highlighted
        if index is None:
            self.notify("Vælg et emne.", severity="warning")
            return
        self.dismiss(EndChoice(self.topics[index], self.query_one("#outcome", Input).value.strip()))



class CannedDialog(Dialog):
    """Pick a canned reply; it goes into the composer for editing, not straight to the citizen."""

    def __init__(self, canned: list[dict[str, str]]) -> None:
        super().__init__()
        self.canned = canned

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("Standardsvar (Enter indsætter i feltet, så du kan rette det)", classes="dialog-title",
                         markup=False)
            options = []
            for i, item in enumerate(self.canned):
                text = Text()
                text.append(item.get("title", ""), style="bold")
                text.append("  " + item.get("text", "")[:80], style="dim")
                options.append(Option(text, id=f"k{i}"))
            if not options:
                yield Static("Noden har ingen standardsvar.", markup=False)
            yield OptionList(*options, id="canned")
            with Horizontal(classes="buttons"):
                yield Button("Fortryd", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#canned", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.canned[event.option_index].get("text", ""))


class BlockDialog(FormDialog):
    """End the chat and block its resume token for some hours, with a reason."""

    def __init__(self, pseudonym: str) -> None:
        super().__init__()
        self.pseudonym = pseudonym

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Blokér {self.pseudonym}", classes="dialog-title", markup=False)
            yield Static("Samtalen slutter. Blokeringen gælder kun denne samtales genoptag-nøgle.", markup=False)
            yield Input(value="24", placeholder="Timer (1–720)", restrict=r"[0-9]*", max_length=3, id="hours")
            yield Input(placeholder="Begrundelse (skal udfyldes)", max_length=200, id="reason")
            with Horizontal(classes="buttons"):
                yield Button("Blokér", variant="error", id="ok")
                yield Button("Fortryd", id="cancel")

    def _choose(self) -> None:
        hours_text = self.query_one("#hours", Input).value
        reason = self.query_one("#reason", Input).value.strip()
        hours = int(hours_text) if hours_text.isdigit() else 0
        if not 1 <= hours <= 720 or not reason:
            self.notify("Skriv 1–720 timer og en begrundelse.", severity="warning")
            return
        self.dismiss((hours, reason))



class OpenChatsDialog(Dialog):
    """Going off duty or quitting with open chats: back to the queue, or to a colleague."""

    def __init__(self, count: int, people: list[str], quitting: bool, connected: bool = True) -> None:
        super().__init__()
        self.count, self.people, self.quitting, self.connected = count, people, quitting, connected

    def compose(self) -> ComposeResult:
        doing = "afslutter konsollen" if self.quitting else "går af vagt"
        plural = "åben samtale" if self.count == 1 else "åbne samtaler"
        with Vertical(classes="dialog"):
            yield Static(f"Du har {self.count} {plural}.", classes="dialog-title", markup=False)
            yield Static(f"Før du {doing}: hvad skal der ske med dem?", markup=False)
            options = [Option("Sæt dem tilbage i køen", id=REQUEUE)]
            options += [Option(f"Overdrag dem til {name}", id=f"p:{name}") for name in self.people]
            if self.quitting and not self.connected:
                options.append(Option("Afslut uden at flytte dem (ingen forbindelse)", id="__leave__"))
            options.append(Option("Fortryd", id="__stay__"))
            yield OptionList(*options, id="choices")
            yield Input(placeholder="Note til den næste (valgfri)", max_length=500, id="note")

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        choice = event.option.id or ""
        if choice == "__stay__":
            self.dismiss(None)
        elif choice == "__leave__":
            self.dismiss("leave")
        else:
            to = None if choice == REQUEUE else choice[2:]
            self.dismiss(TransferChoice(to, self.query_one("#note", Input).value.strip()))


class ConfirmDialog(Dialog):
    def __init__(self, question: str, yes: str = "Ja", no: str = "Nej") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(self.yes, variant="primary", id="ok")
                yield Button(self.no, id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.prevent_default()  # not Dialog's handler too (it would dismiss a second time on "no")
        self.dismiss(event.button.id == "ok")


@dataclass(frozen=True)
class PlannedShift:
    name: str
    start: int  # Unix time, whole seconds
    end: int


class ShiftDialog(FormDialog):
    """Plan a shift: who (the names the console knows, or any account name), the day and from–to in
    local time. A "to" at or before "from" is the next day (a night shift 18:00–02:00)."""

    NEXT_FIELD = "#from"

    def __init__(self, names: list[str], today: dt.date) -> None:
        super().__init__()
        self.names, self.today = names, today

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Planlæg en vagt", classes="dialog-title", markup=False)
            if self.names:
                yield Static("Vælg en medarbejder, eller skriv et kontonavn:", markup=False)
                yield OptionList(*[Option(name, id=f"n{i}") for i, name in enumerate(self.names)], id="names")
            yield Input(placeholder="Kontonavn", max_length=64, id="name")
            with Horizontal(classes="form-row"):
                yield Static("Dato:", markup=False)
                yield Input(value=self.today.strftime("%d-%m-%Y"), placeholder="dd-mm-åååå", max_length=10,
                            id="date", classes="date")
                yield Static("Fra:", markup=False)
                yield Input(placeholder="18:00", max_length=5, id="from", classes="clock")
                yield Static("Til:", markup=False)
                yield Input(placeholder="02:00", max_length=5, id="to", classes="clock")
            yield Static("Slutter vagten før den begynder, slutter den dagen efter (nattevagt). "
                         "Højst 24 timer.", classes="dim", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Gem vagten", variant="primary", id="ok")
                yield Button("Fortryd", id="cancel")

    def on_mount(self) -> None:
        if self.names:
            self.query_one("#names", OptionList).focus()
        else:
            self.query_one("#name", Input).focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.query_one("#name", Input).value = self.names[event.option_index]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter moves on to the next empty field; in the last one (or all filled) it saves."""
        event.stop()
        event.prevent_default()  # not FormDialog's handler too: that would save (and dismiss) at once
        order = ["#name", "#date", "#from", "#to"]
        current = f"#{event.input.id}"
        for selector in order[order.index(current) + 1:] if current in order else []:
            field = self.query_one(selector, Input)
            if not field.value.strip():
                field.focus()
                return
        self._choose()

    def _choose(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        day = parse_date(self.query_one("#date", Input).value)
        start = parse_clock(self.query_one("#from", Input).value)
        end = parse_clock(self.query_one("#to", Input).value)
        if not name:
            self.notify("Skriv hvem vagten er til.", severity="warning")
        elif day is None:
            self.notify("Skriv datoen som dd-mm-åååå, fx 14-06-2027.", severity="warning")
        elif start is None or end is None:
            self.notify("Skriv tiderne som TT:MM, fx 18:00 og 02:00.", severity="warning")
        else:
            self.dismiss(PlannedShift(name, *shift_window(day, start, end)))
