"""The staff web page in a real headless Chromium against a real node (TLS, SQLCipher, /ws).

A citizen is driven with a plain aiohttp WebSocket; the staff member works through the page only.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import WsClient, citizen
from tests.conftest import Staff, base_url, enrol

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 10_000


async def new_context(browser: Browser, **options: Any) -> BrowserContext:
    # The test node serves TLS from its own freshly generated CA, which this Chromium has never seen;
    # the certificate check itself is covered by the node tests, so the page tests skip it.
    context = await browser.new_context(ignore_https_errors=True, locale="da-DK", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


async def signed_in_page(browser: Browser, node: RunningNode, clock: ManualClock, person: Staff, *,
                         duty: bool = True, init_script: str | None = None, **options: Any) -> Page:
    """Log in through the form, then (unless ``duty`` is False) go on duty with the page's own toggle."""
    context = await new_context(browser, **options)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The first /api/me before login answers 401 by design; Chromium logs that as a failed load.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "status of 401" not in msg.text else None)
    setattr(page, "js_errors", errors)
    await page.goto(base_url(node) + "/staff/")
    await page.get_by_label("Navn").fill(person.name)
    await page.get_by_label("Adgangskode", exact=True).fill(person.password)
    await page.get_by_label("Kode fra din app").fill(person.code())
    await page.get_by_role("button", name="Log ind").click()
    await expect(page.locator("#who")).to_contain_text(person.name)
    clock.advance(30)  # the next login (another person) uses a fresh TOTP step
    if not duty:
        return page
    toggle = page.locator("#duty-toggle")
    await expect(toggle).to_be_enabled()
    await toggle.click()
    await expect(page.locator("#duty-state")).to_have_text("Du er på vagt.")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    return page


async def expect_open(page: Page, pseudonym: str) -> None:
    """The conversation with ``pseudonym`` is the one shown (its tab selected, the panel visible)."""
    await expect(page.get_by_role("tab", name=re.compile(re.escape(pseudonym)))).to_have_attribute(
        "aria-selected", "true")
    await expect(page.locator("#conversation")).to_be_visible()
    await expect(page.locator("#conv-title")).to_have_text(f"Samtale med {pseudonym}")


def queue_item(page: Page, conversation: str) -> Locator:
    return page.locator(f'#queue-list li[data-conversation="{conversation}"]')


