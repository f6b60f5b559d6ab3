"""Video rooms from the console: Ctrl+P → "Nyt videorum" → a room, a single-use guest link and its QR code."""
from __future__ import annotations

import aiohttp
from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from crypto import invites
from node.clock import ManualClock
from node.room_service import invite_secret
from node.server import RunningNode
from tests.conftest import base_url, enrol, login
from tests.tui.conftest import until
from tests.tui.console_helpers import fill, log_in, type_text
from tui.app import ConsoleApp
from tui.pinning import KnownNodes
from tui.screens.main import MainScreen
from tui.screens.rooms import RoomDialog
from tui.widgets.qr import qr_plain, qr_text


def test_qr_code_is_drawn_with_half_blocks() -> None:
    url = "https://fristed.local:8443/room#invite=v1.abc.def"
    drawn = qr_text(url)
    lines = drawn.plain.split("\n")
    assert len({len(line) for line in lines}) == 1 and set(drawn.plain) <= {"▀", "\n"}
    assert len(lines) * 2 >= len(lines[0])  # two modules per character, top and bottom
    assert qr_plain(url).strip()


async def test_new_room_and_invite_from_the_palette(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                    http: aiohttp.ClientSession) -> None:
    bo = await enrol(node, clock, "Bo", "staff")
    app = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={}, alert_repeat=600)
    async with app.run_test(size=(150, 45)) as pilot:
        await log_in(pilot, app, bo)
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape", "ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await type_text(pilot, "videorum")
        await pilot.pause(0.3)
        await pilot.press("enter")  # "Nyt videorum" is the best match
        await until(lambda: isinstance(app.screen, RoomDialog), what="the room dialog")
        dialog = app.screen
        assert isinstance(dialog, RoomDialog) and dialog.mode == "new"

        # a group room: pick the kind, write the title, Enter makes the room and the link
        kinds = dialog.query_one("#kind", OptionList)
        assert app.focused is kinds
        await pilot.press("down", "enter")
        assert app.focused is dialog.query_one("#title", Input)
        await fill(pilot, app, "Kaffe og snak")
        assert dialog.query_one("#minutes", Input).value == "60"
        await pilot.press("enter")
        await until(lambda: dialog.invite is not None, what="the invite")

        text = dialog.shown_text
        assert "/room#invite=" in text and "Åbn rummet i browseren" in text
        assert dialog.room is not None
        room_id = str(dialog.room["room"])
        assert f"{base_url(node)}/room#room={room_id}" in text
        assert dialog.room["kind"] == "group" and dialog.room["title"] == "Kaffe og snak"
        qr = dialog.query_one("#room-qr")
        assert qr.display and qr.size.height > 10  # the QR code is on the screen

        # the node lists the room (over HTTP, with a staff token)
        clock.advance(30)
        token = str((await login(http, bo))["token"])
        async with http.get(base_url(node) + "/api/rooms", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            rooms = (await resp.json())["rooms"]
        listed = next(r for r in rooms if r["room"] == room_id)
        assert listed["title"] == "Kaffe og snak" and listed["live_invites"] >= 1

        # the token is a genuine single-use guest link for this room, valid one hour
        assert dialog.invite is not None
        secret = await node.ctx.store.write(invite_secret)
        invite = invites.verify(dialog.invite["token"], secret, clock.now())
        assert invite.room == room_id and invite.role == "guest"
        assert dialog.invite["single_use"] is True
        assert 3500 <= invite.expires - clock.now() <= 3600
        assert dialog.invite["url"].endswith("/room#invite=" + dialog.invite["token"])

        # "Invitér til videorum": the same room from the list, a new link
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen), what="the dialog to close")
        app.action_invite_room()
        await until(lambda: isinstance(app.screen, RoomDialog) and bool(app.screen.rooms), what="the room list")
        second = app.screen
        assert isinstance(second, RoomDialog)
        assert second.query_one("#rooms", OptionList).option_count == len(second.rooms)
        await pilot.press("enter")  # the room is highlighted; Enter moves to the lifetime
        assert app.focused is second.query_one("#minutes", Input)
        await pilot.press("enter")
        await until(lambda: second.invite is not None, what="the second invite")
        assert second.room is not None and second.room["room"] == room_id
        assert second.invite is not None and second.invite["token"] != dialog.invite["token"]
        assert "/room#invite=" in second.shown_text

        await pilot.press("escape")
        await pilot.press("ctrl+q")
        await until(lambda: not app.is_running, what="the console to quit")
