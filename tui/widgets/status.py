"""The one-line status bar: node, who I am, duty, opening hours, connection, letters, alarms."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusBar(Static):
    """Rendered from plain values so tests can read ``plain``."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.plain = ""

    def show(self, node: str, who: str, on_duty: bool, connected: bool, down_text: str, letters: int,
             alarms: int, in_hours: bool | None = None) -> None:
        text = Text()
        text.append(f"fristed · {node}  ", style="bold")
        text.append(f"{who}  ")
        text.append(" PÅ VAGT " if on_duty else " AF VAGT ",
                    style="bold black on green" if on_duty else "bold white on grey37")
        text.append("  ")
        if in_hours is False:
            text.append(" UDEN FOR ÅBNINGSTID ", style="bold black on yellow")
            text.append("  ")
        if connected:
            text.append("Forbundet", style="green")
        else:
            text.append(down_text or "Ikke forbundet", style="bold white on red")
        if letters:
            text.append(f"  Breve: {letters} (l)")
        if alarms:
            text.append(f"  Alarmer: {alarms} (a kvitterer)", style="bold white on dark_red")
        self.plain = text.plain
        self.update(text)
