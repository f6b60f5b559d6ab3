"""Rooms end to end with real aiortc peers: every offer, answer and roster goes through the node's /ws.

The clients are in-process aiortc peers on this machine's own address (aioice never offers
127.0.0.1), publishing a pre-encoded VP8 + Opus clip; the node runs with real TLS and SQLCipher.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.clock import ManualClock
from node.ice import TurnRelay
from node.room_ws import ROOMS
from node.server import RunningNode, start
from tests.conftest import base_url, make_config, trust_only_ca
from tests.crypto.test_turn import coturn  # noqa: F401  (the real coturn fixture, reused)
from tests.media.clips import make_clip
from tests.media.peers import require_host_candidate, wait_for
from tests.media_e2e.signalled import MediaPeer, RoomSocket, room_socket
from tests.node.test_room_ws import Desk, desk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


@pytest.fixture(autouse=True)
def _host_address() -> None:
    require_host_candidate()


class Party:
    """Who is in the test's room: sockets and peers by participant id, closed at the end."""

    def __init__(self, node: RunningNode, anon: aiohttp.ClientSession, d: Desk, room_id: str) -> None:
        self.node, self.anon, self.d, self.room_id = node, anon, d, room_id
        self.peers: dict[str, MediaPeer] = {}
        self.host_sock: RoomSocket | None = None

    async def host(self, clip: Path) -> str:
        sock = await room_socket(self.d.http, self.node.port, self.d.token)
        entered = await sock.request("room.knock", "room.enter", room=self.room_id)
        assert entered["type"] == "room.enter", entered
        self.host_sock = sock
        peer = MediaPeer(sock, entered["iceServers"], clip=clip)
        assert (await peer.join())["type"] == "room.answer"
        self.peers[entered["pid"]] = peer
        return str(entered["pid"])

    async def knock(self, name: str, token: str | None = None) -> tuple[RoomSocket, dict[str, Any]]:
        sock = await room_socket(self.anon, self.node.port)
        reply = await sock.request("room.knock", "room.lobby", invite=token or await self.d.invite(self.room_id),
                                   name=name)
        return sock, reply

    async def guest(self, name: str, clip: Path, **peer_kwargs: Any) -> str:
        sock, lobby = await self.knock(name)
        assert lobby["type"] == "room.lobby", lobby
        assert self.host_sock is not None
        await self.host_sock.send(type="room.admit", pid=lobby["pid"])
        admitted = await sock.expect("room.admitted", timeout=10)
        peer = MediaPeer(sock, admitted["iceServers"], clip=clip, **peer_kwargs)
        reply = await peer.join()
        assert reply["type"] == "room.answer", reply
        self.peers[lobby["pid"]] = peer
        return str(lobby["pid"])

    def flowing(self, video: int = 15, audio: int = 25) -> bool:
        for me, peer in self.peers.items():
            for other in self.peers:
                if other != me and (peer.frames_from(other, "video") < video or peer.frames_from(other, "audio") < audio):
                    return False
        return True

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()


@pytest.fixture
async def party(node: RunningNode, http: aiohttp.ClientSession, anon: aiohttp.ClientSession,
                clock: ManualClock) -> AsyncIterator[Any]:
    made: list[Party] = []

    async def make(kind: str = "group") -> Party:
        d = await desk(node, http, clock)
        status, room = await d.post("/api/rooms", {"kind": kind, "title": "Sangtime"})
        assert status == 201
        p = Party(node, anon, d, str(room["room"]))
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()


async def test_three_party_room_through_the_node(party: Any, node: RunningNode, clip: Path) -> None:
    p: Party = await party()
    anna = await p.host(clip)
    mette = await p.guest("Mette", clip)
    ole = await p.guest("Ole", clip)
    await wait_for(p.flowing, 15, "every participant decoding the others' audio and video")
    for me, peer in p.peers.items():
        assert {r.publisher for r in peer.received.values()} == set(p.peers) - {me}
        assert all(r.sizes == {(320, 240)} for r in peer.received.values() if r.kind == "video")
        assert peer.renegotiations >= 1  # streams arrived in the room's own offers, answered over /ws
    roster = p.peers[anna].sock.seen("room.roster")[-1]
    assert sorted(x["name"] for x in roster["participants"]) == ["Anna", "Mette", "Ole"]
    # Ole leaves: his tracks end for the others, their media keeps flowing, the roster says so
    await p.peers[ole].sock.request("room.leave", "room.left")
    await wait_for(lambda: all(r.ended for who in (anna, mette) for r in p.peers[who].from_(ole, "video")),
                   5, "Ole's video ending for the others")
    before = p.peers[mette].frames_from(anna, "video")
    await wait_for(lambda: p.peers[mette].frames_from(anna, "video") > before + 15, 5, "Anna's video still flowing")
    await p.peers[anna].sock.expect("room.roster", where=lambda f: len(f["participants"]) == 2)
    assert node.runner.app[ROOMS].media[p.room_id].participants == [anna, mette]  # type: ignore[attr-defined]


