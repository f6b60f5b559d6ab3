"""The letterbox: unanswered letters, and a reply to one of them."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.widgets.format import clock


class LettersScreen(ModalScreen[None]):
    """Lists letters as the node sends them (``letters``); Enter on one opens the reply field."""

    BINDINGS = [Binding("escape", "close", "Luk")]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, Any]] = []
        self.selected: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static("Brevkassen: ubesvarede breve", classes="dialog-title", markup=False)
            yield OptionList(id="letters")
            yield Static("", id="letter-text", markup=False)
            yield Input(placeholder="Skriv et svar og tryk Enter (borgeren læser det med sin kode)",
                        max_length=4000, id="reply", disabled=True)

    def on_mount(self) -> None:
        self.app.call_later(self._ask)
        self.query_one("#letters", OptionList).focus()

    async def _ask(self) -> None:
        await self.app.send_frame({"type": "letters.list"})  # type: ignore[attr-defined]

    def show(self, items: list[dict[str, Any]]) -> None:
        self.items = list(items)
        options = []
        for i, item in enumerate(self.items):
            text = Text()
            ts = item.get("ts")
            text.append(clock(ts) if isinstance(ts, (int, float)) else "--:--")
            topic = item.get("topic")
            if isinstance(topic, str) and topic:
                text.append(f" · {topic}")
            body = item.get("text") if isinstance(item.get("text"), str) else ""
            text.append(" · " + body[:60].replace("\n", " "))
            options.append(Option(text, id=f"l{i}"))
        letters = self.query_one("#letters", OptionList)
        letters.set_options(options)
        if not options:
            self.query_one("#letter-text", Static).update("Ingen ubesvarede breve.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.selected = self.items[event.option_index]
        body = self.selected.get("text")
        self.query_one("#letter-text", Static).update(Text(body if isinstance(body, str) else ""))
        reply = self.query_one("#reply", Input)
        reply.disabled = False
        reply.focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text or self.selected is None:
            return
        await self.app.send_frame({"type": "letter.reply",  # type: ignore[attr-defined]
                                   "conversation": self.selected.get("conversation"), "text": text})
        event.input.value = ""
        event.input.disabled = True
        self.selected = None
        self.notify("Svaret er sendt til brevkassen.")
        await self._ask()

    def action_close(self) -> None:
        self.dismiss(None)
