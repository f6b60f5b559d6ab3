"""Video rooms from the console: make a room, or invite to an open one, and show the link as a QR code.

"Nyt videorum": choose the kind and a title; the console makes the room and at once a single-use
guest link (valid 60 minutes unless changed). "Invitér til videorum": pick one of the open rooms.
Either way the dialog then shows the link, a QR code drawn in the terminal so a citizen can scan it
from the screen, and the address where staff open the room in a browser they are logged in to.
"""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.client import ApiError, NodeClient
from tui.widgets.format import clock
from tui.widgets.qr import qr_text

TITLE_MAX = 80
TTL_DEFAULT = 60          # minutes
TTL_RANGE = (5, 10080)    # what the node accepts: five minutes to a week
KIND_LABELS = {
    "support": "Støttesamtale: dig og én borger",
    "group": "Gruppe: kursus, kaffe, sang (op til 20)",
}
ERRORS = {
    "bad_room": "Noden afviste rummet. Navnet skal være 1–80 tegn på én linje.",
    "bad_field": "Noden afviste oplysningerne. Tjek navn og gyldighed.",
    "forbidden": "Du må ikke invitere til dette rum. Kun den der lavede det, eller en medarbejder.",
    "not_host": "Du må ikke invitere til dette rum.",
    "unknown_room": "Rummet findes ikke længere (det er lukket).",
    "unreachable": "Noden svarer ikke. Tjek netværket og prøv igen.",
    "certificate": "Nodens certifikat passer ikke med det huskede. Kontakt IT.",
    "unauthorized": "Du er ikke logget ind længere. Log ind igen.",
}


def _reason(exc: ApiError) -> str:
    if exc.status == 401:
        return ERRORS["unauthorized"]
    return ERRORS.get(exc.code, f"Noden afviste det ({exc.code}).")


