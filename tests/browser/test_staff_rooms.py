"""The "Videorum" part of the staff page in a real headless Chromium against a real node.

Log in through the page, make a group room, make an invitation (link + QR code), check it over HTTP
with the page's own cookie, then close the room through the page.
"""
from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from node.clock import ManualClock
from node.server import RunningNode
from tests.browser.test_staff_page import TIMEOUT_MS, signed_in_page
from tests.conftest import base_url, enrol

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_make_group_room_invite_and_close(browser: Browser, node: RunningNode, clock: ManualClock) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    page = await signed_in_page(browser, node, clock, anna)
    section = page.locator("#rooms")
    await expect(section).to_be_visible()
    await expect(section.get_by_role("heading", name="Videorum")).to_be_visible()
    await expect(page.locator("#rooms-empty")).to_be_visible()

    # Make a group room.
    await section.get_by_label("Titel på rummet").fill("Kaffe og snak")
    await section.get_by_label("Gruppe").check()
    await section.get_by_role("button", name="Opret rummet").click()
    item = page.locator("#room-list li.room-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".room-title")).to_have_text("Kaffe og snak")
    await expect(item.locator(".room-meta")).to_contain_text("Gruppe")
    await expect(item.locator(".room-meta")).to_contain_text("0 venter")
    await expect(page.locator("#rooms-empty")).to_be_hidden()
    room_id = await item.get_attribute("data-room")
    assert room_id

    # "Gå ind i rummet" opens the room page for a staff host, in a new tab.
    enter = item.get_by_role("link", name="Gå ind i rummet")
    assert await enter.get_attribute("href") == f"/room#room={room_id}"
    assert await enter.get_attribute("target") == "_blank"

    # An invitation: single use by default; pick a week.
    single = item.get_by_label("Kun til én person", exact=False)
    await expect(single).to_be_checked()
    await item.get_by_label("Linket virker i").select_option(label="1 uge")
    await item.get_by_role("button", name="Lav invitation").click()
    link = item.get_by_label("Link til invitationen")
    await expect(link).to_be_visible()
    url = await link.input_value()
    assert url.startswith(base_url(node) + "/room#invite="), url
    qr = item.get_by_role("img", name="QR-kode til invitationen")
    await expect(qr).to_be_visible()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await qr.element_handle(),
                                 timeout=TIMEOUT_MS)
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    await expect(item).to_contain_text("Kan bruges én gang")
    await expect(item.locator(".room-meta")).to_contain_text("1 link virker")

    # The copy button copies (or says how to copy it by hand).
    await item.get_by_role("button", name="Kopiér linket").click()
    await expect(item.locator(".room-copied")).not_to_have_text("")

    # Over HTTP with the page's own cookie: the room is there, with one live link.
    listing = await page.context.request.get(base_url(node) + "/api/rooms")
    assert listing.status == 200
    rooms = {r["room"]: r for r in (await listing.json())["rooms"]}
    assert rooms[room_id]["kind"] == "group"
    assert rooms[room_id]["title"] == "Kaffe og snak"
    assert rooms[room_id]["live_invites"] == 1
    assert rooms[room_id]["closed"] is False

    # Close it, with a second step to confirm.
    await item.get_by_role("button", name="Luk rummet").click()
    await item.get_by_role("button", name="Ja, luk rummet").click()
    await expect(page.locator("#rooms-status")).to_contain_text("er lukket")
    await expect(page.locator("#room-list li.room-item")).to_have_count(0)
    await expect(page.locator("#rooms-empty")).to_be_visible()
    listing = await page.context.request.get(base_url(node) + "/api/rooms")
    assert room_id not in {r["room"] for r in (await listing.json())["rooms"]}

    errors = getattr(page, "js_errors", None)
    assert errors == [], errors
    await page.context.close()
