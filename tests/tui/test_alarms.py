"""Alarms a night worker cannot miss: escalation rings a staff console until acknowledged."""
from __future__ import annotations

import aiohttp

from node.clock import ManualClock
from node.server import RunningNode
from tests.chatclient import citizen, signed_in
from tests.conftest import base_url, enrol
from tests.tui.conftest import until
from tests.tui.console_helpers import log_in
from tui.app import ConsoleApp
from tui.pinning import KnownNodes
from tui.widgets.conversation import ConversationPane


async def test_escalation_rings_until_the_helper_joins(node: RunningNode, clock: ManualClock, pins: KnownNodes,
                                                      http: aiohttp.ClientSession,
                                                      anon: aiohttp.ClientSession) -> None:
    bo_person = await enrol(node, clock, "Bo", "staff")
    anna_person = await enrol(node, clock, "Anna", "volunteer")
    anna = await signed_in(http, anna_person)
    await anna.request("duty.set", "duty", on=True)
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=pins, writer=writes.append, env={"TMUX": "/tmp/tmux-1000/default,1,0"},
                     alert_repeat=0.3)
    async with app.run_test(size=(140, 40)) as pilot:
        await log_in(pilot, app, bo_person)
        lise = await citizen(anon, node.port)
        started = await lise.request("chat.start", "chat.started", name="Lise", danger=True)
        cid = started["conversation"]
        await anna.request("chat.take", "chat.opened", conversation=cid)
        assert not writes  # Bo is off duty: a new chat does not ring him
        await anna.send(type="chat.escalate", conversation=cid, note="Hun taler om at skade sig selv")

        # bell + OSC 9 (wrapped for tmux) + an error toast, repeated until acknowledged
        await until(lambda: writes.count("\a") >= 3, what="the alarm to repeat")
        osc = [w for w in writes if w.startswith("\x1bPtmux;")]
        assert osc and "Brug for hjælp: Anna" in osc[0] and osc[0].endswith("\x1b\\")
        assert "\x1b\x1b]9;" in osc[0]  # ESC doubled inside tmux passthrough
        assert any("Stadig ikke set" in w for w in osc)
        toasts = list(app._notifications)
        assert any(t.severity == "error" and "Brug for hjælp" in t.message for t in toasts)
        assert "Alarmer: 1" in app.main.query_one("StatusBar").plain  # type: ignore[union-attr]

        # j joins the escalated chat as helper; the alarm stops
        await pilot.press("j")
        await until(lambda: cid in app.state.conversations, what="joining")
        assert app.state.conversations[cid].role == "helper"
        await lise.expect("chat.joined", name="Bo")
        assert not app.alerter.pending
        rung = writes.count("\a")
        await pilot.pause(0.7)
        assert writes.count("\a") == rung
        pane = app.main.query_one(ConversationPane)  # type: ignore[union-attr]
        assert "hjælper" in pane.header_plain and "RISIKO" in pane.header_plain
        assert any("Hun taler om at skade sig selv" in n.text for n in app.state.conversations[cid].notes)

        # a new chat while on duty rings; 'a' acknowledges without taking it
        await pilot.press("escape", "o")  # Esc leaves the composer for the queue; o goes on duty
        await until(lambda: app.state.on_duty, what="on duty")
        writes.clear()
        ole = await citizen(anon, node.port)
        await ole.request("chat.start", "chat.started", name="Ole", danger=False)
        await until(lambda: writes.count("\a") >= 1, what="the new-chat alarm")
        await pilot.press("a")
        assert not app.alerter.pending
        # the mouse works too: a click on Ole in the queue takes him
        await pilot.click("#queue", offset=(4, 1))
        await until(lambda: any(c.pseudonym == "Ole" for c in app.state.conversations.values()),
                    what="a click to take Ole")
        await lise.close()
        await ole.close()
    await anna.close()
