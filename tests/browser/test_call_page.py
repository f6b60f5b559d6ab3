"""Calls from the citizen chat page (docs/api.md section 9) in real headless Chromium against a real node.

The citizen works through the page only, at a small phone's size; the staff side is a real WebSocket
client logged in with a bearer token, and for the video a second Chromium that is the same staff
member logged in with the browser's own session cookie, entering the support room by its id
(``room.knock {room}``, the ``device: "here"`` way). Both pages must decode the other's video.

The node's clock is a ManualClock set ten minutes behind the real time the browsers use, so a
call-back window the page computes from its own clock is never "in the past" for the node, however
many TOTP steps the logins move the node's clock on.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from node.clock import ManualClock
from node.server import RunningNode
from tests.browser.test_chat_page import SPIES, assert_fits_phone, assert_touch_size, on_duty
from tests.browser.test_room_page import FRAMES_DECODED, SPY
from tests.chatclient import WsClient
from tests.conftest import Staff, base_url, enrol, every_day, login, put_settings, trust_only_ca

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 15_000
MEDIA_TIMEOUT_MS = 30_000
PHONE = {"width": 360, "height": 740}
ZONE = "Europe/Copenhagen"
STORE_KEY = "view-state"  # protocol.js keeps the resume token here
JS_ERRORS: dict[Page, list[str]] = {}  # each page's script errors


@pytest.fixture
def clock() -> ManualClock:
    """The node's clock: real time, ten minutes back (see the module's docstring)."""
    return ManualClock(time.time() - 600)


@pytest.fixture
async def http(node: RunningNode) -> AsyncIterator[aiohttp.ClientSession]:
    """The staff member's HTTP client (login), trusting only the node's CA."""
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def new_page(browser: Browser, viewport: dict[str, int] | None = None) -> tuple[BrowserContext, Page]:
    # The test node's TLS comes from a freshly generated CA this Chromium has never seen; the
    # certificate checks are covered by the node tests.
    context = await browser.new_context(ignore_https_errors=True, locale="da-DK", timezone_id=ZONE,
                                        viewport=viewport or PHONE, permissions=["camera", "microphone"])
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(SPIES)
    await context.add_init_script(SPY)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    JS_ERRORS[page] = errors
    return context, page


async def chat_page(browser: Browser, node: RunningNode) -> tuple[BrowserContext, Page]:
    """The citizen's phone on the chat page."""
    ctx, page = await new_page(browser)
    await page.goto(base_url(node) + "/chat")
    return ctx, page


def js_errors(page: Page) -> list[str]:
    # A staff page's first /api/me before login answers 401; that is not the page's fault.
    return [e for e in JS_ERRORS[page] if "status of 401" not in e]


async def ring_stopped(desk: WsClient, conversation: object, reason: str) -> None:
    """The desk hears the call stop ringing, for ``reason``."""
    stop = await desk.expect("call.ring_stop", conversation=conversation)
    assert stop["reason"] == reason, stop


async def close_clean(ctx: BrowserContext, page: Page, *clients: WsClient) -> None:
    """The page logged no script errors; close its browser and the staff sockets."""
    assert js_errors(page) == [], js_errors(page)
    await ctx.close()
    for client in clients:
        await client.close()


async def answer_danger(page: Page, danger: bool = False) -> None:
    await page.get_by_label("Ja" if danger else "Nej", exact=True).check()


async def wait_video(page: Page, selector: str = ".tile[data-pid] video") -> None:
    """Frames decode on the page's peer connection and keep coming, and the tile's video has a size."""
    await page.wait_for_function("(sel) => { const v = document.querySelector(sel); return v && v.videoWidth > 0; }",
                                 arg=selector, timeout=MEDIA_TIMEOUT_MS)
    first = await page.evaluate(FRAMES_DECODED)
    await page.wait_for_timeout(1000)
    later = await page.evaluate(FRAMES_DECODED)
    assert later > first > 0, (first, later)


