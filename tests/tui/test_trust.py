"""Finding and trusting nodes: zeroconf discovery, pinning on first use, refusal of a changed certificate."""
from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import OptionList

from node.clock import ManualClock
from node.server import RunningNode, start
from tests.conftest import base_url, make_config
from tests.tui.conftest import until
from tui.app import ConsoleApp
from tui.discovery import NodeBrowser
from tui.pinning import KnownNodes, node_key
from tui.screens.login import LoginScreen
from tui.screens.picker import NodePickerScreen
from tui.screens.pin import PinWarningScreen

OTHER = ":".join(["5A"] * 32)


async def test_a_changed_fingerprint_is_refused(node: RunningNode, pins: KnownNodes) -> None:
    key = node_key(base_url(node))
    pins.remember(key, OTHER, "testnode")
    writes: list[str] = []
    app = ConsoleApp(base_url(node), pins=pins, writer=writes.append, env={})
    async with app.run_test(size=(120, 40)):
        await until(lambda: isinstance(app.screen, PinWarningScreen), what="the warning")
        warning = app.screen
        assert isinstance(warning, PinWarningScreen)
        assert node.ctx.tls is not None
        assert warning.expected == OTHER and warning.got == node.ctx.tls.fingerprint
        assert f"fristed console --forget {key}" in warning.text and str(pins.path) in warning.text
        assert "Ring til IT" in warning.text
        assert app.client is None  # nothing was sent: no login form, no password
    assert pins.get(key).fingerprint == OTHER  # type: ignore[union-attr]  # the old pin is kept


async def test_a_fingerprint_unlike_the_advertised_one_is_refused(node: RunningNode, pins: KnownNodes) -> None:
    app = ConsoleApp(base_url(node), pins=pins, writer=lambda s: None, env={}, expected_fingerprint=OTHER)
    async with app.run_test(size=(120, 40)):
        await until(lambda: isinstance(app.screen, PinWarningScreen), what="the warning")
        assert "netværket annoncerede" in app.screen.text  # type: ignore[attr-defined]
    assert pins.all() == []  # nothing pinned


async def test_discovery_lists_the_node_and_pins_it_on_first_use(tmp_path: Path, clock: ManualClock,
                                                                pins: KnownNodes) -> None:
    node = await start(make_config(tmp_path / "d", zeroconf=True, zeroconf_interfaces=["127.0.0.1"],
                                   node_name="Værestedet Nord"), clock=clock)
    try:
        # the browser on its own
        seen: asyncio.Queue[list[object]] = asyncio.Queue()
        browser = NodeBrowser(seen.put_nowait, interfaces=["127.0.0.1"])
        await browser.start()
        try:
            found = (await asyncio.wait_for(seen.get(), 10))[0]
        finally:
            await browser.close()
        assert node.ctx.tls is not None
        assert (found.name, found.port, found.fingerprint, found.scheme) == \
            ("Værestedet Nord", node.port, node.ctx.tls.fingerprint, "https")  # type: ignore[attr-defined]
        assert found.url == f"https://127.0.0.1:{node.port}"  # type: ignore[attr-defined]

        # the picker: no URL given, choose the node, get the login form; the pin is recorded
        app = ConsoleApp(None, pins=pins, writer=lambda s: None, env={}, interfaces=["127.0.0.1"])
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: isinstance(app.screen, NodePickerScreen) and app.screen.nodes, timeout=10,
                        what="the node in the list")
            options = app.screen.query_one("#nodes", OptionList)
            assert "Værestedet Nord" in str(options.get_option_at_index(0).prompt)
            assert "ny" in str(options.get_option_at_index(0).prompt)
            assert app.focused is options
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, LoginScreen), what="the login form")
            assert "første gang" in str(app.screen.query_one("#login-fp").render())
        pinned = pins.get(f"127.0.0.1:{node.port}")
        assert pinned is not None and pinned.fingerprint == node.ctx.tls.fingerprint
        assert pinned.name == "Værestedet Nord"
    finally:
        await node.stop()


async def test_a_node_that_does_not_answer_leads_to_the_node_list(pins: KnownNodes) -> None:
    app = ConsoleApp("https://127.0.0.1:9", pins=pins, writer=lambda s: None, env={}, interfaces=["127.0.0.1"])
    async with app.run_test(size=(120, 40)):
        await until(lambda: isinstance(app.screen, NodePickerScreen), what="the node list")
        assert any("Kan ikke nå 127.0.0.1:9" in n.message for n in app._notifications)
    assert pins.all() == []
