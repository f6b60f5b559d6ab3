"""Login: name, password and the 6-digit code from the authenticator app."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from tui.widgets.format import short_fingerprint


class LoginScreen(Screen[None]):
    def __init__(self, url: str, fingerprint: str, first_use: bool, message: str = "") -> None:
        super().__init__()
        self.url, self.fingerprint, self.first_use, self.message = url, fingerprint, first_use, message

    def compose(self) -> ComposeResult:
        with Vertical(id="login"):
            yield Static("Log ind på fristed", classes="dialog-title", markup=False)
            yield Static(f"Node: {self.url}", markup=False)
            if self.fingerprint:
                note = ("  (første gang – nu husket; tjek det med IT)" if self.first_use
                        else "  (samme som sidst)")
                yield Static(f"Fingeraftryk: {short_fingerprint(self.fingerprint)}{note}", id="login-fp",
                             markup=False)
            else:
                yield Static("Ukrypteret forbindelse til denne maskine.", markup=False)
            yield Input(placeholder="Navn", id="name", max_length=64)
            yield Input(placeholder="Adgangskode", password=True, id="password", max_length=256)
            yield Input(placeholder="Kode fra godkender-appen (6 cifre)", id="totp", max_length=8,
                        restrict=r"[0-9 ]*")
            with Horizontal(classes="buttons"):
                yield Button("Log ind", variant="primary", id="login-button")
            yield Static(self.message, id="login-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def status(self, text: str) -> None:
        self.query_one("#login-status", Static).update(text)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        order = ["name", "password", "totp"]
        empty = [k for k in order if not self.query_one(f"#{k}", Input).value.strip()]
        if empty:
            self.query_one(f"#{empty[0]}", Input).focus()
            return
        await self._submit()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        await self._submit()

    async def _submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        password = self.query_one("#password", Input).value
        code = self.query_one("#totp", Input).value.replace(" ", "")
        if not (name and password and code):
            self.status("Skriv navn, adgangskode og koden fra appen.")
            return
        self.status("Logger ind…")
        message = await self.app.login(name, password, code)  # type: ignore[attr-defined]
        if message:
            self.status(message)
            totp = self.query_one("#totp", Input)
            totp.value = ""
            totp.focus()
