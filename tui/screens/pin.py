"""The warning shown when a node's fingerprint is not the one pinned (or advertised)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Static

from tui.pinning import config_dir


def warning_text(key: str, expected: str, got: str, source: str, pin_file: str) -> str:
    where = "sidst du var forbundet" if source == "pin" else "netværket annoncerede (zeroconf)"
    return (
        f"STOP. Noden på {key} viser et andet certifikat end det, {where}.\n\n"
        f"Forventet fingeraftryk:\n  {expected}\n"
        f"Noden viser nu:\n  {got}\n\n"
        "Det kan være, at boksen er geninstalleret. Men det kan også være en anden maskine, "
        "der udgiver sig for at være jeres node for at opsnappe adgangskoder og samtaler. "
        "Konsollen logger derfor ikke ind.\n\n"
        "Gør sådan:\n"
        "1. Ring til IT eller jeres leder. Bed dem læse fingeraftrykket op fra noden selv "
        "(det står i loggen, når `fristed serve` starter: \"Local CA fingerprint\").\n"
        "2. Kun hvis det passer med det, noden viser nu, så fjern den gamle nøgle:\n"
        f"     fristed console --forget {key}\n"
        f"   (eller slet linjen for {key} i {pin_file})\n"
        "3. Start konsollen igen. Den husker så det nye fingeraftryk."
    )


class PinWarningScreen(Screen[None]):
    """Refuses to go on: the only ways out are back (to the node list) or quit."""

    BINDINGS = [Binding("escape", "back", "Tilbage"), Binding("q", "quit_app", "Afslut")]

    def __init__(self, key: str, expected: str, got: str, source: str = "pin",
                 pin_file: str | None = None, can_go_back: bool = True) -> None:
        super().__init__()
        self.key, self.expected, self.got, self.source = key, expected, got, source
        self.pin_file = pin_file or str(config_dir() / "known_nodes.json")
        self.can_go_back = can_go_back
        self.text = warning_text(key, expected, got, source, self.pin_file)

    def compose(self) -> ComposeResult:
        with Vertical(id="pin-warning"):
            yield Static("Certifikatet er ændret – forbindelsen er afvist", classes="danger-title", markup=False)
            yield Static(self.text, id="pin-text", markup=False)
            with Horizontal(classes="buttons"):
                if self.can_go_back:
                    yield Button("Tilbage", id="back")
                yield Button("Afslut", variant="error", id="quit")

    def on_mount(self) -> None:
        signals = getattr(self.app, "signals", None)
        if signals is not None:
            signals.bell()
            signals.desktop("fristed: nodens certifikat er ændret – forbindelsen er afvist")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()
        else:
            self.action_quit_app()

    def action_back(self) -> None:
        if self.can_go_back:
            self.dismiss(None)

    def action_quit_app(self) -> None:
        self.app.exit(return_code=2)
