"""F1: every key, in plain Danish."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Ctrl+P", "Kommandopalet: søg efter alt, konsollen kan"),
    ("F1", "Denne hjælp"),
    ("Mellemrum / n", "Tag den næste i køen (risiko først, så længst ventetid); er det et opkald, tages det"),
    ("Enter i køen", "Tag netop den markerede (chat eller opkald)"),
    ("c", "Tag opkaldet: en QR-kode og et link, der åbner videorummet på tabletten"),
    ("x", "Afvis opkaldet med en kort besked til borgeren"),
    ("k", "Vis linket til dit opkald igen (n i vinduet laver et nyt link)"),
    ("r", "Ring tilbage: gå til listen og tryk Enter for at ringe borgeren op"),
    ("v", "Vagtplan: hvem er på vagt nu, og hvem kommer"),
    ("h", "Overlevering: noter til og fra næste vagt"),
    ("Alt+1 … Alt+9", "Skift til åben samtale nr. 1–9"),
    ("Esc", "Tilbage til køen"),
    ("o", "Gå på vagt / af vagt"),
    ("a", "Kvittér for alarmer (stopper gentagelsen)"),
    ("l", "Brevkassen: læs og besvar breve"),
    ("j", "Gå ind i en samtale, hvor en kollega har brug for hjælp"),
    ("F2 eller :: i feltet", "Standardsvar"),
    ("F3", "Skriv en privat note (borgeren ser den aldrig)"),
    ("F4", "Overdrag samtalen til en kollega eller tilbage til køen"),
    ("F5", "Brug for hjælp: tilkald en medarbejder"),
    ("F6", "Afslut samtalen (emne og udfald til statistik)"),
    ("F7", "Blokér (med udløb og begrundelse)"),
    ("Ctrl+Q", "Afslut konsollen (spørger om åbne samtaler)"),
]

ADMIN_KEYS = [  # only an administrator plans shifts: nobody else sees these keys
    ("a i vagtplanen", "Planlæg en vagt: hvem, dato, fra og til (til før fra = nattevagt til næste dag)"),
    ("Del i vagtplanen", "Fjern den markerede vagt (du bliver spurgt først)"),
]

ALARMS = ("Alarmer: terminalens klokke, en skrivebordsbesked (OSC 9) og en besked på skærmen. "
          "De gentages, indtil du kvitterer med a eller tager samtalen. Et opkald står øverst, "
          "indtil nogen har taget det; statuslinjen viser UDEN FOR ÅBNINGSTID, når centret har lukket. "
          "I tmux: set -g bell-action any, set -g visual-bell off og set -g allow-passthrough on.")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Luk")]

    def __init__(self, admin: bool = False) -> None:
        super().__init__()
        self.keys = KEYS + ADMIN_KEYS if admin else list(KEYS)
        self.plain = ""

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in self.keys) + 2
        lines = "\n".join(f"{k.ljust(width)}{v}" for k, v in self.keys)
        self.plain = lines
        with Vertical(classes="dialog wide"):
            yield Static("Hjælp: taster", classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(lines, id="help-keys", markup=False)
                yield Static("\n" + ALARMS, markup=False)
            yield Static("Esc lukker. Musen virker også: klik på køen, faner og knapper.", classes="dim",
                         markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