async def staff_enters_room(browser: Browser, node: RunningNode, clock: ManualClock, person: Staff,
                            room_id: str) -> tuple[BrowserContext, Page]:
    """The staff member's own browser (session cookie) enters the support room by its id: room.knock {room}."""
    ctx, page = await new_page(browser, {"width": 1024, "height": 800})
    resp = await ctx.request.post(base_url(node) + "/api/login", data=person.login_body())
    assert resp.ok, await resp.text()
    clock.advance(30)
    await page.goto(base_url(node) + f"/room#room={room_id}")
    await page.get_by_role("button", name="Gå ind med kamera og lyd").click()
    await expect(page.locator("#view-room")).to_be_visible()
    return ctx, page


def saved_state(raw: str | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


async def test_call_now_is_answered_and_both_browsers_see_each_other(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    anna, desk = await on_duty(node, http, clock, "Anna", role="staff")
    ctx, page = await chat_page(browser, node)

    # Three ways in, in plain words: write, call now, be called back.
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_visible()
    await expect(page.get_by_role("button", name="Ring op", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Ring mig op")).to_be_visible()
    await assert_touch_size(page.get_by_role("button", name="Ring op", exact=True),
                            page.get_by_role("button", name="Ring mig op"))
    await answer_danger(page, danger=True)
    await page.get_by_label("Hvad vil du kaldes?").fill("Mette")

    # "Ring op" asks about the camera first: video, or sound only.
    await page.get_by_role("button", name="Ring op", exact=True).click()
    await expect(page.get_by_role("button", name="Ring op med kamera")).to_be_focused()
    await expect(page.get_by_role("button", name="Ring op uden kamera")).to_be_visible()
    await assert_fits_phone(page)
    await page.get_by_role("button", name="Ring op med kamera").click()

    # The waiting room: a truthful place in the queue; hang up and switch to chat are in reach.
    await expect(page.get_by_role("heading", name="Du ringer op")).to_be_visible()
    await expect(page.locator("#call-position")).to_have_text("Du er den næste i køen.")
    await expect(page.locator("#call-who")).to_have_text("Du hedder Mette her. Du har valgt opkald med kamera.")
    await expect(page.locator('#danger-card-call a[href="tel:112"]')).to_have_text("Ring 112")
    hangup = page.get_by_role("button", name="Læg på")
    await expect(hangup).to_be_in_viewport()
    await assert_touch_size(hangup, page.get_by_role("button", name="Skift til chat"))
    await assert_fits_phone(page)
    ring = await desk.expect("call.ring")
    cid = ring["conversation"]
    assert (ring["media"], ring["risk"], ring["pseudonym"]) == ("video", True, "Mette"), ring
    saved = saved_state(await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')"))
    assert saved.get("k") == "call" and saved.get("r"), saved

    # A reload keeps the call (call.resume with the token in sessionStorage).
    await page.reload()
    await expect(page.locator("#call-position")).to_have_text("Du er den næste i køen.")
    await expect(page.locator("#call-who")).to_contain_text("Du hedder Mette her.")

    # Anna answers here, in her browser: the citizen's page goes to the room with its pass, straight in.
    accepted = await desk.request("call.accept", "call.accepted", conversation=cid, device="here")
    assert accepted["type"] == "call.accepted", accepted
    room_id = accepted["room"]["room"]
    await page.wait_for_url(re.compile(r"/room$"))  # the pass is gone from the address bar
    await expect(page.locator("#view-room")).to_be_visible()
    await expect(page.locator("#people-list")).to_contain_text("Mette")
    await expect(page.get_by_role("button", name="Læg på")).to_be_visible()  # the call's word, not "Forlad"
    host_ctx, host = await staff_enters_room(browser, node, clock, anna, room_id)
    await expect(host.locator("#people-list")).to_contain_text("Mette")
    await expect(page.locator("#people-list")).to_contain_text("Anna")

    # Each browser decodes the other's video.
    await wait_video(page)
    await wait_video(host)

    # A reload of the room page gets the same place back (the node's newest resume token, kept in
    # sessionStorage), and the video comes back.
    await page.reload()
    await expect(page.locator("#view-room")).to_be_visible()
    await expect(host.locator("#people-list .person")).to_have_count(2)
    await wait_video(page)

    # Anna ends the call: the room closes and the citizen's page says so plainly.
    await desk.send(type="chat.end", conversation=cid, topic="Andet")
    await expect(page.get_by_role("heading", name="Opkaldet er slut")).to_be_visible()
    await expect(page.get_by_role("link", name="Tilbage til Fristed")).to_be_visible()
    await close_clean(ctx, page, desk)
    await close_clean(host_ctx, host)


async def test_declined_switch_to_chat_and_hang_up(browser: Browser, node: RunningNode, clock: ManualClock,
                                                   http: aiohttp.ClientSession) -> None:
    _, desk = await on_duty(node, http, clock, "Bo", role="staff")
    ctx, page = await chat_page(browser, node)
    await answer_danger(page)

    # Sound only, then declined: the staff member's own words, and three ways on.
    await page.get_by_role("button", name="Ring op", exact=True).click()
    await page.get_by_role("button", name="Ring op uden kamera").click()
    await expect(page.locator("#call-who")).to_contain_text("Du har valgt kun lyd.")
    ring = await desk.expect("call.ring")
    assert ring["media"] == "audio", ring
    words = "Vi har mange opkald lige nu. Skriv gerne til os i chatten."
    declined = await desk.request("call.decline", "call.declined", conversation=ring["conversation"], message=words)
    assert declined["type"] == "call.declined", declined
    await expect(page.get_by_role("heading", name="Vi kan ikke tage dit opkald lige nu")).to_be_visible()
    await expect(page.locator("#call-over-message")).to_have_text(words)
    await expect(page.locator("#call-over")).to_be_focused()
    await expect(page.get_by_role("button", name="Skriv med os")).to_be_visible()
    await expect(page.get_by_role("button", name="Bed os ringe dig op")).to_be_visible()
    await expect(page.get_by_role("button", name="Skriv et brev")).to_be_visible()
    await expect(page.get_by_role("button", name="Læg på")).to_be_hidden()

    # Call again, then switch to chat while waiting: same place, same token, now a chat.
    await page.get_by_role("button", name="Skriv med os").click()
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_focused()
    await page.get_by_role("button", name="Ring op", exact=True).click()
    await page.get_by_role("button", name="Ring op uden kamera").click()
    await expect(page.locator("#call-position")).to_have_text("Du er den næste i køen.")
    ring = await desk.expect("call.ring")
    cid = ring["conversation"]
    token = saved_state(await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')"))["r"]
    await page.get_by_role("button", name="Skift til chat").click()
    await expect(page.get_by_role("heading", name="Din samtale")).to_be_visible()
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    await ring_stopped(desk, cid, "chat")
    saved = saved_state(await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')"))
    assert (saved.get("k"), saved.get("r")) == ("chat", token), saved
    queue = await desk.expect("queue", where=lambda f: any(i["conversation"] == cid and i["kind"] == "chat"
                                                          for i in f["items"]))
    assert queue["items"][0]["conversation"] == cid
    await page.get_by_label("Skriv din besked").fill("Jeg vil hellere skrive.")
    await page.get_by_label("Skriv din besked").press("Enter")
    await expect(page.locator("#messages .msg-citizen", has_text="Jeg vil hellere skrive.")).to_contain_text("Sendt")
    # A reload continues the chat with the same token (chat.resume).
    await page.reload()
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    await expect(page.locator("#messages .msg-citizen", has_text="Jeg vil hellere skrive.")).to_be_visible()
    await desk.send(type="chat.take", conversation=cid)
    opened = await desk.expect("chat.opened", conversation=cid)
    assert [m["text"] for m in opened["messages"]] == ["Jeg vil hellere skrive."]
    await expect(page.locator("#joined-box")).to_contain_text("Bo er her nu.")
    await desk.send(type="chat.end", conversation=cid, topic="Andet")
    await expect(page.locator("#ended-reason")).to_have_text("Bo har afsluttet samtalen. Tak fordi du skrev.")

    # A third call, and the citizen hangs up: staff's ringing stops ("left"), the page says so.
    await page.get_by_role("button", name="Start en ny samtale").click()
    await page.get_by_role("button", name="Ring op", exact=True).click()
    await page.get_by_role("button", name="Ring op med kamera").click()
    # The reload above gave a fresh form: the danger question must be answered again, and is asked.
    await expect(page.locator("#danger-error")).to_have_text("Svar Ja eller Nej.")
    await answer_danger(page)
    await page.get_by_role("button", name="Ring op med kamera").click()
    ring = await desk.expect("call.ring")
    await page.get_by_role("button", name="Læg på").click()
    await ring_stopped(desk, ring["conversation"], "left")
    await expect(page.locator("#call-over-reason")).to_have_text("Du har lagt på.")
    saved = saved_state(await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')"))
    assert "r" not in saved, saved
    await close_clean(ctx, page, desk)


async def test_long_wait_offers_letterbox_and_emergency_numbers(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    _, desk = await on_duty(node, http, clock, "Clara", role="staff")
    ctx, page = await chat_page(browser, node)
    await answer_danger(page)
    await page.get_by_role("button", name="Ring op", exact=True).click()
    await page.get_by_role("button", name="Ring op uden kamera").click()
    await desk.expect("call.ring")
    await expect(page.locator("#call-letterbox")).to_be_hidden()
    clock.advance(6 * 60)  # past letterbox_after_min (5)
    box = page.locator("#call-letterbox")
    await expect(box).to_be_visible()
    await expect(box.locator('a[href="tel:112"]')).to_have_text("Ring 112")
    await expect(box.locator('a[href="tel:70201201"]')).to_contain_text("70 20 12 01")
    # The letterbox, one tap away: hang up and write.
    await box.get_by_role("button", name="Læg på og skriv et brev").click()
    await expect(page.get_by_role("heading", name="Brevkassen")).to_be_visible()
    await page.get_by_label("Dit brev", exact=True).fill("Jeg ventede længe. Kan I skrive til mig?")
    await page.get_by_role("button", name="Send brevet").click()
    await expect(page.locator("#letter-code-box")).to_be_visible()

    # Another call, in English this time; then quick exit (Esc twice) hangs up at once.
    await page.get_by_role("button", name="Skriv med et menneske nu").click()
    await page.locator("#lang-button").click()
    await page.get_by_role("button", name="Call us").click()
    await page.get_by_role("button", name="Call without camera").click()
    ring = await desk.expect("call.ring")
    await expect(page.get_by_role("heading", name="You are calling")).to_be_visible()
    await expect(page.get_by_role("button", name="Hang up")).to_be_visible()
    await expect(page.get_by_role("button", name="Switch to chat")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.wait_for_url(re.compile(r"/exit$"))
    await expect(page).to_have_title(re.compile("Kartoffelsuppe"))  # the neutral page itself has loaded
    await ring_stopped(desk, ring["conversation"], "left")
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    await close_clean(ctx, page, desk)


async def test_call_back_window_reload_and_incoming_ring_answered(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    _, desk = await on_duty(node, http, clock, "Dorte", role="staff")
    ctx, page = await chat_page(browser, node)
    await answer_danger(page)

    # "Ring mig op": simple windows, none in the past; sound only is the default.
    await page.get_by_role("button", name="Ring mig op").first.click()
    windows = page.locator("#window-list label")
    await expect(windows.first).to_have_text("Inden for en time")
    now = datetime.now(ZoneInfo(ZONE))
    shown = await windows.all_inner_texts()
    if now.hour >= 22 or (now.hour == 21 and now.minute > 30):
        assert "I aften kl. 18–22" not in shown, shown
    assert "I morgen formiddag kl. 9–12" in shown, shown
    await expect(page.get_by_label("Nej, kun lyd")).to_be_checked()
    # Sending without a time is refused kindly.
    await page.locator("#callback-send").click()
    await expect(page.locator("#window-error")).to_have_text("Vælg et tidspunkt.")
    await page.get_by_label("Inden for en time").check()
    await page.locator("#callback-send").click()

    # Scheduled: the window in words, and "keep the page open".
    await expect(page.get_by_role("heading", name="Vi ringer til dig senere")).to_be_visible()
    await expect(page.locator("#call-window")).to_contain_text("Vi prøver at ringe til dig i dag mellem kl.")
    await expect(page.locator("#call-window-box")).to_contain_text("Hold siden åben, så ringer vi.")
    queue = await desk.expect("queue", where=lambda f: bool(f.get("callbacks")))
    item = queue["callbacks"][0]
    cid = item["conversation"]
    start, end = item["window"]
    assert abs(start - time.time()) < 30 and abs((end - start) - 3600) < 5, item
    assert item["media"] == "audio" and item["citizen"] == "connected", item

    # A reload keeps the request (call.resume).
    await page.reload()
    await expect(page.locator("#call-window")).to_contain_text("Vi prøver at ringe til dig i dag mellem kl.")
    await desk.expect("queue", where=lambda f: any(c["conversation"] == cid and c["citizen"] == "connected"
                                                   for c in f.get("callbacks", [])))
    await page.locator("#call-title").click()  # a tap, as a person would have made: sound may play

    # Dorte calls back: the page rings (sound and vibration) with a big "Tag imod opkaldet".
    chimes = await page.evaluate("window.__chimes")
    ringing = await desk.request("callback.start", "callback.ringing", conversation=cid, device="here")
    assert ringing["type"] == "callback.ringing", ringing
    answer = page.get_by_role("button", name="Tag imod opkaldet")
    await expect(answer).to_be_visible()
    await expect(answer).to_be_focused()
    await expect(page.locator("#call-ring-who")).to_have_text("Dorte fra værestedet ringer til dig.")
    await assert_touch_size(answer, page.get_by_role("button", name="Læg på"), minimum=56)
    await page.wait_for_function(f"window.__chimes >= {chimes + 4}")
    assert await page.evaluate("window.__vibrations.length") >= 1
    await answer.click()
    accepted = await desk.expect("call.accepted", conversation=cid)
    assert accepted["device"] == "here", accepted
    await page.wait_for_url(re.compile(r"/room$"))
    await expect(page.locator("#view-room")).to_be_visible()
    # Sound only: the citizen's camera stays off.
    await expect(page.locator("#self-off")).to_be_visible()
    await expect(page.locator("#camera-button")).to_contain_text("Kamera til")
    await close_clean(ctx, page, desk)


async def test_out_of_hours_offers_call_back_and_letterbox(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    admin = await enrol(node, clock, "Eva", "admin")
    token = str((await login(http, admin))["token"])
    # Open one hour a day, starting about five hours from now: the centre is closed now.
    local = datetime.fromtimestamp(clock.now(), ZoneInfo(ZONE))
    opens = (local + timedelta(hours=5)).replace(minute=0)
    span = f"{opens:%H:%M}-{opens + timedelta(hours=1):%H:%M}"
    body = {"timezone": ZONE, "opening_hours": every_day(span),
            "out_of_hours": "Vi har lukket nu. Du kan skrive et brev eller bede os ringe dig op."}
    await put_settings(http, token, body)

    ctx, page = await chat_page(browser, node)
    await expect(page.get_by_role("heading", name="Der er ingen på vagt lige nu")).to_be_visible()
    await expect(page.locator("#closed-hours")).to_have_text(body["out_of_hours"])
    await expect(page.locator("#closed-next")).to_contain_text("Vi åbner igen i")
    await expect(page.get_by_role("button", name="Send brevet")).to_be_visible()

    # Only a call-back is offered, and "within the hour" is not (nobody could call).
    await page.get_by_role("button", name="Bed os ringe dig op").click()
    await expect(page.get_by_role("heading", name="Bliv ringet op")).to_be_focused()
    await expect(page.get_by_role("button", name="Start samtalen")).to_be_hidden()
    await expect(page.get_by_role("button", name="Ring op", exact=True)).to_be_hidden()
    windows = page.locator("#window-list label")
    await expect(windows.first).to_contain_text("Når vi åbner")
    assert "Inden for en time" not in await windows.all_inner_texts()
    await answer_danger(page)
    await windows.first.click()
    await page.get_by_label("Ja, med kamera").check()
    await page.locator("#callback-send").click()
    await expect(page.get_by_role("heading", name="Vi ringer til dig senere")).to_be_visible()
    await expect(page.locator("#call-window")).to_contain_text(f"kl. {opens:%H.%M}")
    await expect(page.locator("#call-who")).to_contain_text("Du har valgt opkald med kamera.")

    # Hanging up a call-back request ends it.
    await page.get_by_role("button", name="Læg på").click()
    await expect(page.locator("#call-over-reason")).to_have_text("Du har lagt på.")
    await close_clean(ctx, page)