async def test_lobby_decline_admit_and_bad_input_while_a_call_runs(party: Any, node: RunningNode,
                                                                   clock: ManualClock, clip: Path) -> None:
    p: Party = await party("support")
    anna = await p.host(clip)
    assert p.host_sock is not None
    expired = await p.d.invite(p.room_id, ttl_minutes=5)
    # declined: told so, and cannot send media
    turned, lobby = await p.knock("Kim")
    await p.host_sock.expect("room.knocking", pid=lobby["pid"])
    await p.host_sock.send(type="room.decline", pid=lobby["pid"], reason="Ikke i dag")
    assert (await turned.expect("room.declined"))["reason"] == "Ikke i dag"
    assert (await turned.request("room.offer", "room.answer", sdp="v=0\r\n"))["code"] == "not_in_room"
    # admitted: a malformed offer first gets a clear error, then the real one connects
    sock, lobby = await p.knock("Mette")
    await p.host_sock.send(type="room.admit", pid=lobby["pid"])
    admitted = await sock.expect("room.admitted")
    bad = await sock.request("room.offer", "room.answer", sdp="v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
    assert bad["type"] == "error" and bad["code"] == "bad_sdp" and bad["reason"]
    mette_peer = MediaPeer(sock, admitted["iceServers"], clip=clip)
    assert (await mette_peer.join())["type"] == "room.answer"
    p.peers[lobby["pid"]] = mette_peer
    await wait_for(p.flowing, 15, "host and guest decoding each other")
    # while the call runs: a full room, an expired and a tampered link, an unknown room
    full, reply = await p.knock("Ole")
    assert reply["code"] == "room_full" and reply["reason"]
    clock.advance(5 * 60 + 1)
    assert (await full.request("room.knock", "room.lobby", invite=expired))["code"] == "invite_expired"
    head, body, mac = (await p.d.invite(p.room_id)).split(".")
    tampered = f"{head}.{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BA'}.{mac}"
    assert (await full.request("room.knock", "room.lobby", invite=tampered))["code"] == "invite_invalid"
    stranger = await room_socket(p.d.http, node.port, p.d.token)
    assert (await stranger.request("room.knock", "room.enter", room="no-such-room"))["code"] == "unknown_room"
    # a second offer that is not an ICE restart is refused; a real ICE restart keeps the call
    again = await sock.request("room.offer", "room.answer", sdp=mette_peer.pc.localDescription.sdp)
    assert again["code"] == "bad_sdp" and "restart" in again["reason"]
    assert (await sock.request("room.offer", "room.answer", sdp="v=0\r\n"))["code"] == "bad_sdp"
    await mette_peer.restart_ice()
    # ... and the node is up and the call goes on
    before = mette_peer.frames_from(anna, "video")
    await wait_for(lambda: mette_peer.frames_from(anna, "video") > before + 15, 5, "the call continuing")
    media = node.runner.app[ROOMS].media[p.room_id].participant(lobby["pid"])
    assert media.ice_ufrags and not media.restarting
    assert (await full.request("ping", "pong"))["type"] == "pong"


# ---------------------------------------------------------------------------------------- TURN

@pytest.fixture
async def turn_node(tmp_path: Path, clock: ManualClock, coturn: tuple[int, str]) -> AsyncIterator[RunningNode]:  # noqa: F811
    port, secret = coturn
    relay = TurnRelay(secret.encode(), port, "127.0.0.1")
    running = await start(make_config(tmp_path / "data", turn=relay), clock=clock)
    try:
        yield running
    finally:
        await running.stop()


async def test_relay_only_client_reaches_the_room_through_coturn(turn_node: RunningNode, clock: ManualClock,
                                                                 clip: Path, coturn: tuple[int, str]) -> None:  # noqa: F811
    node = turn_node
    # the ManualClock is in 2027, so the node's TURN credentials are valid for coturn's real clock
    async with aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, \
            aiohttp.ClientSession(base_url(node), connector=aiohttp.TCPConnector(ssl=trust_only_ca(node)),
                                  cookie_jar=aiohttp.DummyCookieJar()) as anon:
        d = await desk(node, http, clock)
        status, room = await d.post("/api/rooms", {"kind": "support", "title": "Fra hjemmet"})
        assert status == 201
        p = Party(node, anon, d, str(room["room"]))
        try:
            anna = await p.host(clip)
            mette = await p.guest("Mette", clip, relay_only=True)
            ice = p.peers[mette].sock.seen("room.admitted")[-1]["iceServers"]
            assert ice and ice[0]["urls"][0] == f"turn:127.0.0.1:{coturn[0]}?transport=udp"
            await wait_for(p.flowing, 20, "media between a relay-only guest and the host")
            assert p.peers[mette].local_candidate_type() == "relay"
            local = p.peers[mette].pc.localDescription.sdp
            candidates = [line for line in local.splitlines() if line.startswith("a=candidate")]
            assert candidates and all(" typ relay" in c for c in candidates), candidates
            assert p.peers[anna].frames_from(mette, "video") > 15
        finally:
            await p.close()


async def test_a_dropped_socket_keeps_the_seat_and_the_call_goes_on(party: Any, node: RunningNode, clip: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    p: Party = await party()
    anna = await p.host(clip)
    sock, lobby = await p.knock("Mette")
    assert p.host_sock is not None
    await p.host_sock.send(type="room.admit", pid=lobby["pid"])
    admitted = await sock.expect("room.admitted", timeout=10)
    mette = str(lobby["pid"])
    peer = p.peers[mette] = MediaPeer(sock, admitted["iceServers"], clip=clip)
    assert (await peer.join())["type"] == "room.answer"
    await wait_for(p.flowing, 15, "Anna and Mette decoding each other")

    await sock.close()  # Mette's phone changes network: her socket is gone, her peer connection not yet
    away = await p.host_sock.expect("room.roster", where=lambda f: any(x["away"] for x in f["participants"]))
    assert [(x["name"], x["away"]) for x in away["participants"]] == [("Anna", False), ("Mette", True)]
    ole = await p.guest("Ole", clip)  # the room's offer to Mette for Ole's tracks is lost with her socket
    answered = peer.renegotiations

    back = await room_socket(p.anon, node.port)
    back.peer, peer.sock = peer, back  # the same peer connection, on the new socket
    again = await back.request("room.resume", "room.admitted", resume=lobby["resume"], keep=True, camera=True)
    assert again["type"] == "room.admitted" and again.get("kept") is True and again["pid"] == mette, again
    await wait_for(lambda: peer.renegotiations > answered, 10, "the lost offer, sent again and answered")
    await peer.restart_ice()  # what the browser client does next (protocol.js RoomClient._takeBack)
    await wait_for(p.flowing, 15, "all three decoding each other after the ICE restart")
    await p.host_sock.expect("room.roster", where=lambda f: [x["away"] for x in f["participants"]] == [False] * 3)
    media = node.runner.app[ROOMS].media[p.room_id]  # type: ignore[attr-defined]
    assert media.participants == [anna, mette, ole]  # nobody left the media room on the way

    # not back in time: the seat lapses as a leave; the token then gives a fresh place
    monkeypatch.setattr("node.room_service.SEAT_HOLD", 0.3)
    await back.close()
    await p.host_sock.expect("room.roster", where=lambda f: [x["name"] for x in f["participants"]] == ["Anna", "Ole"])
    await wait_for(lambda: all(r.ended for r in p.peers[anna].from_(mette, "video")), 5, "Mette's video ending")
    third = await room_socket(p.anon, node.port)
    fresh = await third.request("room.resume", "room.admitted", resume=again["resume"], keep=True)
    assert fresh["type"] == "room.admitted" and "kept" not in fresh and fresh["pid"] != mette, fresh
    del p.peers[mette]
    await peer.close()
    await third.close()
