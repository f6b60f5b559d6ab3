"""Rooms over real HTTP and WebSockets: staff routes, invites, lobby, roster, text, limits (no media here)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.clock import ManualClock
from node.protocol import REGISTRY
from node.room_service import SECRET_KEY
from node.room_ws import ROOMS
from node.server import RunningNode
from tests.chatclient import WsClient, citizen, staff
from tests.conftest import enrol, login


class Desk:
    """A logged-in staff member: HTTP with cookie + CSRF, and a bearer token for the WebSocket."""

    def __init__(self, http: aiohttp.ClientSession, token: str, csrf: str) -> None:
        self.http, self.token, self.csrf = http, token, csrf

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        async with self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf}) as resp:
            return resp.status, await resp.json()

    async def room(self, kind: str = "group", title: str = "Kaffe og snak") -> dict[str, Any]:
        status, room = await self.post("/api/rooms", {"kind": kind, "title": title})
        assert status == 201, room
        return room

    async def invite(self, room_id: str, role: str = "guest", single_use: bool = True,
                     ttl_minutes: int = 60) -> str:
        status, body = await self.post(f"/api/rooms/{room_id}/invites",
                                       {"role": role, "single_use": single_use, "ttl_minutes": ttl_minutes})
        assert status == 201, body
        return str(body["token"])


async def desk(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock, name: str = "Anna",
               role: str = "staff") -> Desk:
    person = await enrol(node, clock, name, role)
    data = await login(http, person)
    return Desk(http, str(data["token"]), str(data["csrf"]))


async def host_in(d: Desk, room_id: str) -> WsClient:
    ws = await staff(d.http, d.token)
    entered = await ws.request("room.knock", "room.enter", room=room_id)
    assert entered["type"] == "room.enter", entered
    return ws


async def knock(anon: aiohttp.ClientSession, node: RunningNode, token: str, name: str = "Mette") -> tuple[WsClient, dict[str, Any]]:
    c = await citizen(anon, node.port)
    reply = await c.request("room.knock", "room.lobby", invite=token, name=name)
    return c, reply


async def test_staff_routes_create_list_invite_close(node: RunningNode, http: aiohttp.ClientSession,
                                                     anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room("support", "Samtale med Mette")
    assert room["kind"] == "support" and room["max_participants"] == 2
    status, body = await d.post(f"/api/rooms/{room['room']}/invites",
                                {"role": "guest", "single_use": True, "ttl_minutes": 30})
    assert status == 201
    assert body["url"] == f"https://localhost:{node.port}/room#invite={body['token']}"
    assert body["qr"].startswith("data:image/svg+xml")
    async with http.get("/api/rooms") as resp:
        listed = (await resp.json())["rooms"]
    assert [(r["room"], r["live_invites"], r["in_room"]) for r in listed] == [(room["room"], 1, 0)]
    # bad input is refused with a reason and changes nothing
    for bad in ({"role": "boss"}, {"role": "guest", "ttl_minutes": 4}, {"role": "guest", "ttl_minutes": 10081},
                {"role": "guest", "single_use": "yes"}, {"role": "guest", "extra": 1}):
        status, err = await d.post(f"/api/rooms/{room['room']}/invites", bad)
        assert status == 400 and err["error"] == "bad_field", (bad, err)
    status, err = await d.post("/api/rooms", {"kind": "party", "title": "x"})
    assert status == 400 and err["error"] == "bad_room"
    status, err = await d.post("/api/rooms/nosuchroom/invites", {"role": "guest"})
    assert status == 404 and err["error"] == "unknown_room"
    # citizens have no staff routes; CSRF applies to cookie sessions
    async with anon.post("/api/rooms", json={"kind": "group", "title": "x"},
                         headers={"Origin": f"https://localhost:{node.port}"}) as resp:
        assert resp.status == 401
    async with http.post("/api/rooms", json={"kind": "group", "title": "x"}) as resp:
        assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    status, closed = await d.post(f"/api/rooms/{room['room']}/close")
    assert status == 200 and closed["closed"] is True
    async with http.get("/api/rooms") as resp:
        assert (await resp.json())["rooms"] == []


async def test_invite_secret_is_made_once_and_kept(node: RunningNode) -> None:
    stored = await node.ctx.store.read(
        lambda c: c.execute("SELECT value FROM settings WHERE key = ?", (SECRET_KEY,)).fetchone()[0])
    service = node.runner.app[ROOMS]
    assert bytes.fromhex(stored) == service.secret and len(service.secret) == 32
    await service.load()
    assert bytes.fromhex(stored) == service.secret


async def test_lobby_admit_roster_text_media_leave(node: RunningNode, http: aiohttp.ClientSession,
                                                   anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    guest, lobby = await knock(anon, node, await d.invite(room["room"]))
    assert lobby["type"] == "room.lobby" and lobby["room"]["title"] == "Kaffe og snak"
    assert [p["name"] for p in lobby["roster"]["participants"]] == ["Anna"]
    assert [p["name"] for p in lobby["roster"]["waiting"]] == ["Mette"]
    knocking = await host.expect("room.knocking")
    assert knocking["name"] == "Mette" and knocking["pid"] == lobby["pid"]
    # a waiting guest can neither admit nor write into the room
    assert (await guest.request("room.admit", "room.ok", pid=lobby["pid"]))["code"] == "not_host"
    assert (await guest.request("room.text", "room.text", text="hej"))["code"] == "not_admitted"
    await host.send(type="room.admit", pid=lobby["pid"])
    admitted = await guest.expect("room.admitted")
    assert admitted["pid"] == lobby["pid"] and admitted["iceServers"] == []
    assert [p["name"] for p in admitted["roster"]["participants"]] == ["Anna", "Mette"]
    roster = await host.expect("room.roster", where=lambda f: len(f["participants"]) == 2)
    assert roster["waiting"] == []
    # a second guest waits and sees everyone in the room: no hidden listeners
    second, lobby2 = await knock(anon, node, await d.invite(room["room"]), name="Ole")
    assert [p["name"] for p in lobby2["roster"]["participants"]] == ["Anna", "Mette"]
    assert [p["name"] for p in (await guest.expect("room.roster"))["waiting"]] == ["Ole"]
    # text chat reaches those in the room, not the lobby
    await guest.send(type="room.text", text="  Hej alle  ")
    got = await host.expect("room.text")
    assert got["text"] == "Hej alle" and got["name"] == "Mette" and got["from"] == lobby["pid"]
    assert (await guest.expect("room.text"))["text"] == "Hej alle"
    # camera off and mute show in the roster for everyone, the lobby included
    await guest.send(type="room.media", camera=False, mic=False)
    def muted(f: dict[str, Any]) -> bool:
        return any(p["id"] == lobby["pid"] and not p["camera"] and not p["mic"] for p in f["participants"])
    await host.expect("room.roster", where=muted)
    await second.expect("room.roster", where=muted)
    await second.settle()
    assert not second.seen("room.text")
    # leaving at once: roster updated for all
    left = await guest.request("room.leave", "room.left")
    assert left["type"] == "room.left"
    await host.expect("room.roster", where=lambda f: [p["name"] for p in f["participants"]] == ["Anna"])
    await second.expect("room.roster", where=lambda f: [p["name"] for p in f["participants"]] == ["Anna"])


async def test_decline_remove_and_disconnect(node: RunningNode, http: aiohttp.ClientSession,
                                             anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    turned, l1 = await knock(anon, node, await d.invite(room["room"]))
    await host.expect("room.knocking")
    await host.send(type="room.decline", pid=l1["pid"], reason="Vi er ikke startet endnu")
    assert (await turned.expect("room.declined"))["reason"] == "Vi er ikke startet endnu"
    assert (await turned.request("room.text", "room.text", text="x"))["code"] == "not_in_room"
    out, l2 = await knock(anon, node, await d.invite(room["room"]))
    await host.send(type="room.admit", pid=l2["pid"])
    await out.expect("room.admitted")
    # a host cannot be removed, a guest can
    me = (await host.expect("room.roster", where=lambda f: len(f["participants"]) == 2))["participants"][0]["id"]
    assert (await out.request("room.remove", "room.ok", pid=me))["code"] == "not_host"
    await host.send(type="room.remove", pid=l2["pid"])
    assert (await out.expect("room.removed"))["reason"]
    await host.expect("room.roster", where=lambda f: len(f["participants"]) == 1)
    # a dropped socket leaves: the roster shows it at once
    gone, l3 = await knock(anon, node, await d.invite(room["room"]))
    await host.expect("room.roster", where=lambda f: len(f["waiting"]) == 1)
    await gone.close()
    await host.expect("room.roster", where=lambda f: f["waiting"] == [])
    assert l3["pid"] not in node.runner.app[ROOMS].members


async def test_host_link_and_staff_rules(node: RunningNode, http: aiohttp.ClientSession,
                                         anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    tablet = await citizen(anon, node.port)
    entered = await tablet.request("room.knock", "room.enter", invite=await d.invite(room["room"], "host"))
    assert entered["role"] == "host"
    guest, lobby = await knock(anon, node, await d.invite(room["room"]))
    await tablet.expect("room.knocking")
    await tablet.send(type="room.admit", pid=lobby["pid"])
    await guest.expect("room.admitted")
    # a citizen cannot enter by room id; a volunteer who did not make the room cannot either
    stranger = await citizen(anon, node.port)
    assert (await stranger.request("room.knock", "room.lobby", room=room["room"]))["code"] == "forbidden"
    other = await desk(node, http, clock, "Bo", "volunteer")
    ws = await staff(http, other.token)
    assert (await ws.request("room.knock", "room.enter", room=room["room"]))["code"] == "forbidden"
    both = await stranger.request("room.knock", "room.lobby", room=room["room"], invite="x")
    assert both["code"] == "bad_room"


@pytest.mark.parametrize("case", ["expired", "tampered", "used", "unknown_room", "closed"])
async def test_bad_invites_are_refused_and_the_node_stays_up(node: RunningNode, http: aiohttp.ClientSession,
                                                             anon: aiohttp.ClientSession, clock: ManualClock,
                                                             case: str) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    token = await d.invite(room["room"], ttl_minutes=5)
    expect = {"expired": "invite_expired", "tampered": "invite_invalid", "used": "invite_used",
              "unknown_room": "unknown_room", "closed": "unknown_room"}[case]
    if case == "expired":
        clock.advance(5 * 60 + 1)
    elif case == "tampered":
        head, payload, mac = token.split(".")
        token = f"{head}.{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    elif case == "used":
        await knock(anon, node, token)
    elif case == "unknown_room":
        await node.ctx.store.write(lambda c: c.execute("DELETE FROM rooms WHERE id = ?", (room["room"],)))
    elif case == "closed":
        await d.post(f"/api/rooms/{room['room']}/close")
    c = await citizen(anon, node.port)
    reply = await c.request("room.knock", "room.lobby", invite=token)
    assert reply["type"] == "error" and reply["code"] == expect and reply["reason"], reply
    assert (await c.request("ping", "pong"))["type"] == "pong"
    async with anon.get("/healthz") as resp:
        assert resp.status == 200


async def test_too_many_participants(node: RunningNode, http: aiohttp.ClientSession,
                                     anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room("support", "1:1")
    host = await host_in(d, room["room"])
    guest, lobby = await knock(anon, node, await d.invite(room["room"]))
    await host.send(type="room.admit", pid=lobby["pid"])
    await guest.expect("room.admitted")
    token = await d.invite(room["room"])
    c = await citizen(anon, node.port)
    full = await c.request("room.knock", "room.lobby", invite=token)
    assert full["code"] == "room_full" and "too many participants" in full["reason"]
    # the link was not spent on a full room: it works once someone has left
    await guest.request("room.leave", "room.left")
    again = await c.request("room.knock", "room.lobby", invite=token)
    assert again["type"] == "room.lobby"


async def test_closing_a_room_tells_everyone(node: RunningNode, http: aiohttp.ClientSession,
                                             anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    guest, _ = await knock(anon, node, await d.invite(room["room"]))
    await d.post(f"/api/rooms/{room['room']}/close")
    assert (await guest.expect("room.closed"))["reason"]
    assert (await host.expect("room.closed"))["reason"]
    assert room["room"] not in node.runner.app[ROOMS].registry


async def test_signalling_input_is_checked(node: RunningNode, http: aiohttp.ClientSession,
                                           anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    # not SDP at all, then SDP aiortc cannot use, then a lone CR: each refused, the socket lives on
    assert (await host.request("room.offer", "room.answer", sdp="hello"))["code"] == "bad_sdp"
    bad = await host.request("room.offer", "room.answer", sdp="v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video x\r\n")
    assert bad["code"] == "bad_sdp" and bad["reason"]
    assert (await host.request("room.offer", "room.answer", sdp="v=0\rx"))["code"] == "bad_field"
    assert (await host.request("room.offer", "room.answer", sdp="v=0\r\n", recycle="yes"))["code"] == "bad_field"
    assert (await host.request("room.answer", "room.ok", sdp="v=0\r\n"))["code"] == "bad_state"
    assert (await host.request("room.knock", "room.lobby", room=room["room"]))["code"] == "already_in_room"
    assert (await host.request("room.media", "room.ok", camera="off", mic=True))["code"] == "bad_field"
    assert (await host.request("room.text", "room.text", text=" "))["code"] == "bad_field"
    assert (await host.request("ping", "pong"))["type"] == "pong"
    # an SDP frame may be larger than 16 KiB (a big room's answer is), other frames may not
    big = "v=0\r\n" + "a=x-padding:" + "y" * 40_000 + "\r\n"
    reply = await host.request("room.answer", "room.ok", sdp=big)
    assert reply["code"] == "bad_state"  # got through the size check, refused for what it says
    await host.ws.send_str(json.dumps({"type": "room.text", "text": "z" * 40_000}))
    await asyncio.wait_for(host._reader, 5)  # the node closes the socket
    assert host.ws.close_code == 1009 and host.seen("error")[-1]["code"] == "too_large"


async def test_oversize_sdp_is_refused(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    reply = await host.request("room.offer", "room.answer", sdp="v=0\r\n" + "a=" + "y" * (100 * 1024) + "\r\n")
    assert reply["code"] in ("bad_field", "too_large")


ROOM_TYPES = sorted(t for t in REGISTRY if t.startswith("room."))
values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63),
                   st.text(max_size=80), st.lists(st.integers(), max_size=3),
                   st.builds(lambda tail: "v=0\r\n" + tail, st.text(max_size=200)),
                   st.sampled_from(["v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "x" * 33]))


@st.composite
def room_frames(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(ROOM_TYPES))
    names = list(REGISTRY[kind].fields) + ["bogus"]
    return {"type": kind, **draw(st.dictionaries(st.sampled_from(names), values, max_size=4))}


@pytest.fixture
async def room_host(node: RunningNode, http: aiohttp.ClientSession, clock: ManualClock):  # type: ignore[no-untyped-def]
    d = await desk(node, http, clock)
    room = await d.room()
    yield d, room["room"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(room_frames(), min_size=1, max_size=6))
async def test_random_room_frames_get_answers_and_the_node_stays_up(
        node: RunningNode, room_host: Any, clock: ManualClock, batch: list[dict[str, Any]]) -> None:
    d, room_id = room_host
    clock.advance(10)  # refill the refusal allowance between examples
    client = await host_in(d, room_id)
    for frame in batch:
        await client.send(**frame)
    await client.send(type="ping", id="end")
    await client.expect("pong", id="end", timeout=15)
    errors = [f for f in client.frames if f.get("type") == "error"]
    assert all(f.get("code") != "internal" for f in errors), errors
    await client.close()
    assert await node.ctx.store.healthy()


async def test_resume_after_a_dropped_connection(node: RunningNode, http: aiohttp.ClientSession,
                                                 anon: aiohttp.ClientSession, clock: ManualClock) -> None:
    d = await desk(node, http, clock)
    room = await d.room()
    host = await host_in(d, room["room"])
    guest, lobby = await knock(anon, node, await d.invite(room["room"]))  # a single-use link, now spent
    assert lobby["resume"]
    await host.send(type="room.admit", pid=lobby["pid"])
    await guest.expect("room.admitted")
    await guest.close()  # the network drops
    await host.expect("room.roster", where=lambda f: len(f["participants"]) == 1)
    back = await citizen(anon, node.port)
    bad = await back.request("room.resume", "room.admitted", resume=lobby["resume"], keep="yes")
    assert bad["code"] == "bad_field", bad  # refused, and the token is not spent
    # keep asks for the place as it was, but this guest's media never connected: a fresh place
    again = await back.request("room.resume", "room.admitted", resume=lobby["resume"], name="x", camera=True,
                               keep=True)
    assert again["type"] == "room.admitted" and again["pid"] != lobby["pid"], again  # no second knock
    assert "kept" not in again
    assert [p["name"] for p in again["roster"]["participants"]] == ["Anna", "Mette"]
    await host.expect("room.roster", where=lambda f: len(f["participants"]) == 2)
    # a token is good once; a removed guest's token does not bring them back; it lapses
    other = await citizen(anon, node.port)
    assert (await other.request("room.resume", "room.admitted", resume=lobby["resume"]))["code"] == "unknown_resume"
    await host.send(type="room.remove", pid=again["pid"])
    await back.expect("room.removed")
    third = await citizen(anon, node.port)
    assert (await third.request("room.resume", "room.admitted", resume=again["resume"]))["code"] == "unknown_resume"
    waiter, l2 = await knock(anon, node, await d.invite(room["room"]), name="Ole")
    await waiter.request("room.leave", "room.left")
    clock.advance(11 * 60)
    assert (await waiter.request("room.resume", "room.lobby", resume=l2["resume"]))["code"] == "unknown_resume"
