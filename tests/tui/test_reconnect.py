"""The console reconnects by itself after the node restarts, and shows the gap and what it missed."""
from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp

from node.clock import ManualClock
from node.server import RunningNode, start
from tests.chatclient import WsClient, citizen
from tests.conftest import base_url, enrol, make_config, trust_only_ca
from tests.tui.conftest import until
from tests.tui.console_helpers import log_in, type_text
from tui.app import ConsoleApp
from tui.pinning import KnownNodes
from tui.screens.pin import PinWarningScreen
from tui.state import ChatMessage
from tui.widgets.conversation import ConversationPane


def browser(node: RunningNode) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                 cookie_jar=aiohttp.DummyCookieJar())


async def open_chat(app: ConsoleApp, pilot: object, node: RunningNode, anon: aiohttp.ClientSession,
                    name: str) -> tuple[WsClient, str, str]:
    person = await citizen(anon, node.port)
    started = await person.request("chat.start", "chat.started", name=name, danger=False)
    await until(lambda: len(app.state.queue) == 1, what="the queue")
    await pilot.press("space")  # type: ignore[attr-defined]
    await until(lambda: app.state.active == started["conversation"], what="the chat to open")
    return person, started["conversation"], started["resume"]


async def test_node_restart(tmp_path: Path, clock: ManualClock, pins: KnownNodes) -> None:
    data = tmp_path / "data"
    node = await start(make_config(data), clock=clock)
    port = node.port
    anna = await enrol(node, clock, "Anna", "volunteer")
    times = iter(range(1_800_000_000, 1_800_100_000, 60))  # the console's own clock: a minute a call
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=pins, writer=writes.append, env={}, backoff=(0.05, 0.2),
                     wallclock=lambda: float(next(times)), offline_alarm=0.3)
    anon = browser(node)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await log_in(pilot, app, anna)
            await pilot.press("o")
            await until(lambda: app.state.on_duty, what="on duty")
            lise, cid, resume = await open_chat(app, pilot, node, anon, "Lise")

            await node.stop()
            await until(lambda: not app.connected, what="the console to notice")
            assert "Forbindelsen er væk" in app.main.query_one("StatusBar").plain  # type: ignore[union-attr]
            # written while the node is down: kept, and sent after the reconnect
            await type_text(pilot, "Er du der")
            await pilot.press("enter")
            pane = app.main.query_one(ConversationPane)  # type: ignore[union-attr]
            assert "(sender…)" in pane.plain and app.client and app.client.outbox
            # on duty and offline: the console rings about itself
            await until(lambda: ("connection", "") in app.alerter.pending, what="the offline alarm")
            assert any("ingen forbindelse til noden" in w for w in writes)

            node = await start(make_config(data, port=port), clock=clock)
            await until(lambda: app.connected, timeout=10, what="the reconnect")
            await until(lambda: app.client is not None and not app.client.outbox, what="the resend")
            assert len(app.gaps) == 1
            line = next(e for e in app.state.conversations[cid].entries if not isinstance(e, ChatMessage))
            assert line.text.startswith("Forbindelsen var væk ") and "–" in line.text  # type: ignore[union-attr]
            await until(lambda: "Forbindelsen var væk" in pane.plain and "(sender…)" not in pane.plain,
                        what="the gap line and the acknowledgement")
            assert app.state.on_duty and cid in app.state.conversations  # duty and the chat survived
            assert ("connection", "") not in app.alerter.pending

            # the citizen comes back too and sees what was written while the node was down
            await anon.close()
            anon = browser(node)
            back = await citizen(anon, node.port)
            resumed = await back.request("chat.resume", "chat.resumed", resume=resume)
            assert [m["text"] for m in resumed["messages"]] == ["Er du der"]
            await back.request("chat.send", "chat.ack", text="Ja, jeg er her", client_id="r1")
            await until(lambda: "Ja, jeg er her" in pane.plain, what="her message after the restart")
            await back.close()
            await lise.close()
    finally:
        await anon.close()
        await node.stop()


async def test_messages_missed_during_a_network_drop_are_shown(node: RunningNode, clock: ManualClock,
                                                              pins: KnownNodes,
                                                              anon: aiohttp.ClientSession) -> None:
    anna = await enrol(node, clock, "Anna", "volunteer")
    app = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={}, backoff=(0.5, 0.5))
    async with app.run_test(size=(140, 40)) as pilot:
        await log_in(pilot, app, anna)
        await pilot.press("o")
        await until(lambda: app.state.on_duty, what="on duty")
        lise, cid, _ = await open_chat(app, pilot, node, anon, "Lise")
        assert app.client is not None and app.client._ws is not None
        await app.client._ws.close()  # the console's network drops; the node stays up
        await until(lambda: not app.connected, what="the drop")
        await lise.request("chat.send", "chat.ack", text="Hallo?", client_id="x1")
        await until(lambda: app.connected, timeout=5, what="the reconnect")
        await until(lambda: any(isinstance(e, ChatMessage) and e.text == "Hallo?" and e.missed
                                for e in app.state.conversations[cid].entries), timeout=2,
                    what="the missed message")
        pane = app.main.query_one(ConversationPane)  # type: ignore[union-attr]
        await until(lambda: "Hallo? " not in pane.plain and "[mens du var væk]: Hallo?" in pane.plain,
                    what="the missed message on screen")
        assert pane.plain.index("Forbindelsen var væk") < pane.plain.index("Hallo?")
        assert any("mens forbindelsen var væk" in n.message for n in app._notifications)
        await lise.close()


async def test_a_new_certificate_after_a_restart_is_refused(tmp_path: Path, clock: ManualClock,
                                                            pins: KnownNodes) -> None:
    data = tmp_path / "data"
    node = await start(make_config(data), clock=clock)
    port = node.port
    assert node.ctx.tls is not None and node.ctx.tls.ca_cert is not None
    old_fp, tls_dir = node.ctx.tls.fingerprint, node.ctx.tls.ca_cert.parent
    anna = await enrol(node, clock, "Anna", "volunteer")
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=pins, writer=writes.append, env={}, backoff=(0.05, 0.2))
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await log_in(pilot, app, anna)
            await node.stop()
            shutil.rmtree(tls_dir)  # "the box was reinstalled", or someone else answers on that address
            node = await start(make_config(data, port=port), clock=clock)
            assert node.ctx.tls is not None and node.ctx.tls.fingerprint != old_fp
            await until(lambda: isinstance(app.screen, PinWarningScreen), timeout=10, what="the warning")
            warning = app.screen
            assert isinstance(warning, PinWarningScreen)
            assert (warning.expected, warning.got) == (old_fp, node.ctx.tls.fingerprint)
            await until(lambda: "\a" in writes, what="the bell")
            assert not app.connected
            await pilot.pause(0.5)
            assert not app.connected  # it stopped trying: nothing more is sent to that node
    finally:
        await node.stop()
