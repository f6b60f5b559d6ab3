"""The duty roster (``roster.get``): who is on duty now, the planned shifts, and the opening hours.
Administrators plan shifts here (``roster.add``) and remove the highlighted one (``roster.remove``)."""
from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.dialogs import ConfirmDialog, PlannedShift, ShiftDialog
from tui.shifts import Roster, Shift
from tui.state import ERRORS_DA, ROLES_DA
from tui.widgets.format import at, span

if TYPE_CHECKING:
    from tui.app import ConsoleApp

_ids = itertools.count(1)


def hours_line(in_hours: bool | None, next_open: float | None, now: float) -> str:
    if in_hours is None:
        return ""
    if in_hours:
        return "Centret har åbent nu."
    text = "Uden for åbningstid."
    if next_open is not None:
        text += f" Åbner igen {at(next_open, now)}."
    return text + " Er nogen på vagt, er der alligevel åbent."


def render_header(roster: Roster, now: float) -> Text:
    """The hours and who is on duty now, down to the heading of the planned shifts."""
    text = Text()
    hours = hours_line(roster.in_hours, roster.next_open, now)
    if hours:
        text.append(hours + "\n\n", style="bold" if roster.in_hours else "bold yellow")
    text.append("På vagt nu\n", style="bold")
    if not roster.on_duty:
        text.append("  Ingen.\n", style="dim")
    for person in roster.on_duty:
        text.append(f"  {person.name} ({ROLES_DA.get(person.role, person.role)})")
        text.append(" – er her\n" if person.present else " – ikke forbundet lige nu\n",
                    style="green" if person.present else "yellow")
    text.append("\nPlanlagte vagter (i dag og de næste 7 dage)", style="bold")
    return text


def shift_line(shift: Shift, now: float) -> str:
    now_marker = "  ← nu" if shift.start <= now < shift.end else ""
    return f"{span(shift.start, shift.end, now)}  {shift.name} ({ROLES_DA.get(shift.role, shift.role)}){now_marker}"


def render_roster(roster: Roster, now: float) -> Text:
    text = render_header(roster, now)
    text.append("\n")
    if not roster.shifts:
        text.append("  Ingen planlagte vagter.\n", style="dim")
    for shift in roster.shifts:
        text.append(f"  {shift_line(shift, now)}\n")
    text.rstrip()
    return text


def refusal_text(action: str, code: str, reason: str, name: str = "") -> str:
    """The node's ``error`` for ``roster.add`` (action "add") or ``roster.remove``, in plain Danish."""
    if action == "add":
        if code == "unknown_account":
            why = f"der er ingen aktiv konto, der hedder {name}." if name else "der er ingen aktiv konto med det navn."
        elif code == "bad_shift":
            why = "en vagt må højst vare 24 timer og skal slutte ude i fremtiden."
        elif code == "forbidden":
            why = "kun en administrator kan planlægge vagter."
        else:
            why = ERRORS_DA.get(code) or reason or code
        return f"Vagten kunne ikke gemmes: {why}"
    if code == "unknown_shift":
        why = "den findes ikke længere."
    elif code == "forbidden":
        why = "kun en administrator kan fjerne vagter."
    else:
        why = ERRORS_DA.get(code) or reason or code
    return f"Vagten kunne ikke fjernes: {why}"


