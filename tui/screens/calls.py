"""Answering calls from the console: the one-time link and QR code for the tablet, and declining.

Video cannot be shown in a terminal. Accepting a call (``call.accept`` with ``device: "link"``)
gives a one-time host link: the tablet scans the QR code and is in the room at once. The link
works once and only for a few minutes; ``n`` asks the node for a new one (``call.link``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.calls import CallLink, media_label
from tui.screens.dialogs import FormDialog
from tui.widgets.format import clock, countdown
from tui.widgets.qr import qr_text

if TYPE_CHECKING:
    from tui.app import ConsoleApp

DECLINE_MAX = 300


class CallLinkScreen(ModalScreen[None]):
    """The answered call's one-time host link: QR code, the link as text, and how long it still works."""

    BINDINGS = [Binding("escape", "close", "Luk"), Binding("n", "new_link", "Nyt link")]

    def __init__(self, link: CallLink, pseudonym: str, media: str) -> None:
        super().__init__()
        self.link, self.pseudonym, self.media = link, pseudonym, media
        self.shown_text = ""      # the heading, help and link as plain text
        self.countdown_plain = ""

    @property
    def console(self) -> "ConsoleApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="call-link"):
            yield Static("", classes="dialog-title", markup=False, id="call-heading")
            yield Static("", id="call-help", markup=False)
            yield Static("", id="call-qr")
            yield Static("", id="call-url", markup=False)
            yield Static("", id="call-countdown", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Nyt link (n)", id="new-link")
                yield Button("Luk (Esc)", variant="primary", id="close")

    def on_mount(self) -> None:
        self.show(self.link)
        self.set_interval(1.0, self._tick)
        self.query_one("#close", Button).focus()

    def show(self, link: CallLink) -> None:
        """Show a (new) link for this call."""
        self.link = link
        heading = f"Opkald med {self.pseudonym} ({media_label(self.media)}) er taget"
        help_text = ("Scan koden med tabletten (eller åbn linket i en browser). Så er du med i samtalen "
                     "med det samme. Linket virker kun én gang.")
        self.query_one("#call-heading", Static).update(heading)
        self.query_one("#call-help", Static).update(help_text)
        self.query_one("#call-qr", Static).update(qr_text(link.url) if link.url else "")
        self.query_one("#call-url", Static).update(link.url)
        self.shown_text = f"{heading}\n{help_text}\n{link.url}"
        self._tick()

    def _tick(self) -> None:
        left = self.link.left(self.console.state.now())
        if left > 0:
            until = f" (til kl. {clock(self.link.expires)})" if self.link.expires is not None else ""
            text = f"Linket virker i {countdown(left)} endnu{until}."
        else:
            text = "Linket er udløbet. Tryk n for et nyt link."
        self.countdown_plain = text
        widget = self.query_one("#call-countdown", Static)
        widget.update(text)
        widget.set_class(left <= 0, "expired")

    async def action_new_link(self) -> None:
        if await self.console.send_frame({"type": "call.link", "conversation": self.link.conversation}):
            self.notify("Beder noden om et nyt link …", markup=False)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "new-link":
            await self.action_new_link()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class DeclineDialog(FormDialog):
    """Decline a waiting call with one of the centre's short messages, or your own (1–300 characters).

    Enter on a message sends it at once; Tab moves to the free-text field."""

    def __init__(self, pseudonym: str, messages: list[str]) -> None:
        super().__init__()
        self.pseudonym, self.messages = pseudonym, messages

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(f"Afvis opkaldet fra {self.pseudonym}", classes="dialog-title", markup=False)
            yield Static("Borgeren ser beskeden og får tilbudt chat, at blive ringet op og brevkassen.",
                         markup=False)
            yield OptionList(*[Option(m, id=f"m{i}") for i, m in enumerate(self.messages)], id="messages")
            yield Input(placeholder="Eller skriv din egen besked (højst 300 tegn)", max_length=DECLINE_MAX,
                        id="free")
            with Horizontal(classes="buttons"):
                yield Button("Afvis og send beskeden", variant="warning", id="ok")
                yield Button("Fortryd", id="cancel")

    def on_mount(self) -> None:
        options = self.query_one("#messages", OptionList)
        if self.messages:
            options.highlighted = 0
            options.focus()
        else:
            self.query_one("#free", Input).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.messages[event.option_index])

    def _choose(self) -> None:
        own = " ".join(self.query_one("#free", Input).value.split())
        if own:
            self.dismiss(own[:DECLINE_MAX])
            return
        index = self.query_one("#messages", OptionList).highlighted
        if index is None or not self.messages:
            self.notify("Vælg en besked eller skriv din egen.", severity="warning")
            return
        self.dismiss(self.messages[index])
