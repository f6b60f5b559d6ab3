"""Fixtures for the console tests: a private pin file, a citizen's browser session, a pilot helper."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

import aiohttp
import pytest

from node.server import RunningNode
from tests.conftest import base_url, trust_only_ca
from tui.pinning import KnownNodes


@pytest.fixture
def pins(tmp_path: Path) -> KnownNodes:
    return KnownNodes(tmp_path / "config" / "fristed" / "known_nodes.json")


@pytest.fixture
async def anon(node: RunningNode) -> AsyncIterator[aiohttp.ClientSession]:
    """A citizen's browser: no cookies, the node's origin."""
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Wait (letting the app and node run) until ``predicate()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
