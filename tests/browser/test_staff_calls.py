"""Calls on the staff page (docs/api.md section 9) in a real headless Chromium against a real node.

The staff member works through the page only. Citizens are plain WebSocket clients (``call.start``,
``call.request``, ``room.resume`` with the pass from ``call.connect``), or, for the media check, a
second Chromium page on ``/room#pass=…``. A call rings on the page (card, title, desktop
notification, sound), "Tag opkaldet" joins the support room from the page itself as its host, the
call is ended with the registration, "Afvis" sends the chosen message, call-backs are listed and
rung, and the duty roster and handover panels show and change the node's own data.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from node.clock import ManualClock
from node.server import RunningNode
from tests.browser.test_room_page import FRAMES_DECODED, SPY
from tests.browser.test_staff_page import signed_in_page
from tests.chatclient import citizen, staff
from tests.conftest import Staff, base_url, enrol, every_day, login, put_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 15_000
MEDIA_TIMEOUT_MS = 30_000
TZ = ZoneInfo("Europe/Copenhagen")

# Desktop notifications, recorded (headless Chromium shows none), and every RTCPeerConnection.
NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  constructor(title, options) {
    this.i = window.__notes.length;
    window.__notes.push({ title: title, body: (options || {}).body || "", closed: false });
  }
  close() { window.__notes[this.i].closed = true; }
  addEventListener() {}
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
"""
SPIES = NOTIFICATIONS + SPY


async def staff_page(browser: Browser, node: RunningNode, clock: ManualClock, person: Staff,
                     duty: bool = True) -> Page:
    """Log in through the form (with the spies in place), then go on duty with the page's own toggle."""
    return await signed_in_page(browser, node, clock, person, duty=duty, init_script=SPIES,
                                timezone_id="Europe/Copenhagen", viewport={"width": 1280, "height": 1000},
                                permissions=["camera", "microphone"])


def ring_card(page: Page, conversation: str) -> Locator:
    return page.locator(f'#call-rings li.call-card[data-conversation="{conversation}"]')


def no_errors(page: Page) -> None:
    errors = [e for e in getattr(page, "js_errors") if "status of 401" not in e]
    assert errors == [], errors


