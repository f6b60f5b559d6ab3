"""The console end to end: citizen WebSocket ↔ real node ↔ ConsoleApp driven by Textual's pilot."""
from __future__ import annotations

import json

import aiohttp
from textual.widgets import Input, OptionList

from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import citizen, signed_in
from tests.conftest import base_url, enrol
from tests.tui.conftest import until
from tests.tui.console_helpers import fill, log_in, rings, type_text
from tui.app import ConsoleApp
from tui.pinning import KnownNodes, node_key
from tui.screens.dialogs import CannedDialog, EndDialog, EscalateDialog, TransferDialog
from tui.screens.main import MainScreen
from tui.widgets.conversation import ConversationPane
from tui.widgets.queue import QueueList

SIZE = (150, 45)


async def test_a_night_shift(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                             http: aiohttp.ClientSession, anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    bo_person = await enrol(node, clock, "Bo", "staff")
    bo = await signed_in(http, bo_person)
    await bo.request("duty.set", "duty", on=True)
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=pins, writer=writes.append, env={}, alert_repeat=600)
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, anna)
        assert pins.get(node_key(base_url(node))).fingerprint == node.ctx.tls.fingerprint  # type: ignore[union-attr]
        main = app.screen
        assert isinstance(main, MainScreen)
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")
        assert "PÅ VAGT" in main.query_one("StatusBar").plain  # type: ignore[attr-defined]

        # a citizen arrives: the console rings (bell + OSC 9 + toast) and lists her
        lise = await citizen(anon, node.port)
        started = await lise.request("chat.start", "chat.started", name="Lise", topic="Ensomhed", danger=False)
        cid = started["conversation"]
        await lise.request("chat.send", "chat.ack", text="Er der nogen?", client_id="m1")
        queue = main.query_one(QueueList)
        await until(lambda: any("Lise" in line for line in queue.lines), what="Lise in the queue")
        bells, notes = rings(writes)
        assert bells >= 1 and any("Lise venter i køen" in n for n in notes)
        assert app.alerter.pending

        # one key takes the next: the conversation opens with what she wrote while waiting
        queue.focus()
        await pilot.press("space")
        await until(lambda: app.state.active == cid, what="the conversation to open")
        assert not app.alerter.pending  # taking it acknowledged the alert
        await lise.expect("chat.joined", name="Anna")
        pane = main.query_one(ConversationPane)
        assert "Er der nogen?" in pane.plain and "Lise" in pane.header_plain
        assert app.focused is pane.composer

        # messages both ways, and the typing indicator
        await type_text(pilot, "Hej Lise")
        await pilot.press("enter")
        got = await lise.expect("chat.message")
        assert got["message"]["text"] == "Hej Lise" and got["message"]["author"] == "Anna"
        await until(lambda: "(sender…)" not in pane.plain, what="the acknowledgement")
        await lise.send(type="chat.typing", active=True)
        await until(lambda: pane.typing_plain == "Lise skriver…", what="the typing indicator")
        await lise.request("chat.send", "chat.ack", text="Jeg har det svært i aften", client_id="m2")
        await until(lambda: "Jeg har det svært i aften" in pane.plain, what="her message")

        # a private note: staff see it, the citizen never does
        await pilot.press("f3")
        assert app.focused is pane.query_one(".note-input", Input)
        await fill(pilot, app, "Virker ensom, ingen akut fare")
        await pilot.press("enter")
        await until(lambda: any(n.text == "Virker ensom, ingen akut fare"
                                for n in app.state.conversations[cid].notes), what="the note")

        # canned replies go into the composer for editing
        pane.composer.focus()
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, CannedDialog), what="the canned picker")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, MainScreen), what="the picker to close")
        assert pane.composer.value == app.state.canned[0]["text"]
        pane.composer.value = ""

        # "Brug for hjælp": the staff member on duty is rung
        await pilot.press("f5")
        await until(lambda: isinstance(app.screen, EscalateDialog), what="the escalate dialog")
        await fill(pilot, app, "Kom gerne ind")
        await pilot.press("enter")
        alert = await bo.expect("alert", kind="escalation")
        assert alert["conversation"] == cid and alert["from"] == "Anna" and alert["note"] == "Kom gerne ind"

        # transfer to Bo, with a note
        await pilot.press("f4")
        await until(lambda: isinstance(app.screen, TransferDialog), what="the transfer dialog")
        targets = app.screen.query_one("#targets", OptionList)
        assert [str(targets.get_option_at_index(i).prompt) for i in range(targets.option_count)] == \
            ["Til Bo", "Tilbage til køen"]
        targets.highlighted = 0
        app.screen.query_one("#note", Input).focus()
        await pilot.pause()
        await fill(pilot, app, "Hun vil gerne tale med en medarbejder")
        await pilot.press("enter")
        opened = await bo.expect("chat.opened", conversation=cid)
        assert any("Hun vil gerne tale med en medarbejder" in n["text"] for n in opened["notes"])
        assert (await bo.expect("alert", kind="transfer"))["from"] == "Anna"
        await until(lambda: cid not in app.state.conversations, what="the chat to leave the console")

        # Bo hands it back; the console rings for the transfer and opens it again
        writes.clear()
        await bo.request("chat.transfer", "chat.closed", conversation=cid, to="Anna", note="Tilbage til dig")
        await until(lambda: cid in app.state.conversations, what="the chat to come back")
        await until(lambda: rings(writes)[0] >= 1, what="the transfer alert")
        bells, notes = rings(writes)
        assert bells >= 1 and any("Bo har overdraget Lise til dig" in n for n in notes)
        main.activate(cid)
        assert not app.alerter.pending

        # end with the anonymous registration
        await pilot.press("f6")
        await until(lambda: isinstance(app.screen, EndDialog), what="the end dialog")
        await pilot.press("enter")  # the chat's own topic is preselected; Enter moves to the outcome
        await fill(pilot, app, "Aftalt at skrive igen")
        await pilot.press("enter")
        assert (await lise.expect("chat.ended"))["reason"] == "ended"
        await until(lambda: not app.state.conversations, what="the chat to close")
        rows = await node.ctx.store.read(lambda c: c.execute(
            "SELECT topic, outcome FROM registrations").fetchall())
        assert rows == [("Ensomhed", "Aftalt at skrive igen")]

        # the citizen never received a note or anything staff-only
        everything = json.dumps(lise.frames, ensure_ascii=False)
        assert "Virker ensom" not in everything and "Hun vil gerne tale" not in everything
        assert "Kom gerne ind" not in everything and "note" not in {f["type"] for f in lise.frames}

        await pilot.press("ctrl+q")
        await until(lambda: not app.is_running, what="the console to quit")
    await lise.close()
    await bo.close()


async def test_frames_before_the_main_screen_is_mounted_are_drawn_when_it_is(pins: KnownNodes) -> None:
    # The node's first frames can be handled before the main screen has mounted its widgets (seen
    # as NoMatches from the reconnect test). Nothing is drawn on it then; its mount draws it all.
    app = ConsoleApp("https://127.0.0.1:9", pins=pins, writer=lambda s: None, env={}, alert_repeat=600)
    async with app.run_test(size=SIZE):
        app.main = MainScreen()
        pushed = app.push_screen(app.main)  # attached now, mounted later
        assert app.main.is_attached and not app.main.is_mounted and app.shown_main is None
        await app.handle_frame({"type": "welcome", "role": "volunteer", "name": "Anna", "version": "1"})
        await app.handle_frame({"type": "chat.opened", "conversation": "c1", "pseudonym": "Lise", "topic": "Angst",
                                "risk": False, "messages": [], "notes": [], "role": "owner", "citizen": "connected"})
        assert app.state.open_ids() == ["c1"]
        await pushed
        await until(lambda: app.shown_main is not None, what="the main screen mounted")
        assert app.main.pane("c1") is not None  # the chat that came first has its tab
        assert "Lise" in str(app.main.query_one("#mine").render())