class RosterScreen(ModalScreen[None]):
    """Asks the node for the roster when opened; updates whenever the node sends ``roster``."""

    BINDINGS = [
        Binding("escape,v", "close", "Luk"),
        Binding("a", "add", "Planlæg vagt"),
        Binding("delete", "remove", "Fjern vagt"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plain = ""
        self.status = ""
        self.shifts: list[Shift] = []
        self.waiting: dict[str, tuple[str, Any]] = {}  # request id -> ("add", PlannedShift) or ("remove", Shift)

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    @property
    def admin(self) -> bool:
        return self.console.state.role == "admin"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("Vagtplan", classes="dialog-title", markup=False)
            yield Static("Henter vagtplanen …", id="roster-text", markup=False)
            yield OptionList(id="shifts")
            yield Static("", id="shifts-empty", classes="dim", markup=False)
            yield Static("", id="roster-status", markup=False)
            hint = ("a planlægger en vagt. Del fjerner den markerede vagt. Esc lukker." if self.admin
                    else "Esc lukker. Vagter planlægges af en administrator.")
            yield Static(hint, id="roster-keys", classes="dim", markup=False)

    def on_mount(self) -> None:
        self.query_one("#shifts", OptionList).display = False
        if self.console.state.roster is not None:
            self.show(self.console.state.roster)
        self.app.call_later(self._ask)

    async def _ask(self) -> None:
        await self.console.send_frame({"type": "roster.get"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Planning and removing are for administrators only: hidden and inert for everyone else."""
        if action in ("add", "remove"):
            return self.admin
        return True

    def show(self, roster: Roster) -> None:
        now = self.console.wallclock()
        header = render_header(roster, now)
        lines = [shift_line(s, now) for s in roster.shifts]
        self.plain = render_roster(roster, now).plain
        self.query_one("#roster-text", Static).update(header)
        options = self.query_one("#shifts", OptionList)
        keep = self.shifts[options.highlighted].id if options.highlighted is not None and \
            options.highlighted < len(self.shifts) else None
        keep = self._settle(roster) or keep
        self.shifts = list(roster.shifts)
        options.set_options([Option(line, id=f"s{i}") for i, line in enumerate(lines)])
        options.display = bool(self.shifts)
        self.query_one("#shifts-empty", Static).update("" if self.shifts else "  Ingen planlagte vagter.")
        ids = [s.id for s in self.shifts]
        if self.shifts:
            options.highlighted = ids.index(keep) if keep in ids else 0
            if self.admin and self.focused is None:
                options.focus()

    def _settle(self, roster: Roster) -> int | str | None:
        """A ``roster`` after our own request: say what happened; the id of a shift just planned."""
        now = self.console.wallclock()
        planned: int | str | None = None
        for ref, (action, item) in list(self.waiting.items()):
            if action == "add":
                match = next((s for s in roster.shifts if s.name.casefold() == item.name.casefold()
                              and s.start == item.start and s.end == item.end), None)
                if match is None:
                    continue
                self._say(f"Vagten er planlagt: {match.name} {span(item.start, item.end, now)}.")
                del self.waiting[ref]
                planned = match.id
            elif all(s.id != item.id for s in roster.shifts):
                self._say(f"Vagten er fjernet: {item.name} {span(item.start, item.end, now)}.")
                del self.waiting[ref]
        return planned

    def _say(self, text: str, warning: bool = False) -> None:
        self.status = text
        self.query_one("#roster-status", Static).update(Text(text, style="bold yellow" if warning else "green"))
        self.notify(text, severity="warning" if warning else "information", markup=False)

    def refused(self, frame: dict[str, Any]) -> bool:
        """The node's ``error`` for one of our requests: show why; False if it was not ours."""
        ref = frame.get("id")
        if not isinstance(ref, str) or ref not in self.waiting:
            return False
        action, item = self.waiting.pop(ref)
        text = refusal_text(action, str(frame.get("code", "")), str(frame.get("reason", "")),
                            getattr(item, "name", ""))
        self._say(text, warning=True)
        return True

    async def _send(self, action: str, item: Any, frame: dict[str, Any]) -> None:
        ref = f"roster-{next(_ids)}"
        self.waiting[ref] = (action, item)
        if not await self.console.send_frame({**frame, "id": ref}):
            self.waiting.pop(ref, None)

    def known_names(self) -> list[str]:
        """The staff names this console has seen: on duty, in the roster, and its own."""
        state = self.console.state
        names = list(state.on_duty_names)
        if state.roster is not None:
            names += [p.name for p in state.roster.on_duty] + [s.name for s in state.roster.shifts]
        if state.name:
            names.append(state.name)
        return sorted(set(names), key=str.casefold)

    def action_add(self) -> None:
        async def chosen(planned: object) -> None:
            if isinstance(planned, PlannedShift):
                await self._send("add", planned, {"type": "roster.add", "name": planned.name,
                                                  "from": planned.start, "to": planned.end})

        today = dt.datetime.fromtimestamp(self.console.wallclock()).date()
        self.app.push_screen(ShiftDialog(self.known_names(), today), chosen)

    def action_remove(self) -> None:
        index = self.query_one("#shifts", OptionList).highlighted
        if index is None or not 0 <= index < len(self.shifts):
            self.notify("Vælg en vagt på listen først.", severity="warning")
            return
        shift = self.shifts[index]
        when = span(shift.start, shift.end, self.console.wallclock())

        async def confirmed(yes: object) -> None:
            if yes is True:
                await self._send("remove", shift, {"type": "roster.remove", "shift": shift.id})

        self.app.push_screen(ConfirmDialog(f"Fjern vagten {when} for {shift.name}?", yes="Fjern vagten",
                                           no="Behold den"), confirmed)

    def action_close(self) -> None:
        self.dismiss(None)
