"""The node's ICE servers: none on a LAN, its own TURN relay with short-lived credentials otherwise."""
from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import aiohttp
import pytest

from node.clock import ManualClock
from node.ice import TurnRelay, ice_servers, relay_from_environment
from node.server import start
from tests.chatclient import citizen
from tests.conftest import base_url, enrol, login, make_config, trust_only_ca


def test_no_relay_means_no_servers_and_never_a_public_stun() -> None:
    assert ice_servers(None, "fristed.local:8443", 0.0) == []


def test_relay_from_the_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "fristed-turn-secret").write_text("s3cret\n")
    relay = relay_from_environment({"CREDENTIALS_DIRECTORY": str(tmp_path), "FRISTED_TURN_PORT": "3479"})
    assert relay == TurnRelay(b"s3cret", 3479, None)
    assert "s3cret" not in repr(relay)
    assert relay_from_environment({}) is None
    with pytest.raises(ValueError):
        relay_from_environment({"CREDENTIALS_DIRECTORY": str(tmp_path), "FRISTED_TURN_PORT": "70000"})


def test_credentials_follow_coturns_rest_scheme() -> None:
    servers = ice_servers(TurnRelay(b"s3cret", 3478, None), "fristed.local:8443", 1_000.0, ttl=600)
    (server,) = servers
    assert server["urls"] == ["turn:fristed.local:3478?transport=udp", "turn:fristed.local:3478?transport=tcp"]
    expiry, _tag = str(server["username"]).split(":", 1)
    assert int(expiry) == 1_600
    expected = base64.b64encode(hmac.new(b"s3cret", str(server["username"]).encode(), hashlib.sha1).digest())
    assert server["credential"] == expected.decode()
    ipv6 = ice_servers(TurnRelay(b"x", 3478, None), "[fd00::2]:8443", 0.0)[0]
    assert ipv6["urls"][0] == "turn:[fd00::2]:3478?transport=udp"


async def test_api_ice_needs_a_session(tmp_path: Path, clock: ManualClock) -> None:
    node = await start(make_config(tmp_path / "d", turn=TurnRelay(b"s3cret", 3478, "turn.example.dk")), clock=clock)
    try:
        async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get("/api/ice") as resp:
                assert resp.status == 401
            await login(http, await enrol(node, clock))
            async with http.get("/api/ice") as resp:
                body = await resp.json()
            assert body["iceServers"][0]["urls"][0] == "turn:turn.example.dk:3478?transport=udp"
    finally:
        await node.stop()


async def test_anonymous_sockets_get_ice_servers_for_the_device_test(tmp_path: Path, clock: ManualClock) -> None:
    """The device test makes its peer connection before any room, so it asks the node over /ws."""
    node = await start(make_config(tmp_path / "d", turn=TurnRelay(b"s3cret", 3478, "turn.example.dk")), clock=clock)
    try:
        async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                         cookie_jar=aiohttp.DummyCookieJar()) as anon:
            c = await citizen(anon, node.port)
            reply = await c.request("ice.get", "ice")
            assert reply["iceServers"][0]["urls"][1] == "turn:turn.example.dk:3478?transport=tcp"
            assert str(reply["iceServers"][0]["username"]).split(":")[0].isdigit()
    finally:
        await node.stop()
