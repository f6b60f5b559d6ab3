"""Real aiortc client peers that reach a room through the node's WebSocket signalling.

The media pieces (tracks, clips, what a subscriber counts) are the forwarding-unit tests' own,
imported from ``tests.media``; only the signalling differs: every offer, answer and roster goes
through ``/ws`` exactly as a browser's would.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from tests.chatclient import WsClient
from tests.media.clips import PacketSource
from tests.media.peers import EncodingTrack, Received, restart_peer_ice


class RoomSocket(WsClient):
    """A WsClient that hands the room's renegotiation offers to a callback instead of the queue."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.peer: MediaPeer | None = None
        super().__init__(ws)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames.append(frame)
            if frame.get("type") == "room.offer" and self.peer is not None:
                self.peer.offers.put_nowait(frame["sdp"])
            else:
                self._pending.put_nowait(frame)


async def room_socket(http: aiohttp.ClientSession, port: int, token: str | None = None) -> RoomSocket:
    """A citizen's socket (Origin, no login), or a staff member's with a bearer token."""
    if token is None:
        ws = await http.ws_connect("/ws", origin=f"https://localhost:{port}")
    else:
        ws = await http.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
    client = RoomSocket(ws)
    await client.expect("welcome")
    return client


def publisher_of(track: MediaStreamTrack) -> str:
    """The SFU names forwarded tracks ``<pid>-<kind>-<mid>``; a pid may itself hold dashes."""
    return track.id.rsplit("-", 2)[0]


class MediaPeer:
    """One participant's single RTCPeerConnection to the node, driven over a RoomSocket."""

    def __init__(self, sock: RoomSocket, ice_servers: list[dict[str, Any]], *, clip: Path | None = None,
                 encode_video: bool = False, relay_only: bool = False) -> None:
        self.sock = sock
        sock.peer = self
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                   for s in ice_servers]
        policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
        self.received: dict[str, Received] = {}
        self.offers: asyncio.Queue[str] = asyncio.Queue()
        self.renegotiations = 0
        self._tasks: list[asyncio.Task[None]] = []
        if clip is not None:
            source = PacketSource(clip)  # pre-encoded: the sender only packetizes
            self.pc.addTransceiver(source.track("audio"), direction="sendonly")
            if not encode_video:
                self.pc.addTransceiver(source.track("video"), direction="sendonly")
        if encode_video:
            self.pc.addTransceiver(EncodingTrack(), direction="sendonly")

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            r = Received(track, publisher_of(track), track.kind)
            self.received[track.id] = r
            self._tasks.append(asyncio.ensure_future(r.consume()))

        self._tasks.append(asyncio.ensure_future(self._answer_offers()))

    async def _answer_offers(self) -> None:
        while True:
            sdp = await self.offers.get()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.sock.send(type="room.answer", sdp=self.pc.localDescription.sdp)
            self.renegotiations += 1

    async def join(self) -> dict[str, Any]:
        """Send the first offer through the node; returns the node's reply (answer or error)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await self.sock.request("room.offer", "room.answer", sdp=self.pc.localDescription.sdp, timeout=15)
        if reply["type"] == "room.answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        return reply

    async def restart_ice(self) -> str:
        """An ICE restart offered through the node (`room.offer` again); returns the answer."""
        async def ask(offer: str) -> str:
            reply = await self.sock.request("room.offer", "room.answer", sdp=offer, timeout=15)
            assert reply["type"] == "room.answer", reply
            return str(reply["sdp"])
        return await restart_peer_ice(self.pc, ask)

    def from_(self, publisher: str, kind: str) -> list[Received]:
        return [r for r in self.received.values() if r.publisher == publisher and r.kind == kind]

    def frames_from(self, publisher: str, kind: str) -> int:
        return sum(r.frames for r in self.from_(publisher, kind))

    def local_candidate_type(self) -> str | None:
        """The nominated pair's local candidate type (aiortc keeps it in private aioice state)."""
        for t in self.pc.getTransceivers():
            conn = t.receiver.transport.transport._connection  # type: ignore[union-attr]
            pair = conn._nominated.get(1)
            if pair is not None:
                return str(pair.local_candidate.type)
        return None

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.pc.close()
