"""Shared fixtures: a real node (real SQLCipher, real TLS from its own CA) on an ephemeral port."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest

from crypto import totp
from media.selector import new_event_loop
from node import accounts
from node.clock import ManualClock
from node.config import NodeConfig
from node.server import RunningNode, start

PASSWORD = "korrekt hest batteri hæfteklamme"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    """Every async test runs on the node's own loop (media.selector), as `fristed serve` does."""
    return {"node": new_event_loop}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_config(data_dir: Path, **overrides: object) -> NodeConfig:
    """A node on 127.0.0.1, ephemeral port, real TLS, no zeroconf unless asked for."""
    values: dict[str, object] = {"data_dir": data_dir, "host": "127.0.0.1", "port": 0, "zeroconf": False,
                                 "node_name": "testnode"}
    values.update(overrides)
    return NodeConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def node(tmp_path: Path, clock: ManualClock) -> AsyncIterator[RunningNode]:
    running = await start(make_config(tmp_path / "data"), clock=clock)
    try:
        yield running
    finally:
        await running.stop()


def trust_only_ca(node: RunningNode) -> ssl.SSLContext:
    """A client TLS context that trusts nothing but the node's own CA."""
    assert node.ctx.tls is not None and node.ctx.tls.ca_cert is not None
    return ssl.create_default_context(cafile=str(node.ctx.tls.ca_cert))


def base_url(node: RunningNode) -> str:
    scheme = "http" if node.ctx.config.http else "https"
    return f"{scheme}://localhost:{node.port}"


@pytest.fixture
async def http(node: RunningNode) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=trust_only_ca(node) if node.ctx.tls else False)
    async with aiohttp.ClientSession(base_url(node), connector=connector,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def anon(node: RunningNode) -> AsyncIterator[aiohttp.ClientSession]:
    """A citizen's browser-like client: no cookies, trusting only the node's CA."""
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@dataclass
class Staff:
    name: str
    password: str
    secret: bytes
    clock: ManualClock

    def code(self) -> str:
        return totp.code_at(self.secret, self.clock.now())

    def login_body(self) -> dict[str, str]:
        return {"name": self.name, "password": self.password, "totp": self.code()}


async def enrol(node: RunningNode, clock: ManualClock, name: str = "Anna", role: str = "staff") -> Staff:
    """Create and enrol an account through the node's own account functions."""
    store = node.ctx.store
    code = await store.write(accounts.add, name, role, clock.now())
    _, secret = await store.write(accounts.enrol_start, code, clock.now())
    await store.write(accounts.enrol_finish, code, PASSWORD, totp.code_at(secret, clock.now()), clock.now())
    clock.advance(30)  # the enrolment code's TOTP step is used; the next login needs a new step
    return Staff(name, PASSWORD, secret, clock)


async def login(http: aiohttp.ClientSession, staff: Staff) -> dict[str, object]:
    async with http.post("/api/login", json=staff.login_body()) as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, object] = await resp.json()
    staff.clock.advance(30)
    return data


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def every_day(*spans: str) -> dict[str, list[str]]:
    """Opening hours with the same spans ("18:00-23:00") on every day of the week."""
    return {day: list(spans) for day in DAYS}


async def put_settings(http: aiohttp.ClientSession, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """PUT /api/settings with an admin's bearer token; it must succeed."""
    async with http.put("/api/settings", json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
    return data