async def test_queue_take_exchange_note_and_end(browser: Browser, node: RunningNode, clock: ManualClock,
                                                anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    page = await signed_in_page(browser, node, clock, anna)
    # The page is honest about background tabs and points night staff to the console.
    await expect(page.locator(".sound-help")).to_contain_text("fristed console")

    # Two citizens: the one in danger goes first, with a clear red marker.
    calm = await citizen(anon, node.port)
    started = await calm.request("chat.start", "chat.started", topic="Ensomhed", danger=False)
    assert started["type"] == "chat.started", started
    cid, pseudonym = started["conversation"], started["pseudonym"]
    await expect(queue_item(page, cid)).to_contain_text(pseudonym)
    await expect(queue_item(page, cid)).to_contain_text("Ensomhed")
    await expect(queue_item(page, cid).locator(".risk-badge")).to_have_count(0)
    # The alert rings until acknowledged: banner, title flashing.
    await expect(page.locator("#alerts")).to_be_visible()
    await expect(page.locator("#alert-list")).to_contain_text("Ny samtale venter")
    await page.wait_for_function("document.title.startsWith('(!)')", timeout=TIMEOUT_MS)

    risky = await citizen(anon, node.port)
    danger = await risky.request("chat.start", "chat.started", danger=True)
    assert danger["type"] == "chat.started", danger
    first = page.locator("#queue-list li").first
    await expect(first).to_have_attribute("data-conversation", danger["conversation"])
    await expect(first.locator(".risk-badge")).to_have_text(re.compile("I fare", re.I))
    await expect(page.locator("#alert-list")).to_contain_text("I FARE")
    # Waiting time ticks on the page without new frames from the node.
    wait = queue_item(page, cid).locator(".queue-wait")
    before = await wait.text_content()
    await expect(wait).not_to_have_text(before or "", timeout=3000)
    await expect(queue_item(page, cid)).to_contain_text("Forbundet")

    # Take the calm one by its own button; its alert goes away by itself.
    await queue_item(page, cid).get_by_role("button").click()
    await expect_open(page, pseudonym)
    await expect(queue_item(page, cid)).to_have_count(0)
    joined = await calm.expect("chat.joined")
    assert joined["name"] == "Anna"
    await page.get_by_role("button", name=re.compile("Jeg har set det")).click()
    await expect(page.locator("#alerts")).to_be_hidden()
    await expect(page).to_have_title("Fristed – medarbejdere")

    # Citizen → staff, with the typing indicator.
    await calm.send(type="chat.typing", active=True)
    await expect(page.locator("#typing")).to_have_text(f"{pseudonym} skriver …")
    await calm.send(type="chat.send", text="Hej, er der nogen?", client_id="c-1")
    ack = await calm.expect("chat.ack", client_id="c-1")
    await expect(page.locator("#messages")).to_contain_text("Hej, er der nogen?")
    await expect(page.locator("#typing")).to_have_text("")

    # Staff → citizen: typing shows on the citizen's side, Enter sends.
    composer = page.get_by_label("Skriv til borgeren")
    await composer.press_sequentially("Hej")
    typing = await calm.expect("chat.typing", active=True)
    assert "conversation" not in typing
    await composer.press_sequentially(", jeg er her.")
    await composer.press("Enter")
    reply = await calm.expect("chat.message")
    assert reply["message"]["text"] == "Hej, jeg er her." and reply["message"]["author"] == "Anna"
    await expect(page.locator("#messages .message.from-staff").last).to_contain_text("Hej, jeg er her.")
    await expect(page.locator("#messages .is-pending")).to_have_count(0)

    # A canned reply is put into the composer to edit, then sent.
    await page.get_by_label("Standardsvar").select_option(label="Tak fordi du skriver")
    await page.get_by_role("button", name="Sæt ind").click()
    await expect(composer).to_have_value(re.compile("Tak fordi du skriver til os"))
    await page.get_by_role("button", name="Send", exact=True).click()
    canned = await calm.expect("chat.message")
    assert canned["message"]["text"].startswith("Tak fordi du skriver til os")

    # The citizen deletes their own message: staff see "(slettet)".
    await calm.send(type="chat.delete", message=ack["message"]["id"])
    await expect(page.locator("#messages")).to_contain_text("(slettet)")
    await expect(page.locator("#messages")).not_to_contain_text("Hej, er der nogen?")

    # A private note: shown in its own labelled panel, never sent to the citizen.
    await expect(page.locator(".notes")).to_contain_text("Kun for personale — borgeren ser det ikke")
    secret = "Virker meget alene, spørg til netværk"
    await page.get_by_label("Ny note").fill(secret)
    await page.get_by_role("button", name="Gem note").click()
    await expect(page.locator("#notes-list")).to_contain_text(secret)

    # A reload keeps the work: still on duty, the conversation re-opened with its transcript and notes.
    await page.reload()
    await expect_open(page, pseudonym)
    await expect(page.locator("#duty-state")).to_have_text("Du er på vagt.")
    await expect(page.locator("#messages")).to_contain_text("Hej, jeg er her.")
    await expect(page.locator("#messages")).to_contain_text("(slettet)")
    await expect(page.locator("#notes-list")).to_contain_text(secret)

    # Presence: a lost connection is not the same as leaving.
    await calm.close()
    await expect(page.locator("#conv-presence")).to_contain_text("Forbindelsen til borgeren er væk")
    back = await citizen(anon, node.port)
    resumed = await back.request("chat.resume", "chat.resumed", resume=started["resume"])
    assert resumed["type"] == "chat.resumed", resumed
    await expect(page.locator("#conv-presence")).to_have_text("Borgeren er forbundet.")

    # End with a topic and an outcome: the tab closes, the citizen is told.
    clock.advance(10)  # refill the per-connection rate bucket, which runs on the node's (manual) clock
    await page.get_by_role("button", name="Afslut", exact=True).click()
    await page.get_by_label("Emne").select_option("Ensomhed")
    await page.get_by_label("Udfald (kan udelades)").fill("Talt færdig")
    await page.get_by_role("button", name="Afslut samtalen").click()
    ended = await back.expect("chat.ended")
    assert ended["reason"] == "ended"
    await expect(page.get_by_role("tab", name=re.compile(re.escape(pseudonym)))).to_have_count(0)
    await expect(page.locator("#status")).to_contain_text("Samtalen er afsluttet")

    # "Tag næste" takes the one in danger, who was waiting all along.
    await page.get_by_role("button", name="Tag næste").click()
    await expect_open(page, danger["pseudonym"])
    await expect(page.locator("#conv-meta .risk-badge")).to_be_visible()
    await risky.expect("chat.joined")

    # The note's text never reached either citizen's socket, in any frame.
    for client in (calm, back, risky):
        assert all(secret not in json.dumps(f, ensure_ascii=False) for f in client.frames)
        assert not client.seen("note.added")
    assert not getattr(page, "js_errors"), getattr(page, "js_errors")

    # Logging out closes the desk and its socket; the page says so calmly.
    await page.get_by_role("button", name="Log ud").click()
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Du er logget ud.")
    await expect(page.locator("#signed-in")).to_be_hidden()
    await back.close()
    await risky.close()


async def test_two_pages_take_the_same_chat_at_once(browser: Browser, node: RunningNode, clock: ManualClock,
                                                    anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    bo = await enrol(node, clock, "Bo", "staff")
    pages = [await signed_in_page(browser, node, clock, anna), await signed_in_page(browser, node, clock, bo)]
    person: WsClient = await citizen(anon, node.port)
    started = await person.request("chat.start", "chat.started", danger=False)
    cid = started["conversation"]
    buttons = [queue_item(p, cid).get_by_role("button") for p in pages]
    for button in buttons:
        await expect(button).to_be_enabled()
    handles = [await b.element_handle() for b in buttons]
    # Both clicks are dispatched in the same instant, each page in its own browser context.
    await asyncio.gather(*(h.evaluate("button => button.click()") for h in handles if h is not None))

    # Exactly one page opens the conversation; the other is told plainly that someone else has it.
    for p in pages:
        await expect(queue_item(p, cid)).to_have_count(0)
    await expect(pages[0].locator("#conversation:visible, #status:has-text('allerede taget')")).to_have_count(1)
    await expect(pages[1].locator("#conversation:visible, #status:has-text('allerede taget')")).to_have_count(1)
    winners = [p for p in pages if await p.locator("#conversation").is_visible()]
    assert len(winners) == 1
    loser = pages[1 - pages.index(winners[0])]
    await expect(loser.locator("#status")).to_have_text("En anden har allerede taget samtalen.")
    assert await loser.get_by_role("tab").count() == 0
    await expect(winners[0].locator("#conv-title")).to_have_text(f"Samtale med {started['pseudonym']}")
    await person.expect("chat.joined")
    await person.settle(0.3)
    assert len(person.seen("chat.joined")) == 1
    for p in pages:
        assert not getattr(p, "js_errors"), getattr(p, "js_errors")
    await person.close()


async def test_help_transfer_off_duty_leaving_letterbox_and_block(
        browser: Browser, node: RunningNode, clock: ManualClock, anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    bo = await enrol(node, clock, "Bo", "staff")
    volunteer = await signed_in_page(browser, node, clock, anna)
    colleague = await signed_in_page(browser, node, clock, bo)
    person = await citizen(anon, node.port)
    started = await person.request("chat.start", "chat.started", topic="Angst og uro", danger=False)
    cid, pseudonym = started["conversation"], started["pseudonym"]
    await expect(queue_item(volunteer, cid)).to_be_visible()
    await volunteer.keyboard.press("Alt+n")  # "Tag næste" from the keyboard
    await expect_open(volunteer, pseudonym)

    # "Brug for hjælp": the staff member's page rings, and they join as helper.
    await volunteer.get_by_role("button", name="Brug for hjælp").click()
    await volunteer.get_by_label("Hvad har du brug for?").fill("Taler om at skade sig selv")
    await volunteer.get_by_role("button", name="Send alarm").click()
    await expect(volunteer.locator("#status")).to_contain_text("Der er bedt om hjælp")
    await expect(colleague.locator("#alert-list")).to_contain_text("Anna har brug for hjælp")
    await colleague.get_by_role("button", name="Gå ind i samtalen").click()
    await expect(colleague.locator("#conv-meta")).to_contain_text("Du er med som hjælper")
    assert (await person.expect("chat.joined"))["name"] == "Anna"
    assert (await person.expect("chat.joined"))["name"] == "Bo"
    await colleague.get_by_label("Skriv til borgeren").fill("Hej, jeg er også her.")
    await colleague.get_by_label("Skriv til borgeren").press("Enter")
    assert (await person.expect("chat.message"))["message"]["author"] == "Bo"
    await expect(volunteer.locator("#messages")).to_contain_text("Hej, jeg er også her.")
    # The escalation note is private: in the notes panel, not in the conversation.
    await expect(volunteer.locator("#notes-list")).to_contain_text("Taler om at skade sig selv")

    # Transfer to Bo with a handover note; Anna's tab goes, Bo now owns it.
    clock.advance(10)
    await volunteer.get_by_role("button", name="Overdrag", exact=True).click()
    await volunteer.get_by_label("Til", exact=True).select_option("Bo")
    await volunteer.get_by_label("Note til den næste").fill("Hun vil gerne tale om søvn")
    await volunteer.locator("#transfer-form").get_by_role("button", name="Overdrag").click()
    await expect(volunteer.get_by_role("tab")).to_have_count(0)
    await expect(colleague.locator("#alert-list")).to_contain_text("Samtale overdraget til dig fra Anna")
    await expect(colleague.locator("#conv-meta")).not_to_contain_text("hjælper")
    await expect(colleague.locator("#notes-list")).to_contain_text("Hun vil gerne tale om søvn")
    await colleague.keyboard.press("Alt+a")
    await expect(colleague.locator("#alerts")).to_be_hidden()

    # Going off duty with an open chat asks what to do; "back to the queue" puts it first in line.
    await colleague.get_by_role("button", name="Gå af vagt").click()
    await expect(colleague.locator("#offduty-choice")).to_be_visible()
    await expect(colleague.locator("#offduty-to")).to_have_count(1)
    await colleague.get_by_role("button", name="Sæt dem tilbage i køen").click()
    await expect(colleague.locator("#duty-state")).to_have_text("Du er ikke på vagt.")
    await expect(colleague.get_by_role("tab")).to_have_count(0)
    await expect(queue_item(volunteer, cid)).to_be_visible()
    assert "Hun vil gerne" not in json.dumps(person.frames, ensure_ascii=False)

    # The citizen leaves by themselves: staff see "left", not "lost", and register the chat.
    await queue_item(volunteer, cid).get_by_role("button").click()
    await expect_open(volunteer, pseudonym)
    await person.send(type="chat.leave")
    await expect(volunteer.locator("#conv-presence")).to_contain_text("Borgeren har forladt samtalen")
    await expect(volunteer.get_by_label("Skriv til borgeren")).to_be_hidden()
    await volunteer.get_by_role("button", name="Afslut og registrér").click()
    await volunteer.get_by_label("Emne").select_option("Angst og uro")
    await volunteer.get_by_role("button", name="Afslut samtalen").click()
    await expect(volunteer.get_by_role("tab")).to_have_count(0)

    # Letterbox: a letter arrives, is answered from the page, and the citizen reads the answer.
    writer = await citizen(anon, node.port)
    stored = await writer.request("letter.send", "letter.stored", text="Jeg sover ikke om natten.")
    await expect(volunteer.locator("#letters-count")).to_have_text("1 ubesvaret brev.")
    await expect(volunteer.locator("#alert-list")).to_contain_text("Nyt brev i brevkassen")
    await volunteer.locator("#alert-list").get_by_role("button", name="Vis breve").click()
    await expect(volunteer.locator("#alerts")).to_be_hidden()
    await expect(volunteer.locator("#letters-list")).to_contain_text("Jeg sover ikke om natten.")
    await volunteer.get_by_label("Dit svar").fill("Tak for dit brev. Skriv til os en aften, så taler vi om det.")
    await volunteer.get_by_role("button", name="Send svar").click()
    await expect(volunteer.locator("#letters-count")).to_have_text("Ingen ubesvarede breve.")
    answer = await writer.request("letter.read", "letter.answer", code=stored["code"])
    assert answer["status"] == "answered"
    assert any("Tak for dit brev" in m["text"] for m in answer["messages"])

    # Block: hours and a reason; the chat ends for the citizen.
    clock.advance(10)
    rude = await citizen(anon, node.port)
    other = await rude.request("chat.start", "chat.started", danger=False)
    await queue_item(volunteer, other["conversation"]).get_by_role("button").click()
    await volunteer.get_by_role("button", name="Bloker").click()
    await volunteer.get_by_label("Hvor længe").select_option("24")
    await volunteer.get_by_label("Begrundelse").fill("Truende sprog")
    await volunteer.get_by_role("button", name="Bloker og afslut").click()
    assert (await rude.expect("chat.ended"))["reason"] == "blocked"
    await expect(volunteer.get_by_role("tab")).to_have_count(0)
    for p in (volunteer, colleague):
        assert not getattr(p, "js_errors"), getattr(p, "js_errors")
    for client in (person, writer, rude):
        await client.close()
