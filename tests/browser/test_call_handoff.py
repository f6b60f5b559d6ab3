"""The night desk's whole path: a citizen's call rings the console, the console's one-time link
admits a tablet's browser, and the two browsers see and hear each other.

Everything is real: the node (TLS, SQLCipher, aiortc forwarding), the Textual console driven by its
pilot, and two headless Chromiums with fake cameras: the citizen on the chat page ("Ring op" with
the camera) and the staff member's tablet opening the link the console shows. Then the same link
is refused on a second use, and a fresh link is refused once it has expired.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from node.clock import ManualClock
from node.server import RunningNode
from tests.browser.test_call_page import answer_danger, new_page, wait_video
from tests.conftest import base_url, enrol
from tests.tui.conftest import until
from tests.tui.console_helpers import log_in, rings
from tui.app import ConsoleApp
from tui.pinning import KnownNodes
from tui.screens.calls import CallLinkScreen
from tui.widgets.calls import RingingPanel

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TABLET = {"width": 1024, "height": 768}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time() - 600)  # as in test_call_page: the node a little behind the browsers


async def test_call_rings_console_and_its_link_admits_a_tablet_with_media_both_ways(
        browser: Browser, node: RunningNode, clock: ManualClock, tmp_path: Path) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=KnownNodes(tmp_path / "known_nodes.json"), writer=writes.append,
                     env={}, alert_repeat=600)
    async with app.run_test(size=(150, 50)) as pilot:
        await log_in(pilot, app, anna)
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")

        # The citizen calls from the chat page, with the camera on.
        citizen_ctx, phone = await new_page(browser)
        await phone.goto(base_url(node) + "/chat")
        await answer_danger(phone)
        await phone.get_by_label("Hvad vil du kaldes?").fill("Lise")
        await phone.get_by_role("button", name="Ring op", exact=True).click()
        await phone.get_by_role("button", name="Ring op med kamera").click()
        await expect(phone.get_by_role("heading", name="Du ringer op")).to_be_visible()

        # The console rings: banner, bell and desktop notification.
        panel = app.screen.query_one(RingingPanel)
        await until(lambda: "Lise" in panel.plain, timeout=10, what="the console to ring")
        bells, notes = rings(writes)
        assert bells >= 1 and any("Lise" in n for n in notes), (bells, notes)

        # Accepting in the console shows the one-time link (and its QR code) for the tablet.
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, CallLinkScreen), timeout=10, what="the link screen")
        screen = app.screen
        assert isinstance(screen, CallLinkScreen)
        url = screen.link.url
        assert re.fullmatch(rf"https://[^/]+:{node.port}/room#invite=[\w.-]+", url), url

        # The tablet opens it and is in the call as its host; the citizen's page went to the room by itself.
        tablet_ctx, tablet = await new_page(browser, TABLET)
        await tablet.goto(url)
        await tablet.get_by_role("button", name="Gå ind med kamera og lyd").click()
        await expect(tablet.locator("#view-room")).to_be_visible()
        await expect(phone.locator("#view-room")).to_be_visible()
        await expect(tablet.locator("#people-list")).to_contain_text("Lise")
        await expect(phone.locator("#people-list")).to_contain_text("Anna")

        # Media flows both ways: each browser decodes the other's video.
        await wait_video(tablet)
        await wait_video(phone)

        # The link works once: a second browser with the same link is told so, plainly.
        spare_ctx, spare = await new_page(browser, TABLET)
        await spare.goto(url)
        await spare.get_by_role("button", name="Gå ind med kamera og lyd").click()
        await expect(spare.get_by_text("Linket er allerede brugt")).to_be_visible()

        # A new link from the console dies after call_link_min minutes (5).
        await pilot.press("n")
        await until(lambda: screen.link.url != url, timeout=10, what="a new link")
        fresh = screen.link.url
        clock.advance(5 * 60 + 1)
        await spare.goto("about:blank")
        await spare.goto(fresh)
        await spare.get_by_role("button", name="Gå ind med kamera og lyd").click()
        await expect(spare.get_by_text("Linket er for gammelt")).to_be_visible()

        for ctx in (spare_ctx, tablet_ctx, citizen_ctx):
            await ctx.close()
        await pilot.press("escape")
