"""The /ws endpoint: Origin check, who is speaking, validation, oversize frames and floods."""
from __future__ import annotations

import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.clock import ManualClock
from node.server import RunningNode
from tests.conftest import enrol, login


def origin(node: RunningNode) -> str:
    return f"https://localhost:{node.port}"


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    """The next frame, skipping the chat's connect-time frames (status, duty, mine, queue)."""
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data: dict[str, object] = json.loads(msg.data)
        if data.get("type") not in ("status", "duty", "mine", "queue"):
            return data


async def test_cross_origin_websocket_is_refused(node: RunningNode, http: aiohttp.ClientSession) -> None:
    for bad in ("https://evil.example", f"https://localhost:{node.port + 1}", "null",
                f"http://localhost.evil.example:{node.port}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect("/ws", headers={"Origin": bad})
        assert err.value.status == 403


async def test_anonymous_connections_are_rate_limited(node: RunningNode, http: aiohttp.ClientSession) -> None:
    statuses = []
    for _ in range(25):
        try:
            ws = await http.ws_connect("/ws", origin=origin(node))
            statuses.append(101)
            await ws.close()
        except aiohttp.WSServerHandshakeError as err:
            statuses.append(err.status)
    assert statuses.count(101) == 20 and statuses[-1] == 429


async def test_no_origin_and_no_token_is_refused(http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect("/ws")
    assert err.value.status == 403


async def test_citizen_is_anonymous_and_gets_pong(node: RunningNode, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/ws", origin=origin(node)) as ws:
        welcome = await receive(ws)
        assert welcome["type"] == "welcome" and welcome["role"] == "citizen" and welcome["name"] is None
        await ws.send_json({"type": "ping", "id": "a1"})
        assert await receive(ws) == {"type": "pong", "id": "a1"}


async def test_console_authenticates_with_bearer_token(node: RunningNode, http: aiohttp.ClientSession,
                                                       clock: ManualClock) -> None:
    staff = await enrol(node, clock, role="volunteer")
    token = (await login(http, staff))["token"]
    http.cookie_jar.clear()
    async with http.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"}) as ws:
        welcome = await receive(ws)
        assert welcome["role"] == "volunteer" and welcome["name"] == "Anna"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect("/ws", headers={"Authorization": "Bearer " + "x" * 43})
    assert err.value.status == 401


@pytest.mark.parametrize("frame,code", [
    ("{broken", "bad_json"),
    ("[1, 2]", "bad_json"),
    ('{"no": "type"}', "bad_type"),
    ('{"type": 7}', "bad_type"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "ping", "extra": 1}', "bad_field"),
    ('{"type": "ping", "id": 12}', "bad_field"),
])
async def test_malformed_frames_get_error_frames(node: RunningNode, http: aiohttp.ClientSession,
                                                 frame: str, code: str) -> None:
    async with http.ws_connect("/ws", origin=origin(node)) as ws:
        await receive(ws)
        await ws.send_str(frame)
        reply = await receive(ws)
        assert reply["type"] == "error" and reply["code"] == code and reply["reason"]
        await ws.send_json({"type": "ping"})
        assert (await receive(ws))["type"] == "pong"  # the connection survives


async def test_oversize_frame_closes_with_reason(node: RunningNode, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/ws", origin=origin(node)) as ws:
        await receive(ws)
        await ws.send_str(json.dumps({"type": "ping", "id": "x" * 40_000}))
        msg = await ws.receive(timeout=5)
        while msg.type == aiohttp.WSMsgType.TEXT:  # connect-time frames sent before the close
            msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert msg.data == 1009  # "message too big"; the socket's own code turns 1006 as TLS drops
    async with http.get("/healthz") as resp:
        assert resp.status == 200


async def test_flood_is_rate_limited_then_closed(node: RunningNode, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect("/ws", origin=origin(node)) as ws:
        await receive(ws)
        for _ in range(200):  # the test clock does not move, so the bucket never refills
            if ws.closed:
                break
            await ws.send_json({"type": "ping"})
        kinds: list[str] = []
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            kinds.append(json.loads(msg.data).get("code") or json.loads(msg.data)["type"])
        assert kinds.count("pong") == 30  # exactly the burst
        assert "rate_limited" in kinds
        assert ws.close_code == 1008
    async with http.get("/healthz") as resp:
        assert resp.status == 200


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=12)
frames = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["type", "id", "x"]), json_values, max_size=3).map(json.dumps),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=5))
async def test_any_frames_get_an_answer_and_the_node_stays_up(node: RunningNode, http: aiohttp.ClientSession,
                                                              clock: ManualClock, batch: list[str]) -> None:
    clock.advance(2)  # one example a connection; let the anonymous connection limit refill
    async with http.ws_connect("/ws", origin=origin(node)) as ws:
        await receive(ws)
        for frame in batch:
            await ws.send_str(frame)
            reply = await receive(ws)
            assert reply["type"] in ("pong", "error")
            if reply["type"] == "error":
                assert isinstance(reply["reason"], str) and reply["reason"]
    async with http.get("/healthz") as resp:
        assert resp.status == 200


async def test_logout_and_disable_close_open_sockets(node: RunningNode, http: aiohttp.ClientSession,
                                                     clock: ManualClock) -> None:
    from node import accounts
    from node.ws import revalidate

    staff = await enrol(node, clock)
    first = await login(http, staff)
    http.cookie_jar.clear()
    ws = await http.ws_connect("/ws", headers={"Authorization": f"Bearer {first['token']}"})
    await receive(ws)
    async with http.post("/api/logout", json={}, headers={"Authorization": f"Bearer {first['token']}"}) as resp:
        assert resp.status == 200
    assert await close_code(ws) == 4001
    second = await login(http, staff)
    http.cookie_jar.clear()
    ws = await http.ws_connect("/ws", headers={"Authorization": f"Bearer {second['token']}"})
    await receive(ws)
    await node.ctx.store.write(accounts.disable, "Anna", clock.now())  # as `fristed staff disable` does
    await revalidate(node.runner.app)
    assert await close_code(ws) == 4001


async def close_code(ws: aiohttp.ClientWebSocketResponse) -> object:
    """Skip the frames the node sends on connect; return the close code."""
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return msg.data
