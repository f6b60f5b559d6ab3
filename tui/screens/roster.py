"""The duty roster (``roster.get``): who is on duty now, the planned shifts, and the opening hours."""
from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.shifts import Roster
from tui.state import ROLES_DA
from tui.widgets.format import at, span

if TYPE_CHECKING:
    from tui.app import ConsoleApp


def hours_line(in_hours: bool | None, next_open: float | None, now: float) -> str:
    if in_hours is None:
        return ""
    if in_hours:
        return "Centret har åbent nu."
    text = "Uden for åbningstid."
    if next_open is not None:
        text += f" Åbner igen {at(next_open, now)}."
    return text + " Er nogen på vagt, er der alligevel åbent."


def render_roster(roster: Roster, now: float) -> Text:
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
    text.append("\nPlanlagte vagter (i dag og de næste 7 dage)\n", style="bold")
    if not roster.shifts:
        text.append("  Ingen planlagte vagter.\n", style="dim")
    for shift in roster.shifts:
        now_marker = "  ← nu" if shift.start <= now < shift.end else ""
        text.append(f"  {span(shift.start, shift.end, now)}  {shift.name} "
                    f"({ROLES_DA.get(shift.role, shift.role)}){now_marker}\n")
    text.rstrip()
    return text


class RosterScreen(ModalScreen[None]):
    """Asks the node for the roster when opened; updates whenever the node sends ``roster``."""

    BINDINGS = [Binding("escape,v", "close", "Luk")]

    def __init__(self) -> None:
        super().__init__()
        self.plain = ""

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("Vagtplan", classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static("Henter vagtplanen …", id="roster-text", markup=False)
            yield Static("Esc lukker. Vagter planlægges af en administrator.", classes="dim", markup=False)

    def on_mount(self) -> None:
        if self.console.state.roster is not None:
            self.show(self.console.state.roster)
        self.app.call_later(self._ask)

    async def _ask(self) -> None:
        await self.console.send_frame({"type": "roster.get"})

    def show(self, roster: Roster) -> None:
        text = render_roster(roster, self.console.wallclock())
        self.plain = text.plain
        self.query_one("#roster-text", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
