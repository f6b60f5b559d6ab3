"""The citizen chat page in a real headless Chromium against a real node (TLS, SQLCipher, /ws).

The staff side is a plain aiohttp WebSocket with a bearer token; the citizen works through the page
only, at a small phone's size (360×740).
"""
from __future__ import annotations

import json
import re
from typing import AsyncIterator

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from node.clock import ManualClock
from node.server import RunningNode
from node.ws import PEERS
from tests.chatclient import WsClient, citizen, signed_in
from tests.conftest import Staff, base_url, enrol, trust_only_ca

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 10_000
PHONE = {"width": 360, "height": 740}
STORE_KEY = "view-state"  # protocol.js keeps the resume token here

# Counts the chime's oscillators and the vibrations, without changing what the page does.
SPIES = """
window.__chimes = 0;
window.__vibrations = [];
(function () {
  const Ctx = window.AudioContext;
  if (Ctx) {
    const make = Ctx.prototype.createOscillator;
    Ctx.prototype.createOscillator = function () { window.__chimes += 1; return make.call(this); };
  }
  Object.defineProperty(navigator, "vibrate", {
    configurable: true,
    value: function (pattern) { window.__vibrations.push(pattern); return true; },
  });
})();
"""


@pytest.fixture
async def http(node: RunningNode) -> AsyncIterator[aiohttp.ClientSession]:
    """The staff member's HTTP client (login), trusting only the node's CA."""
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def phone_page(browser: Browser) -> Page:
    # The test node serves TLS from its own freshly generated CA, which this Chromium has never seen.
    # Trusting it blindly is acceptable here: the certificate checks are covered by the node tests.
    context: BrowserContext = await browser.new_context(ignore_https_errors=True, locale="da-DK",
                                                        viewport=PHONE, has_touch=False)
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(SPIES)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium itself logs each refused reconnect while a test has taken the network away.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "ERR_INTERNET_DISCONNECTED" not in msg.text else None)
    setattr(page, "js_errors", errors)
    return page


async def on_duty(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock, name: str,
                  role: str = "volunteer", duty: bool = True) -> tuple[Staff, WsClient]:
    """A new account and its staff socket, gone on duty (unless ``duty`` is false)."""
    person = await enrol(node, clock, name, role)
    client = await signed_in(http, person)
    await client.expect("duty")  # the node's greeting: off duty
    if duty:
        await client.send(type="duty.set", on=True)
        await client.expect("duty", on=True)
    return person, client


async def assert_touch_size(*locators: Locator, minimum: float = 44.0) -> None:
    for locator in locators:
        box = await locator.bounding_box()
        assert box is not None, f"{locator} is not on screen"
        assert box["height"] >= minimum and box["width"] >= minimum, (locator, box)


