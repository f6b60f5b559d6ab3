"""Calls in the console against a real node: ringing, the one-time link and QR code, declining, call-backs,
the duty roster, handover notes and the opening hours."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

import aiohttp
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from node.chat_ws import CHAT
from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import citizen, signed_in, staff
from tests.conftest import base_url, enrol, every_day, login, put_settings
from tests.tui.conftest import until
from tests.tui.console_helpers import fill, log_in, log_in_on_duty, rings
from tui.app import ConsoleApp
from tui.calls import ring_stop_text
from tui.pinning import KnownNodes
from tui.screens.calls import CallLinkScreen, DeclineDialog
from tui.screens.dialogs import ConfirmDialog, EndDialog, ShiftDialog
from tui.screens.handover import HandoverScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.roster import RosterScreen
from tui.shifts import shift_window
from tui.widgets.calls import CallbackList, RingingPanel
from tui.widgets.conversation import ConversationPane
from tui.widgets.format import at, span
from tui.widgets.queue import QueueList
from tui.widgets.status import StatusBar

SIZE = (150, 50)


def test_ring_stop_says_who_took_it() -> None:
    assert ring_stop_text("accepted", "Anna", "Lise", "Bo") == "Anna tog opkaldet fra Lise."
    assert ring_stop_text("accepted", "Bo", "Lise", "Bo") == "Du tog opkaldet fra Lise."
    assert ring_stop_text("left", None, "Lise", "Bo") == "Lise lagde på."
    assert ring_stop_text("something new", None, "Lise", "Bo") == "Opkaldet fra Lise ringer ikke længere."


def console(node: RunningNode, pins: KnownNodes, writer: Callable[[str], object] = lambda s: None,
            **options: Any) -> ConsoleApp:
    """A console for ``node`` that repeats its alerts only every ten minutes."""
    return ConsoleApp(base_url(node), pins=pins, writer=writer, env={}, alert_repeat=600, **options)


def notices(app: ConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]


async def link_screen(app: ConsoleApp) -> CallLinkScreen:
    """The QR code screen, once it shows its link."""
    await until(lambda: isinstance(app.screen, CallLinkScreen) and bool(app.screen.shown_text), what="the link")
    screen = app.screen
    assert isinstance(screen, CallLinkScreen)
    return screen


async def end_call_and_quit(pilot: Pilot[Any], app: ConsoleApp, cid: str) -> None:
    """F6 ends the call with the anonymous registration (the node closes its room), then Ctrl+Q."""
    await until(lambda: isinstance(app.screen, MainScreen) and cid in app.state.conversations, what="the call's tab")
    await pilot.press("f6")
    await until(lambda: isinstance(app.screen, EndDialog), what="the end dialog")
    await pilot.press("down", "enter", "enter")  # a topic, past the outcome
    await until(lambda: cid not in app.state.conversations, what="the call to end")
    await pilot.press("ctrl+q")
    await until(lambda: not app.is_running, what="the console to quit")


async def test_a_call_rings_and_is_answered_on_a_tablet(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                         anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    writes: list[str] = []
    app = console(node, pins, writes.append)
    async with app.run_test(size=SIZE) as pilot:
        main = await log_in_on_duty(pilot, app, anna)

        # a citizen calls: the console rings (bell + OSC 9) and shows the call at the top and in the queue
        lise = await citizen(anon, node.port)
        started = await lise.request("call.start", "call.started", media="video", name="Lise", topic="Ensomhed",
                                     danger=True)
        cid = started["conversation"]
        panel = main.query_one(RingingPanel)
        await until(lambda: "Lise" in panel.plain, what="the ringing banner")
        assert panel.display and "OPKALD" in panel.plain and "▶ video" in panel.plain
        assert "RISIKO" in panel.plain and "Ensomhed" in panel.plain and "venter under 1 min" in panel.plain
        bells, osc = rings(writes)
        assert bells >= 1 and any("OPKALD (▶ video) fra Lise" in n for n in osc)
        assert ("call", cid) in app.alerter.pending
        queue = main.query_one(QueueList)
        await until(lambda: any("Lise" in line for line in queue.lines), what="the call in the queue")
        assert queue.lines[0].startswith("OPKALD ▶ video")

        # c answers it: the QR code and link for the tablet, with a countdown
        queue.focus()
        await pilot.press("c")
        screen = await link_screen(app)
        url = screen.link.url
        assert re.fullmatch(rf"https://[^/]+:{node.port}/room#invite=[\w.-]+", url) and url in screen.shown_text
        assert "Opkald med Lise (▶ video) er taget" in screen.shown_text
        assert screen.query_one("#call-qr").size.height > 10  # the QR code is on the screen
        assert re.match(r"Linket virker i (5:00|4:[45]\d) endnu", screen.countdown_plain)  # call_link_min = 5
        connect = await lise.expect("call.connect")
        assert connect["staff"] == "Anna" and connect["media"] == "video"
        assert not app.alerter.pending and not panel.display

        # the token is a real one-time host link: in once, then invite_used
        token = url.split("#invite=", 1)[1]
        tablet = await citizen(anon, node.port)
        entered = await tablet.request("room.knock", "room.enter", invite=token)
        assert entered["type"] == "room.enter" and entered["role"] == "host"
        again = await citizen(anon, node.port)
        assert (await again.request("room.knock", "room.enter", invite=token))["code"] == "invite_used"

        # n asks for a new link, which works in its turn
        await pilot.press("n")
        await until(lambda: screen.link.url != url, what="a new link")
        second = screen.link.url.split("#invite=", 1)[1]
        other = await citizen(anon, node.port)
        assert (await other.request("room.knock", "room.enter", invite=second))["type"] == "room.enter"

        # the call is on Anna's desk as a call: notes only, no typing to the citizen
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen) and cid in app.state.conversations,
                    what="the call's tab")
        assert app.state.conversations[cid].kind == "call"
        pane = main.query_one(ConversationPane)
        assert pane.header_plain.strip().startswith("OPKALD") and pane.composer.disabled
        assert "forbindelsen er tabt" not in pane.header_plain  # the citizen left the call socket for the room
        assert app.focused is pane.query_one(".note-input", Input)
        await pilot.press("escape", "k")  # Esc leaves the notes for the queue; k shows the link again
        assert (await link_screen(app)).link.url != url
        await pilot.press("escape")
        await end_call_and_quit(pilot, app, cid)
        assert (await tablet.expect("room.closed"))["reason"]
        for client in (lise, tablet, again, other):
            await client.close()


async def test_decline_and_a_colleague_taking_the_call(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                       http: aiohttp.ClientSession,
                                                       anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    bo_person = await enrol(node, clock, "Bo", "staff")
    bo = await signed_in(http, bo_person)
    await bo.send(type="duty.set", on=True)
    await bo.expect("duty", on=True)
    declines = ["Vi er kun to på vagt i nat. Skriv gerne i chatten.", "Ring igen om en halv time."]
    node.runner.app[CHAT].centre.decline_messages = declines  # the centre's own list, not the defaults
    app = console(node, pins)
    async with app.run_test(size=SIZE) as pilot:
        main = await log_in_on_duty(pilot, app, anna)

        # Bo takes Lise's call: the console stops ringing and says who took it
        lise = await citizen(anon, node.port)
        first = (await lise.request("call.start", "call.started", media="video", name="Lise", danger=False))
        await until(lambda: first["conversation"] in app.state.ringing, what="the ring")
        await bo.request("call.accept", "call.accepted", conversation=first["conversation"], device="here")
        await until(lambda: not app.state.ringing, what="the ring to stop")
        await until(lambda: "Bo tog opkaldet fra Lise." in notices(app), what="who took it")
        assert not app.alerter.pending and not main.query_one(RingingPanel).display

        # Ole calls (audio only): x declines with a message of Anna's own; he sees it
        ole = await citizen(anon, node.port)
        second = await ole.request("call.start", "call.started", media="audio", name="Ole", danger=False)
        panel = main.query_one(RingingPanel)
        await until(lambda: "Ole" in panel.plain, what="Ole ringing")
        assert "♪ kun lyd" in panel.plain
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, DeclineDialog), what="the decline dialog")
        options = app.screen.query_one("#messages", OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == \
            declines  # a staff member (not an admin) reads them from /api/chat/canned
        await pilot.press("tab")  # from the messages to the free-text field
        assert app.focused is app.screen.query_one("#free", Input)
        await fill(pilot, app, "Vi er optaget. Skriv til os i chatten.")
        await pilot.press("enter")
        declined = await ole.expect("call.declined")
        assert declined["message"] == "Vi er optaget. Skriv til os i chatten."
        assert (await bo.expect("call.ring_stop", conversation=second["conversation"]))["by"] == "Anna"
        await until(lambda: any("Opkaldet fra Ole er afvist" in n for n in notices(app)), what="the answer")
        assert not app.state.ringing and not app.alerter.pending

        # a third call, declined with one of the centre's messages: Enter picks it
        mia = await citizen(anon, node.port)
        await mia.request("call.start", "call.started", media="video", name="Mia", danger=False)
        await until(lambda: bool(app.state.ringing), what="Mia ringing")
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, DeclineDialog), what="the decline dialog")
        await pilot.press("down", "enter")
        assert (await mia.expect("call.declined"))["message"] == declines[1]
        await pilot.press("ctrl+q")  # nothing of hers is open: it quits at once
        await until(lambda: not app.is_running, what="the console to quit")
        for client in (lise, ole, mia, bo):
            await client.close()


async def test_call_backs_are_listed_and_ring_the_citizen(node: RunningNode, clock: ManualClock,
                                                          pins: KnownNodes, anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    app = console(node, pins, wallclock=clock.now)
    async with app.run_test(size=SIZE) as pilot:
        main = await log_in_on_duty(pilot, app, anna)

        # Mette asks to be called back within the next hour
        mette = await citizen(anon, node.port)
        start = int(clock.now())
        asked = await mette.request("call.request", "call.started", media="audio", name="Mette", danger=False,
                                    **{"from": start, "to": start + 3600})
        assert asked["state"] == "scheduled", asked
        cid = asked["conversation"]
        callbacks = main.query_one(CallbackList)
        await until(lambda: bool(callbacks.lines), what="the call-back list")
        line = callbacks.lines[0]
        window = span(start, start + 3600, clock.now())
        assert window.startswith("i dag ")
        assert line.startswith("Mette · ♪ kun lyd") and window in line and "siden er åben" in line
        assert "RINGER NU" not in line and not app.state.queue  # a call-back is not in the queue

        # no answer: after a minute the node says so and the request stays on the list
        await pilot.press("r")
        assert app.focused is callbacks
        await pilot.press("enter")
        incoming = await mette.expect("call.incoming")
        assert incoming["name"] == "Anna" and incoming["media"] == "audio"
        await until(lambda: "RINGER NU" in "".join(callbacks.lines), what="ringing shown")
        await until(lambda: any("Ringer til Mette" in n for n in notices(app)), what="ringing the citizen")
        clock.advance(61)
        await until(lambda: any("Mette tog ikke telefonen (forsøg 1 af 3)" in n for n in notices(app)),
                    what="unanswered", timeout=8)
        await until(lambda: callbacks.lines and "forsøg 1" in callbacks.lines[0]
                    and "RINGER NU" not in callbacks.lines[0], what="still on the list")

        # second try: she answers, and the console shows the link for the tablet
        callbacks.focus()
        await pilot.press("enter")
        await mette.expect("call.incoming")
        await mette.send(type="call.answer")
        connect = await mette.expect("call.connect")
        assert connect["staff"] == "Anna"
        screen = await link_screen(app)
        assert screen.link.conversation == cid
        assert "/room#invite=" in screen.link.url and "Mette (♪ kun lyd)" in screen.shown_text
        await until(lambda: not app.state.callbacks, what="the request to leave the list")
        await pilot.press("escape")
        await end_call_and_quit(pilot, app, cid)
        await mette.close()


async def test_roster_handover_and_opening_hours(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                 http: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "staff")
    bo_person = await enrol(node, clock, "Bo", "admin")
    token = str((await login(http, bo_person))["token"])
    await put_settings(http, token, {"opening_hours": every_day("18:00-23:00"), "timezone": "Europe/Copenhagen"})
    bo = await staff(http, token)
    await bo.request("handover.add", "handover", text="Printeren på kontoret virker ikke")
    now = int(clock.now())
    planned = await bo.request("roster.add", "roster", name="Anna", **{"from": now - 60, "to": now + 8 * 3600})
    assert planned["type"] == "roster" and planned["in_hours"] is False, planned
    app = console(node, pins, wallclock=clock.now)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, anna)

        # the notes from the last shift open by themselves at login
        await until(lambda: isinstance(app.screen, HandoverScreen) and bool(app.screen.lines), what="the notes")
        greeting = app.screen
        assert isinstance(greeting, HandoverScreen) and greeting.greeting
        assert "Bo: Printeren på kontoret virker ikke" in greeting.lines[0]
        await pilot.press("escape")
        main = app.main
        assert main is not None
        await until(lambda: "UDEN FOR ÅBNINGSTID" in main.query_one(StatusBar).plain, what="the hours")

        # h: write a note for the next shift; everyone gets it; the author can delete it
        await pilot.press("h")
        await until(lambda: isinstance(app.screen, HandoverScreen) and bool(app.screen.lines), what="the notes")
        notes = app.screen
        assert isinstance(notes, HandoverScreen) and not notes.greeting
        assert app.focused is notes.query_one("#text", Input)
        await fill(pilot, app, "Ny nøgle i skuffen")
        await pilot.press("enter")
        await until(lambda: len(notes.lines) == 2, what="the new note")
        assert "Anna: Ny nøgle i skuffen" in notes.lines[0]  # newest first
        broadcast = await bo.expect("handover", where=lambda f: len(f["notes"]) == 2)
        assert broadcast["notes"][0]["text"] == "Ny nøgle i skuffen" and broadcast["notes"][0]["author"] == "Anna"
        await pilot.press("shift+tab")  # back to the list, the newest highlighted
        assert app.focused is notes.query_one("#notes", OptionList)
        await pilot.press("delete")
        await until(lambda: len(notes.lines) == 1, what="the note to go")
        assert "Printeren" in notes.lines[0]
        await pilot.press("escape")

        # v: the roster with Anna's shift, who is on duty, and when the centre opens
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")
        await pilot.press("v")
        await until(lambda: isinstance(app.screen, RosterScreen) and "Anna" in app.screen.plain, what="the roster")
        roster = app.screen
        assert isinstance(roster, RosterScreen)
        assert app.state.roster is not None and app.state.roster.next_open is not None
        assert f"Uden for åbningstid. Åbner igen {at(app.state.roster.next_open, clock.now())}." in roster.plain
        assert "Anna (medarbejder) – er her" in roster.plain
        shift = span(now - 60, now + 8 * 3600, clock.now())
        assert f"{shift}  Anna (medarbejder)  ← nu" in roster.plain
        await pilot.press("escape", "ctrl+q")
        await until(lambda: not app.is_running, what="the console to quit")
    await bo.close()


async def test_admin_plans_and_removes_shifts(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                             http: aiohttp.ClientSession) -> None:
    anna_person = await enrol(node, clock, "Anna", "staff")
    bo = await enrol(node, clock, "Bo", "admin")
    carl = await enrol(node, clock, "Carl", "volunteer")
    anna = await signed_in(http, anna_person)
    await anna.send(type="duty.set", on=True)
    await anna.expect("duty", on=True)
    app = console(node, pins, wallclock=clock.now)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, bo)
        await pilot.press("v")
        await until(lambda: isinstance(app.screen, RosterScreen) and "Anna" in app.screen.plain, what="the roster")
        roster = app.screen
        assert isinstance(roster, RosterScreen) and "Ingen planlagte vagter." in roster.plain
        assert "a planlægger en vagt" in str(roster.query_one("#roster-keys", Static).render())

        # a: the form offers the names the console knows; 18:00–02:00 today is a night shift into tomorrow
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ShiftDialog), what="the form")
        form = app.screen
        assert isinstance(form, ShiftDialog) and form.names == ["Anna", "Bo"]
        today = dt.datetime.fromtimestamp(clock.now()).date()
        assert form.query_one("#date", Input).value == today.strftime("%d-%m-%Y")
        await pilot.press("enter")  # Anna, highlighted first
        assert form.query_one("#name", Input).value == "Anna" and app.focused is form.query_one("#from", Input)
        await fill(pilot, app, "18:00")
        await pilot.press("enter")  # on to the empty "to"
        await fill(pilot, app, "02:00")
        await pilot.press("enter")
        start, end = shift_window(today, dt.time(18), dt.time(2))
        assert end - start == 8 * 3600
        line = f"{span(start, end, clock.now())}  Anna (medarbejder)"
        await until(lambda: app.screen is roster and line in roster.plain, what="the new shift")
        assert roster.status == f"Vagten er planlagt: Anna {span(start, end, clock.now())}."
        await anna.expect("roster", where=lambda f: len(f["shifts"]) == 1)  # everyone gets the new roster
        stored = await anna.request("roster.get", "roster")
        assert [(s["name"], s["from"], s["to"]) for s in stored["shifts"]] == [("Anna", start, end)]

        # Del asks first; "Behold den" keeps the shift, "Fjern vagten" removes it
        await pilot.press("delete")
        await until(lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.click("#cancel")
        await until(lambda: app.screen is roster, what="the roster again")
        assert line in roster.plain
        await pilot.press("delete")
        await until(lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        await pilot.click("#ok")
        await until(lambda: "Ingen planlagte vagter." in roster.plain, what="the shift to go")
        assert roster.status.startswith("Vagten er fjernet: Anna")
        await anna.expect("roster", where=lambda f: f["shifts"] == [])
        assert (await anna.request("roster.get", "roster"))["shifts"] == []

        # a shift that ended yesterday: the node refuses it, the roster says why, nothing changes
        await pilot.press("a")
        await until(lambda: isinstance(app.screen, ShiftDialog), what="the form")
        form = app.screen
        await pilot.press("enter")
        await pilot.click("#date")
        await fill(pilot, app, (today - dt.timedelta(days=1)).strftime("%d-%m-%Y"))
        await pilot.press("enter")  # on to the empty "from"
        await fill(pilot, app, "10:00")
        await pilot.press("enter")
        await fill(pilot, app, "12:00")
        await pilot.press("enter")
        refusal = "Vagten kunne ikke gemmes: en vagt må højst vare 24 timer og skal slutte ude i fremtiden."
        await until(lambda: roster.status == refusal, what="the refusal")
        assert refusal in notices(app)
        assert "Ingen planlagte vagter." in roster.plain and not roster.waiting
        assert (await anna.request("roster.get", "roster"))["shifts"] == []

        # the help lists the keys for an administrator
        await pilot.press("escape", "f1")
        await until(lambda: isinstance(app.screen, HelpScreen), what="the help")
        assert "a i vagtplanen" in app.screen.plain and "Del i vagtplanen" in app.screen.plain
        await pilot.press("escape", "ctrl+q")
        await until(lambda: not app.is_running, what="the console to quit")

    # a volunteer sees the roster, but neither the keys nor the form
    bo_ws = await signed_in(http, bo)
    await bo_ws.request("roster.add", "roster", name="Anna", **{"from": int(clock.now()), "to": int(clock.now()) + 3600})
    app = console(node, pins, wallclock=clock.now)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, carl)
        await pilot.press("v")
        await until(lambda: isinstance(app.screen, RosterScreen) and "Anna (medarbejder)  ← nu" in app.screen.plain,
                    what="the roster")
        roster = app.screen
        assert isinstance(roster, RosterScreen)
        assert str(roster.query_one("#roster-keys", Static).render()) == \
            "Esc lukker. Vagter planlægges af en administrator."
        assert not roster.check_action("add", ()) and not roster.check_action("remove", ())
        await pilot.press("a", "delete")
        await pilot.pause()
        assert app.screen is roster and not roster.waiting
        await pilot.press("escape", "f1")
        await until(lambda: isinstance(app.screen, HelpScreen), what="the help")
        assert "vagtplanen" not in app.screen.plain
        await pilot.press("escape", "ctrl+q")
        await until(lambda: not app.is_running, what="the console to quit")
    assert len((await anna.request("roster.get", "roster"))["shifts"]) == 1
    await bo_ws.close()
    await anna.close()
