"""Driving the console with Textual's pilot against a real node."""
from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import Staff
from tests.tui.conftest import until
from tui.app import ConsoleApp
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type like a person: one key at a time (slow under the pilot: keep texts short)."""
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def fill(pilot: Pilot[Any], app: ConsoleApp, text: str) -> None:
    """Put a long text in the focused input, typing only its last key."""
    focused = app.focused
    assert isinstance(focused, Input), focused
    focused.value = text[:-1]
    focused.cursor_position = len(focused.value)
    await type_text(pilot, text[-1])


async def log_in(pilot: Pilot[Any], app: ConsoleApp, person: Staff) -> None:
    """Fill the login form with the pilot and wait for the main view, connected."""
    await until(lambda: isinstance(app.screen, LoginScreen) and app.screen.is_mounted
                and bool(app.screen.query("#totp")), what="the login screen")
    await pilot.pause()
    await pilot.click("#name")
    await fill(pilot, app, person.name)
    await pilot.press("enter")  # moves to the next empty field
    assert app.focused is app.screen.query_one("#password", Input)
    await fill(pilot, app, person.password)
    await pilot.press("enter")
    await fill(pilot, app, person.code())
    await pilot.press("enter")
    # the main view (handover notes from the last shift may open on top of it at once)
    await until(lambda: isinstance(app.main, MainScreen) and app.main.is_attached and app.connected,
                what="the main view")
    person.clock.advance(30)  # this TOTP step is spent


async def log_in_on_duty(pilot: Pilot[Any], app: ConsoleApp, person: Staff) -> MainScreen:
    """Log in, then go on duty with o; the main view."""
    await log_in(pilot, app, person)
    main = app.screen
    assert isinstance(main, MainScreen)
    await pilot.press("o")
    await until(lambda: app.state.on_duty, what="on duty")
    return main


def rings(writes: list[str]) -> tuple[int, list[str]]:
    """How many bells, and the OSC 9 texts, the console wrote to the terminal."""
    bells = writes.count("\a")
    notes = [w[len("\x1b]9;"):-2] for w in writes if w.startswith("\x1b]9;")]
    return bells, notes