async def assert_fits_phone(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page scrolls sideways: {width}px"


def message(page: Page, kind: str, text: str) -> Locator:
    return page.locator(f"#messages .msg-{kind}", has_text=text)


async def test_chat_from_start_to_quick_exit(browser: Browser, node: RunningNode, clock: ManualClock,
                                             http: aiohttp.ClientSession, anon: aiohttp.ClientSession) -> None:
    _, anna = await on_duty(node, http, clock, "Anna")
    page = await phone_page(browser)
    await page.goto(base_url(node) + "/chat")

    # The pre-chat step: "Ja" to danger shows the emergency card at once, with tel: links.
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_visible()
    await expect(page.locator("#start-open-info")).to_contain_text("Der er 1 på vagt nu.")
    await page.get_by_label("Ja", exact=True).check()
    card = page.locator("#danger-card-start")
    await expect(card).to_be_visible()
    await expect(card.get_by_role("heading")).to_have_text("Er du i fare, så ring 112 nu")
    await expect(card.locator('a[href="tel:112"]')).to_have_text("Ring 112")
    await expect(card.locator('a[href="tel:70201201"]')).to_contain_text("70 20 12 01")
    await page.get_by_label("Ensomhed").check()
    await page.get_by_label("Hvad vil du kaldes?").fill("Mette")
    await page.get_by_role("button", name="Start samtalen").click()

    # A truthful waiting room: the place in the queue, and no made-up estimate.
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    await expect(page.locator("#queue-estimate")).to_have_text("Vi ved ikke hvor længe.")
    await expect(page.locator("#chat-who")).to_have_text("Du hedder Mette her.")
    await expect(page.locator('#danger-card-chat a[href="tel:112"]')).to_have_text("Ring 112")
    queue = await anna.expect("queue", where=lambda f: bool(f["items"]))
    item = queue["items"][0]
    cid = item["conversation"]
    assert item["risk"] is True and item["topic"] == "Ensomhed" and item["pseudonym"] == "Mette", item

    # Writing while waiting: Enter sends, the node acknowledges.
    await page.get_by_label("Skriv din besked").fill("Hej, er der nogen?")
    await page.get_by_label("Skriv din besked").press("Enter")
    await expect(message(page, "citizen", "Hej, er der nogen?")).to_contain_text("Sendt")

    # Staff take it: the page says so, plays the chime and vibrates.
    await anna.send(type="chat.take", conversation=cid)
    opened = await anna.expect("chat.opened", conversation=cid)
    assert [m["text"] for m in opened["messages"]] == ["Hej, er der nogen?"]
    await expect(page.locator("#joined-box")).to_have_text("Anna er her nu. I kan skrive sammen.")
    await expect(page.locator("#chat-who")).to_have_text("Du skriver med Anna. Du hedder Mette her.")
    await expect(page.locator("#queue-box")).to_be_hidden()
    await page.wait_for_function("window.__chimes >= 2")
    assert await page.evaluate("window.__vibrations.length") == 1

    # Messages both ways, and staff typing.
    await anna.send(type="chat.typing", conversation=cid, active=True)
    await expect(page.locator("#typing")).to_have_text("Anna skriver …")
    await anna.send(type="chat.send", conversation=cid, text="Hej Mette. Jeg hedder Anna.", client_id="s-1")
    await expect(message(page, "staff", "Jeg hedder Anna")).to_contain_text("Anna ·")
    await page.get_by_label("Skriv din besked").fill("Jeg har det svært i aften.")
    await page.get_by_role("button", name="Send", exact=True).click()
    got = await anna.expect("chat.message", conversation=cid,
                            where=lambda f: f["message"]["text"] == "Jeg har det svært i aften.")
    own = message(page, "citizen", "Jeg har det svært i aften.")
    await expect(own).to_contain_text("Sendt")

    # Main controls are big enough to hit on a small phone, and nothing scrolls sideways.
    await assert_touch_size(page.locator("#exit-button"), page.locator("#emergency-button"),
                            page.get_by_role("button", name="Send", exact=True),
                            page.get_by_role("button", name="Afslut samtalen"),
                            own.get_by_role("button", name=re.compile("^Slet")))
    await assert_fits_phone(page)

    # The citizen deletes their own message: gone on the node and for staff.
    await own.get_by_role("button", name=re.compile("^Slet din besked")).click()
    await own.get_by_role("button", name="Ja, slet").click()
    deleted = await anna.expect("chat.deleted", conversation=cid)
    assert deleted["message"] == got["message"]["id"]
    await expect(page.locator("#messages .msg-deleted")).to_have_text(re.compile("Du har slettet beskeden."))
    await expect(page.locator("#messages")).not_to_contain_text("Jeg har det svært i aften.")

    # A reload keeps the conversation (resume token in sessionStorage, under a neutral key).
    saved = json.loads(await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')"))
    token = saved["r"]
    await page.reload()
    await anna.expect("chat.presence", conversation=cid, citizen="connected")
    await expect(page.locator("#chat-who")).to_have_text("Du skriver med Anna. Du hedder Mette her.")
    await expect(message(page, "staff", "Jeg hedder Anna")).to_be_visible()
    await expect(message(page, "citizen", "Hej, er der nogen?")).to_be_visible()
    await expect(page.locator("#messages .msg-deleted")).to_have_count(1)
    await page.get_by_label("Skriv din besked").fill("Jeg er her stadig.")
    await page.get_by_label("Skriv din besked").press("Enter")
    await anna.expect("chat.message", conversation=cid, where=lambda f: f["message"]["text"] == "Jeg er her stadig.")

    # A lost connection: staff see "lost", the page says so plainly, keeps what the citizen writes
    # meanwhile, and resends it by client_id once it has resumed by itself.
    await page.context.set_offline(True)
    for peer in list(node.runner.app[PEERS]):
        if peer.role == "citizen":
            await peer.ws.close()
    await anna.expect("chat.presence", conversation=cid, citizen="lost")
    await expect(page.locator("#conn-status")).to_contain_text("Forbindelsen er væk")
    await page.get_by_label("Skriv din besked").fill("Er du der stadig?")
    await page.get_by_label("Skriv din besked").press("Enter")
    later = message(page, "citizen", "Er du der stadig?")
    await expect(later).to_contain_text("Sendes, når forbindelsen er tilbage")
    await page.context.set_offline(False)
    await anna.expect("chat.presence", conversation=cid, citizen="connected")
    await anna.expect("chat.message", conversation=cid, where=lambda f: f["message"]["text"] == "Er du der stadig?")
    await expect(later).to_contain_text("Sendt")
    await expect(page.locator("#conn-status")).to_contain_text("Forbindelsen er tilbage")

    # Quick exit with Esc twice: the node ends it, the tab forgets it, Back does not return to it.
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.wait_for_url(re.compile(r"/exit$"))
    await expect(page).to_have_title(re.compile("Kartoffelsuppe"))
    await anna.expect("chat.presence", conversation=cid, citizen="left")
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    body = (await page.locator("body").inner_text()).lower()
    assert "chat" not in body and "fristed" not in body and "samtale" not in body
    await page.go_back()
    assert "/chat" not in page.url
    other: WsClient = await citizen(anon, node.port)
    refused = await other.request("chat.resume", "chat.resumed", resume=token)
    assert refused["type"] == "error" and refused["code"] == "unknown_resume", refused
    assert not getattr(page, "js_errors"), getattr(page, "js_errors")
    await other.close()
    await anna.close()


async def test_small_phone_language_emergency_and_leaving(browser: Browser, node: RunningNode,
                                                          clock: ManualClock,
                                                          http: aiohttp.ClientSession) -> None:
    _, bo = await on_duty(node, http, clock, "Bo", role="staff")
    page = await phone_page(browser)
    await page.goto(base_url(node) + "/chat")
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_visible()
    await assert_touch_size(page.locator("#exit-button"), page.locator("#emergency-button"),
                            page.locator("#lang-button"), page.get_by_role("button", name="Start samtalen"),
                            page.locator("label.choice").first)
    await assert_fits_phone(page)

    # Starting without answering the danger question is refused kindly, and focus goes there.
    await page.get_by_role("button", name="Start samtalen").click()
    await expect(page.locator("#danger-error")).to_have_text("Svar Ja eller Nej.")
    await expect(page.get_by_label("Ja", exact=True)).to_be_focused()

    # English is one tap away, and back.
    await page.locator("#lang-button").click()
    await expect(page.get_by_role("heading", name="Write to a person")).to_be_visible()
    assert await page.evaluate("document.documentElement.lang") == "en"
    await expect(page.locator("#exit-button")).to_have_text("Leave this page quickly")
    await page.locator("#lang-button").click()
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_visible()

    # The emergency card is one tap away: a dialog with 112 and the centre's numbers.
    await page.locator("#emergency-button").click()
    dialog = page.get_by_role("dialog", name="Nødnumre")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator('a[href="tel:112"]')).to_be_focused()
    await expect(dialog.locator('a[href^="tel:"]')).to_have_count(3)
    # The modal dialog makes the bar behind it unreachable, so quick exit is inside it too.
    await assert_touch_size(dialog.locator('a[href="tel:112"]'), dialog.get_by_role("button", name="Luk"),
                            dialog.get_by_role("button", name="Forlad siden hurtigt"))
    await dialog.get_by_role("button", name="Luk").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#emergency-button")).to_be_focused()

    # "Nej": no card. Then the citizen ends the chat themselves; staff see "left", not "lost".
    await page.get_by_label("Nej", exact=True).check()
    await expect(page.locator("#danger-card-start")).to_be_hidden()
    await page.get_by_role("button", name="Start samtalen").click()
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    queue = await bo.expect("queue", where=lambda f: bool(f["items"]))
    cid = queue["items"][0]["conversation"]
    assert queue["items"][0]["risk"] is False
    await bo.send(type="chat.take", conversation=cid)
    await expect(page.locator("#joined-box")).to_contain_text("Bo er her nu.")
    await page.get_by_role("button", name="Afslut samtalen").click()
    await expect(page.get_by_role("button", name="Ja, afslut")).to_be_focused()
    await page.get_by_role("button", name="Ja, afslut").click()
    await bo.expect("chat.presence", conversation=cid, citizen="left")
    await expect(page.locator("#ended-reason")).to_have_text("Du har afsluttet samtalen.")
    await expect(page.locator("#send-form")).to_be_hidden()
    saved = await page.evaluate(f"sessionStorage.getItem('{STORE_KEY}')")
    assert saved is None or "r" not in json.loads(saved)

    # A new chat from the same page; this time staff end it, and the page says who did.
    await page.get_by_role("button", name="Start en ny samtale").click()
    await expect(page.get_by_role("heading", name="Skriv med et menneske")).to_be_focused()
    await page.get_by_role("button", name="Start samtalen").click()
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    queue = await bo.expect("queue", where=lambda f: bool(f["items"]))
    second = queue["items"][0]["conversation"]
    assert second != cid
    await bo.send(type="chat.take", conversation=second)
    await expect(page.locator("#joined-box")).to_contain_text("Bo er her nu.")
    await bo.send(type="chat.end", conversation=second, topic="Andet")
    await expect(page.locator("#ended-reason")).to_have_text("Bo har afsluttet samtalen. Tak fordi du skrev.")
    await expect(page.locator("#ended-box")).to_be_focused()
    # …and yet another one after that, on the same page.
    await page.get_by_role("button", name="Start en ny samtale").click()
    await page.get_by_role("button", name="Start samtalen").click()
    await expect(page.locator("#queue-position")).to_have_text("Du er den næste i køen.")
    assert not getattr(page, "js_errors"), getattr(page, "js_errors")
    await bo.close()


async def test_closed_letterbox_round_trip(browser: Browser, node: RunningNode, clock: ManualClock,
                                           http: aiohttp.ClientSession) -> None:
    page = await phone_page(browser)
    await page.goto(base_url(node) + "/chat")

    # Nobody on duty: the page says so honestly, shows the hours and offers the letterbox.
    await expect(page.get_by_role("heading", name="Der er ingen på vagt lige nu")).to_be_visible()
    await expect(page.locator("#closed-hours")).not_to_be_empty()
    await page.get_by_label("Dit brev", exact=True).fill("Jeg kan ikke sove om natten. Kan I skrive tilbage?")
    await page.get_by_label("Emne (du kan springe over)").select_option("Angst og uro")
    await page.get_by_role("button", name="Send brevet").click()
    code_box = page.locator("#letter-code-box")
    await expect(code_box).to_be_visible()
    await expect(code_box).to_be_focused()
    await expect(code_box).to_contain_text("Skriv koden ned nu.")
    code = (await page.locator("#letter-code .code-text").inner_text()).strip()
    assert re.fullmatch(r"[0-9A-F]{4}(-[0-9A-F]{4}){3}", code), code
    font_px = await page.locator("#letter-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_px >= 20

    # Before an answer: the code works and says so.
    await page.get_by_label("Din kode").fill(code.lower())
    await page.get_by_role("button", name="Læs svar").click()
    await expect(page.locator("#answer-title")).to_have_text("Der er ikke kommet svar endnu")
    await expect(page.locator("#answer-messages")).to_contain_text("Jeg kan ikke sove om natten.")

    # Staff answer from the letterbox over the WebSocket.
    _, clara = await on_duty(node, http, clock, "Clara", role="staff", duty=False)
    letters = await clara.request("letters.list", "letters")
    assert letters["type"] == "letters", letters
    (letter,) = [i for i in letters["items"] if i["text"].startswith("Jeg kan ikke sove")]
    assert letter["topic"] == "Angst og uro"
    await clara.send(type="letter.reply", conversation=letter["conversation"],
                     text="Tak for dit brev. Det lyder hårdt. Skriv igen i aften, så er vi her.")
    await clara.expect("letters", where=lambda f: all(i["conversation"] != letter["conversation"]
                                                       for i in f["items"]))

    # A wrong code is refused plainly; the right one shows the answer once.
    await page.get_by_label("Din kode").fill("0000-0000-0000-0000")
    await page.get_by_role("button", name="Læs svar").click()
    await expect(page.locator("#read-error")).to_contain_text("Koden passer ikke.")
    await page.get_by_label("Din kode").fill(code)
    await page.get_by_role("button", name="Læs svar").click()
    await expect(page.locator("#answer-title")).to_have_text("Du har fået svar")
    await expect(page.locator("#answer-messages")).to_contain_text("Svar fra Clara")
    await expect(page.locator("#answer-messages")).to_contain_text("Skriv igen i aften")
    await page.get_by_label("Din kode").fill(code)
    await page.get_by_role("button", name="Læs svar").click()
    await expect(page.locator("#read-error")).to_contain_text("Koden passer ikke.")

    # The visible quick-exit button works the same as Esc Esc.
    await page.get_by_role("button", name="Forlad siden hurtigt").click()
    await page.wait_for_url(re.compile(r"/exit$"))
    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    # One refused code is logged by nothing but the page itself: no console errors.
    assert not getattr(page, "js_errors"), getattr(page, "js_errors")
    await clara.close()
