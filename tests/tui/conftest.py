"""Fixtures for the console tests: a private pin file, and waiting for the app (``anon`` is shared)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import pytest

from tui.pinning import KnownNodes


@pytest.fixture
def pins(tmp_path: Path) -> KnownNodes:
    return KnownNodes(tmp_path / "config" / "fristed" / "known_nodes.json")


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Wait (letting the app and node run) until ``predicate()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
