"""Real zeroconf: a python-zeroconf browser finds the node and reads the pinning fingerprint."""
from __future__ import annotations

import asyncio
from pathlib import Path

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from node import __version__
from node.clock import ManualClock
from node.discovery import SERVICE_TYPE
from node.server import start
from tests.conftest import make_config


async def test_browser_discovers_node_with_fingerprint(tmp_path: Path, clock: ManualClock) -> None:
    node = await start(make_config(tmp_path / "d", zeroconf=True, zeroconf_interfaces=["127.0.0.1"],
                                   node_name="Værestedet Test"), clock=clock)
    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    found: asyncio.Queue[str] = asyncio.Queue()
    browser = AsyncServiceBrowser(browser_zc.zeroconf, SERVICE_TYPE,
                                  handlers=[lambda zeroconf, service_type, name, state_change:
                                            found.put_nowait(name)])
    try:
        name = await asyncio.wait_for(found.get(), 10)
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(browser_zc.zeroconf, 3000)
        props = {k.decode(): v.decode() for k, v in info.properties.items() if v is not None}
        assert node.ctx.tls is not None
        assert props["fp"] == node.ctx.tls.fingerprint
        assert props["v"] == __version__
        assert props["port"] == str(node.port) and info.port == node.port
        assert props["name"] == "Værestedet Test" and props["scheme"] == "https"
        assert set(props) == {"fp", "v", "port", "name", "scheme"}  # nothing else is broadcast
    finally:
        await browser.async_cancel()
        await browser_zc.async_close()
        await node.stop()