async def test_call_rings_is_answered_in_the_page_and_ended_with_registration(
        browser: Browser, node: RunningNode, clock: ManualClock, anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    page = await staff_page(browser, node, clock, anna)
    await expect(page.locator("#calls")).to_be_hidden()

    caller = await citizen(anon, node.port)
    started = await caller.request("call.start", "call.started", media="video", topic="Ensomhed", danger=False)
    assert started["type"] == "call.started", started
    cid, pseudonym = started["conversation"], started["pseudonym"]

    # It rings: a card with what staff need to decide, the title flashes, a desktop notification,
    # and the generated ring plays (the login click allowed sound).
    card = ring_card(page, cid)
    await expect(card).to_be_visible()
    await expect(card).to_contain_text(pseudonym)
    await expect(card).to_contain_text("Ensomhed")
    await expect(card.locator(".call-card-kind")).to_have_text("Opkald · video")
    await expect(card.locator(".call-wait")).to_contain_text("venter")
    await expect(card.locator(".risk-badge")).to_have_count(0)
    await expect(page.locator("#calls-title")).to_have_text("Et opkald ringer")
    await page.wait_for_function("() => document.title.startsWith('(!)') && document.title.includes('Opkald')")
    await expect(page.locator("#calls")).to_have_attribute("data-sound", "on")
    notes = await page.evaluate("() => window.__notes")
    assert any("Opkald" in n["title"] and pseudonym in n["body"] for n in notes), notes
    # The queue lists it as a call.
    item = page.locator(f'#queue-list li[data-conversation="{cid}"]')
    await expect(item.locator(".kind-badge")).to_have_text("Opkald · video")
    await expect(item.get_by_role("button", name=re.compile("Tag opkaldet"))).to_be_visible()

    # Answer from the card: the citizen gets the room pass, the page enters the room as host.
    await card.get_by_role("button", name="Tag opkaldet").click()
    connect = await caller.expect("call.connect", timeout=10)
    assert connect["staff"] == "Anna" and connect["room"]["kind"] == "support", connect
    panel = page.locator("#call-panel")
    await expect(panel).to_be_visible()
    await expect(page.locator("#call-title")).to_have_text(f"Opkald med {pseudonym} · video")
    await expect(page.locator("#call-people")).to_contain_text("Anna (dig)")
    await expect(page.locator("#call-remote-off")).to_contain_text("Venter på")
    # The ring stops and the card says who took it, then goes; the notification is closed.
    await expect(card.locator(".call-card-stopped")).to_contain_text("taget af dig")
    await expect(page.locator("#calls")).to_have_attribute("data-sound", "off")
    await page.wait_for_function("() => !document.title.startsWith('(!)')")
    assert all(n["closed"] for n in await page.evaluate("() => window.__notes"))
    await expect(card).to_have_count(0, timeout=TIMEOUT_MS)

    # The citizen comes in with the pass (room.resume): the page's roster shows them, as admitted.
    resumed = await caller.request("room.resume", "room.admitted", resume=connect["pass"], camera=False)
    assert resumed["type"] == "room.admitted", resumed
    roster_names = [p["name"] for p in resumed["roster"]["participants"]] if "roster" in resumed else []
    assert "Anna" in roster_names, resumed
    await expect(page.locator("#call-people .call-person")).to_have_count(2)
    citizen_name = next(n for n in roster_names if n != "Anna")
    await expect(page.locator("#call-people")).to_contain_text(f"{citizen_name} (kamera fra)")

    # The call is on the desk as a call: notes, no written chat, ended with the registration.
    tab = page.get_by_role("tab", name=re.compile(re.escape(pseudonym)))
    await expect(tab).to_contain_text("opkald")
    await tab.click()
    await expect(page.locator("#conv-title")).to_have_text(f"Opkald med {pseudonym}")
    await expect(page.locator("#conv-call")).to_contain_text("Du er i opkaldet")
    await expect(page.locator("#composer")).to_be_hidden()
    await page.get_by_label("Ny note").fill("Talte om at komme ud mere")
    await page.get_by_role("button", name="Gem note").click()
    await expect(page.locator("#notes-list")).to_contain_text("Talte om at komme ud mere")
    await page.get_by_role("button", name="Afslut opkaldet").click()
    await expect(page.locator("#end-form")).to_be_visible()
    await page.get_by_label("Emne").select_option("Ensomhed")
    await page.get_by_role("button", name="Afslut samtalen").click()
    # Ending with the registration closes the room: the citizen is out, the page leaves too.
    closed = await caller.expect("room.closed", timeout=10)
    assert closed["type"] == "room.closed"
    await expect(panel).to_be_hidden()
    await expect(tab).to_have_count(0)
    assert await page.evaluate("() => window.__pcs.every((pc) => pc.connectionState === 'closed')")
    no_errors(page)
    await caller.close()


async def test_call_media_flows_both_ways_with_a_citizen_browser(
        browser: Browser, node: RunningNode, clock: ManualClock, anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    page = await staff_page(browser, node, clock, anna)
    caller = await citizen(anon, node.port)
    started = await caller.request("call.start", "call.started", media="video", danger=False)
    cid = started["conversation"]
    await ring_card(page, cid).get_by_role("button", name="Tag opkaldet").click()
    connect = await caller.expect("call.connect", timeout=10)
    await expect(page.locator("#call-panel")).to_be_visible()

    # The citizen's phone opens the room with the pass and is let straight in.
    context = await browser.new_context(ignore_https_errors=True, locale="da-DK",
                                        viewport={"width": 360, "height": 740}, permissions=["camera", "microphone"])
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(SPIES)
    phone = await context.new_page()
    await phone.goto(base_url(node) + "/room#pass=" + connect["pass"])
    join = phone.get_by_role("button", name="Gå ind med kamera og lyd")
    if await join.count():
        await join.click()
    await expect(phone.locator("#view-room")).to_be_visible()
    await expect(page.locator("#call-people .call-person")).to_have_count(2)

    # Each side decodes the other's video and the <video> has a size.
    await page.wait_for_function("() => document.getElementById('call-remote').videoWidth > 0",
                                 timeout=MEDIA_TIMEOUT_MS)
    await phone.wait_for_function(
        "() => { const v = document.querySelector('.tile[data-pid] video'); return v && v.videoWidth > 0; }",
        timeout=MEDIA_TIMEOUT_MS)
    for p in (page, phone):
        first = await p.evaluate(FRAMES_DECODED)
        await p.wait_for_timeout(1000)
        assert await p.evaluate(FRAMES_DECODED) > first > 0
    await expect(page.locator("#call-remote-off")).to_be_hidden()
    # Sound comes with the picture on the staff page.
    assert await page.evaluate(
        "() => document.getElementById('call-remote').srcObject.getAudioTracks().some((t) => t.readyState === 'live')")
    await context.close()
    await caller.close()


async def test_decline_sends_the_chosen_message(browser: Browser, node: RunningNode, clock: ManualClock,
                                                http: aiohttp.ClientSession, anon: aiohttp.ClientSession) -> None:
    bo = await enrol(node, clock, "Bo", "admin")
    token = str((await login(http, bo))["token"])
    mine = ["Vi ringer dig op i aften, hvis du vil.", "Skriv til os i chatten – vi svarer hurtigt."]
    await put_settings(http, token, {"decline_messages": mine})
    page = await staff_page(browser, node, clock, bo)

    # An admin's page offers the centre's own messages; the chosen one reaches the citizen.
    first = await citizen(anon, node.port)
    started = await first.request("call.start", "call.started", media="audio", topic="Angst og uro", danger=True)
    cid = started["conversation"]
    card = ring_card(page, cid)
    await expect(card.locator(".call-card-kind")).to_have_text("Opkald · kun lyd")
    await expect(card.locator(".risk-badge")).to_have_text(re.compile("I fare", re.I))
    await expect(page.locator("#calls")).to_have_class(re.compile(r"\bis-urgent\b"))
    await card.get_by_role("button", name="Afvis", exact=True).click()
    form = card.locator("form.call-decline-form")
    await expect(form).to_be_visible()
    await expect(form).to_contain_text(mine[0])
    await form.get_by_label(mine[1]).check()
    await form.get_by_role("button", name="Afvis og send beskeden").click()
    declined = await first.expect("call.declined", timeout=10)
    assert declined["message"] == mine[1], declined
    await expect(card.locator(".call-card-stopped")).to_contain_text("afvist af dig")
    await expect(page.locator("#status")).to_contain_text("Opkaldet er afvist")

    # Or a message of one's own.
    second = await citizen(anon, node.port)
    started = await second.request("call.start", "call.started", media="video", danger=False)
    card = ring_card(page, started["conversation"])
    await card.get_by_role("button", name="Afvis", exact=True).click()
    form = card.locator("form.call-decline-form")
    await form.get_by_label("Skriv selv en besked").check()
    await form.get_by_label("Din egen besked").fill("Ring igen kl. 20, så er vi flere.")
    await form.get_by_role("button", name="Afvis og send beskeden").click()
    declined = await second.expect("call.declined", timeout=10)
    assert declined["message"] == "Ring igen kl. 20, så er vi flere.", declined
    no_errors(page)
    await first.close()
    await second.close()


async def test_callbacks_are_listed_and_rung_from_the_page(browser: Browser, node: RunningNode, clock: ManualClock,
                                                           anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    page = await staff_page(browser, node, clock, anna)
    now = int(clock.now())  # whole seconds: the node takes call-back windows as whole numbers

    # One asks to be called back and then closes the page; the other stays.
    away = await citizen(anon, node.port)
    gone = await away.request("call.request", "call.started", media="audio", **{"from": now, "to": now + 3600},
                              danger=False)
    assert gone["type"] == "call.started" and gone["state"] == "scheduled", gone
    stay = await citizen(anon, node.port)
    frm, to = now + 600, now + 4200
    asked = await stay.request("call.request", "call.started", media="video", **{"from": frm, "to": to},
                               topic="Misbrug", danger=False)
    assert asked["type"] == "call.started", asked
    await away.close()

    row = page.locator(f'#callback-list li[data-conversation="{asked["conversation"]}"]')
    await expect(row).to_contain_text(asked["pseudonym"])
    await expect(row).to_contain_text("Misbrug")
    span = datetime.fromtimestamp(frm, TZ).strftime("%H:%M") + "–" + datetime.fromtimestamp(to, TZ).strftime("%H:%M")
    await expect(row.locator(".callback-window")).to_contain_text(span)
    await expect(row).to_contain_text("Borgeren har siden åben")
    await expect(row).to_contain_text("ikke ringet op endnu")
    lost = page.locator(f'#callback-list li[data-conversation="{gone["conversation"]}"]')
    await expect(lost).to_contain_text("Borgeren har ikke siden åben")
    await expect(page.locator("#callbacks-title")).to_have_text("Ring tilbage (2)")

    # Calling one whose page is closed says so plainly.
    await lost.get_by_role("button", name=re.compile("Ring op nu")).click()
    await expect(page.locator("#status")).to_contain_text("Borgeren har ikke siden åben lige nu")

    # Calling the other rings their page; they answer, and the page enters the call's room.
    await row.get_by_role("button", name=re.compile("Ring op nu")).click()
    incoming = await stay.expect("call.incoming", timeout=10)
    assert incoming["name"] == "Anna" and incoming["media"] == "video", incoming
    await expect(row.locator(".callback-state")).to_have_text("Ringer hos borgeren …")
    await expect(row.get_by_role("button", name=re.compile("Ring op nu"))).to_be_disabled()
    await stay.send(type="call.answer")
    connect = await stay.expect("call.connect", timeout=10)
    await expect(page.locator("#call-panel")).to_be_visible()
    await expect(page.locator("#call-people")).to_contain_text("Anna (dig)")
    resumed = await stay.request("room.resume", "room.admitted", resume=connect["pass"], camera=False)
    assert resumed["type"] == "room.admitted", resumed
    await expect(page.locator("#call-people .call-person")).to_have_count(2)
    await expect(row).to_have_count(0)
    no_errors(page)
    await stay.close()


async def test_roster_hours_and_handover_panels(browser: Browser, node: RunningNode, clock: ManualClock,
                                                http: aiohttp.ClientSession) -> None:
    bo = await enrol(node, clock, "Bo", "admin")
    anna = await enrol(node, clock, "Anna", "staff")
    token = str((await login(http, bo))["token"])
    # Open in the evenings only; the node's clock says morning, so the centre is outside its hours.
    local_now = datetime.fromtimestamp(clock.now(), TZ)
    assert 6 <= local_now.hour < 17, local_now
    await put_settings(http, token, {"opening_hours": every_day("18:00-23:00")})
    admin = await staff_page(browser, node, clock, bo)
    colleague = await staff_page(browser, node, clock, anna, duty=False)

    # Outside the hours: a clear marker by the queue, and when it opens.
    for page in (admin, colleague):
        await expect(page.locator("#hours-badge")).to_have_text("Uden for åbningstid")
        await expect(page.locator("#hours-state")).to_contain_text("Uden for åbningstid. Åbner igen")
        await expect(page.locator("#hours-state")).to_contain_text("kl. 18:00")

    # On duty now: Bo, connected.
    await expect(colleague.locator("#roster-now")).to_contain_text("Bo (administrator)")
    await expect(colleague.locator("#roster-now")).to_contain_text("forbundet")
    await expect(colleague.locator("#roster-now")).not_to_contain_text("Anna")
    # Anna goes on duty: both pages' rosters follow.
    await colleague.locator("#duty-toggle").click()
    for page in (admin, colleague):
        await expect(page.locator("#roster-now")).to_contain_text("Anna (medarbejder)")

    # An admin plans a shift for Anna tomorrow evening; everyone sees it; only admins can plan.
    await expect(colleague.locator("#roster-admin")).to_be_hidden()
    tomorrow = (local_now + timedelta(days=1)).strftime("%Y-%m-%d")
    await admin.get_by_label("Medarbejder").fill("Anna")
    await admin.get_by_label("Dato").fill(tomorrow)
    await admin.get_by_label("Starter kl.").fill("18:00")
    await admin.get_by_label("Slutter kl.").fill("02:00")
    await admin.get_by_role("button", name="Gem vagten").click()
    for page in (admin, colleague):
        shift = page.locator("#roster-shifts li.roster-shift")
        await expect(shift).to_have_count(1)
        await expect(shift).to_contain_text("Anna (medarbejder)")
        await expect(shift).to_contain_text("18:00–02:00")
    await expect(colleague.locator("#roster-shifts").get_by_role("button", name=re.compile("Fjern"))).to_have_count(0)
    # On the node: tomorrow 18:00 to the night after at 02:00, Copenhagen time.
    ws = await staff(http, token)
    roster = await ws.request("roster.get", "roster")
    start = datetime.fromisoformat(tomorrow + "T18:00").replace(tzinfo=TZ)
    assert [(s["name"], s["from"], s["to"]) for s in roster["shifts"]] == [
        ("Anna", start.timestamp(), (start + timedelta(hours=8)).timestamp())], roster
    await ws.close()
    await admin.locator("#roster-shifts").get_by_role("button", name=re.compile("Fjern")).click()
    for page in (admin, colleague):
        await expect(page.locator("#roster-shifts li.roster-shift")).to_have_count(0)
        await expect(page.locator("#roster-empty")).to_be_visible()

    # Handover notes: free text with a plain warning; shared at once; authors and admins delete.
    await expect(colleague.locator("#handover-hint")).to_contain_text("Skriv ikke navne")
    await colleague.get_by_label("Note til næste vagt").fill("Kaffemaskinen er i stykker. Ring til værten i morgen.")
    await colleague.get_by_role("button", name="Gem til næste vagt").click()
    for page in (admin, colleague):
        note = page.locator("#handover-list li.handover-note")
        await expect(note).to_have_count(1)
        await expect(note).to_contain_text("Kaffemaskinen er i stykker")
        await expect(note.locator(".note-head")).to_contain_text("Anna")
    await admin.get_by_label("Note til næste vagt").fill("Husk at tømme postkassen.")
    await admin.get_by_label("Gem noten i").select_option("8")
    await admin.get_by_role("button", name="Gem til næste vagt").click()
    await expect(colleague.locator("#handover-list li.handover-note")).to_have_count(2)
    # Newest first; Anna may delete her own note but not Bo's.
    await expect(colleague.locator("#handover-list li.handover-note").first).to_contain_text("postkassen")
    bo_note = colleague.locator("#handover-list li.handover-note").filter(has_text="postkassen")
    await expect(bo_note.get_by_role("button", name=re.compile("Slet"))).to_have_count(0)
    own = colleague.locator("#handover-list li.handover-note").filter(has_text="Kaffemaskinen")
    await own.get_by_role("button", name=re.compile("Slet")).click()
    for page in (admin, colleague):
        await expect(page.locator("#handover-list li.handover-note")).to_have_count(1)
    await admin.locator("#handover-list").get_by_role("button", name=re.compile("Slet")).click()
    await expect(colleague.locator("#handover-empty")).to_be_visible()

    for page in (admin, colleague):
        no_errors(page)