class RoomDialog(ModalScreen[None]):
    """``mode`` "new": make a room and a link; "invite": a new link to an open room."""

    BINDINGS = [Binding("escape", "close", "Luk")]

    def __init__(self, client: NodeClient, mode: str = "new") -> None:
        super().__init__()
        self.client, self.mode = client, mode
        self.rooms: list[dict[str, Any]] = []
        self.room: dict[str, Any] | None = None   # the room the link is for
        self.invite: dict[str, Any] | None = None  # the node's answer: token, url, expires …
        self.busy = False
        self.ttl_minutes = TTL_DEFAULT
        self.shown_text = ""  # the link and the host address as plain text, once shown

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="room-dialog"):
            heading = "Nyt videorum" if self.mode == "new" else "Invitér til videorum"
            yield Static(heading, classes="dialog-title", markup=False, id="room-heading")
            with Vertical(id="room-form"):
                if self.mode == "new":
                    yield Static("Hvilken slags rum?", markup=False)
                    yield OptionList(*[Option(label, id=kind) for kind, label in KIND_LABELS.items()], id="kind")
                    yield Input(placeholder="Navn på rummet (1–80 tegn), fx Kaffe og snak",
                                max_length=TITLE_MAX, id="title")
                else:
                    yield Static("Vælg rummet:", markup=False)
                    yield OptionList(id="rooms")
                yield Static("Invitationen virker én gang. Gyldig i minutter:", markup=False)
                yield Input(value=str(TTL_DEFAULT), restrict=r"[0-9]*", max_length=5, id="minutes")
                yield Static("", id="room-error", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Opret rum og invitation" if self.mode == "new" else "Lav invitation",
                                 variant="primary", id="ok")
                    yield Button("Fortryd", id="cancel")
            with Vertical(id="room-result"):
                yield Static("", id="room-link", markup=False)
                yield Static("", id="room-qr")
                yield Static("", id="room-host", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Ny invitation til samme rum", id="again")
                    yield Button("Luk", variant="primary", id="close")

    def on_mount(self) -> None:
        self.query_one("#room-result").display = False
        if self.mode == "new":
            kinds = self.query_one("#kind", OptionList)
            kinds.highlighted = 0
            kinds.focus()
        else:
            self.query_one("#rooms", OptionList).focus()
            self.app.call_later(self._load_rooms)

    async def _load_rooms(self) -> None:
        try:
            self.rooms = await self.client.list_rooms()
        except ApiError as exc:
            self._error(_reason(exc))
            return
        options = self.query_one("#rooms", OptionList)
        options.clear_options()
        for room in self.rooms:
            kind = "Støttesamtale" if room.get("kind") == "support" else "Gruppe"
            people = f"{room.get('in_room', 0)} i rummet, {room.get('waiting', 0)} venter"
            options.add_option(Option(f"{room.get('title', '?')}  ({kind}, {people})", id=str(room.get("room"))))
        if self.rooms:
            options.highlighted = 0
        else:
            self._error("Der er ingen åbne videorum. Lav et med \"Nyt videorum\".")

    # ---------------------------------------------------------------- input

    def _error(self, text: str) -> None:
        self.query_one("#room-error", Static).update(text)
        if text:
            self.notify(text, severity="warning", markup=False)

    def _minutes(self) -> int | None:
        raw = self.query_one("#minutes", Input).value.strip()
        minutes = int(raw) if raw.isdigit() else 0
        if not TTL_RANGE[0] <= minutes <= TTL_RANGE[1]:
            self._error(f"Gyldigheden skal være {TTL_RANGE[0]}–{TTL_RANGE[1]} minutter (en uge).")
            return None
        return minutes

    async def _submit(self) -> None:
        if self.busy:
            return
        minutes = self._minutes()
        if minutes is None:
            return
        self.busy = True
        try:
            if self.mode == "new":
                option = self.query_one("#kind", OptionList).highlighted_option
                title = " ".join(self.query_one("#title", Input).value.split())
                if option is None:
                    self._error("Vælg hvilken slags rum.")
                    return
                if not title:
                    self._error("Skriv et navn på rummet.")
                    self.query_one("#title", Input).focus()
                    return
                self.room = await self.client.create_room(option.id or "support", title)
            else:
                option = self.query_one("#rooms", OptionList).highlighted_option
                if option is None:
                    self._error("Vælg et rum.")
                    return
                self.room = next((r for r in self.rooms if str(r.get("room")) == option.id), None)
            await self._make_invite(minutes)
        except ApiError as exc:
            self._error(_reason(exc))
        finally:
            self.busy = False

    async def _make_invite(self, minutes: int) -> None:
        assert self.room is not None
        self.invite = await self.client.create_invite(str(self.room["room"]), role="guest", single_use=True,
                                                      ttl_minutes=minutes)
        self.ttl_minutes = minutes
        self._show()

    def _show(self) -> None:
        assert self.room is not None and self.invite is not None
        url = str(self.invite.get("url", ""))
        expires = self.invite.get("expires")
        until = f" (til kl. {clock(expires)})" if isinstance(expires, (int, float)) else ""
        self.query_one("#room-heading", Static).update(f"Videorum: {self.room.get('title', '')}")
        link = (f"Invitation til borgeren (virker én gang{until}):\n{url}\n\n"
                "Borgeren kan scanne koden med mobilens kamera:")
        host = "Åbn rummet i browseren (hvor du er logget ind):\n" + self.client.room_url(str(self.room["room"]))
        self.query_one("#room-link", Static).update(link)
        self.query_one("#room-qr", Static).update(qr_text(url))
        self.query_one("#room-host", Static).update(host)
        self.shown_text = link + "\n" + host
        self.query_one("#room-form").display = False
        self.query_one("#room-result").display = True
        self.query_one("#close", Button).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.mode == "new":
            self.query_one("#title", Input).focus()
        else:
            self.query_one("#minutes", Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "title" and not self.query_one("#minutes", Input).value.strip():
            self.query_one("#minutes", Input).focus()
            return
        await self._submit()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id
        if button == "ok":
            await self._submit()
        elif button == "again" and self.room is not None and not self.busy:
            self.busy = True
            try:
                await self._make_invite(self.ttl_minutes)
                self.notify("Ny invitation lavet. Den gamle virker stadig, til den er brugt.", markup=False)
            except ApiError as exc:
                self.notify(_reason(exc), severity="warning", markup=False)
            finally:
                self.busy = False
        elif button in ("cancel", "close"):
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
