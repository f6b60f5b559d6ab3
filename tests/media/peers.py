"""Real aiortc client peers for the forwarding-unit tests (in-process, on the host's own address)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aioice.ice import get_host_addresses
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.icerestart import IceRestart, answer_for, read_restart_offer
from media.sfu import Room
from tests.media.clips import PacketSource, pattern_frame


def require_host_candidate() -> None:
    """aioice never offers 127.0.0.1; the tests need the machine's own non-loopback address."""
    if not get_host_addresses(use_ipv4=True, use_ipv6=False):
        raise RuntimeError("no non-loopback IPv4 address: aioice offers no host candidate, so aiortc "
                           "peers cannot connect on this machine (give it an interface address)")


@dataclass
class Received:
    track: MediaStreamTrack
    publisher: str
    kind: str
    frames: int = 0
    first_at: float | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)
    ended: bool = False

    async def consume(self) -> None:
        """Decode until the track ends, counting frames and noting video sizes."""
        try:
            while True:
                frame = await self.track.recv()
                self.frames += 1
                if self.first_at is None:
                    self.first_at = time.monotonic()
                if self.kind == "video":
                    self.sizes.add((frame.width, frame.height))
        except MediaStreamError:
            self.ended = True


class EncodingTrack(VideoStreamTrack):
    """Raw frames that aiortc encodes itself (VP8, keyframe only at start and on PLI/FIR)."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self.width, self.height, self.i = width, height, 0

    async def recv(self):  # type: ignore[no-untyped-def]
        pts, time_base = await self.next_timestamp()
        frame = pattern_frame(self.width, self.height, self.i)
        self.i += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class Client:
    def __init__(self, pid: str, room: Room, *, clip: Path | None = None, encode_video: bool = False,
                 listen_only: bool = False, munge_offer: Callable[[str], str] | None = None,
                 recycle: bool = False) -> None:
        self.pid = pid
        self.room = room
        self.recycle = recycle  # join saying we take new tracks on old m-lines (an aiortc peer fires no track for them)
        self.munge_offer = munge_offer  # rewrites our join offer, as a browser's own numbering would
        self.sdp_log: list[tuple[str, str]] = []  # ("offer"|"answer", sdp) in negotiation order
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.received: dict[str, Received] = {}
        self.source: PacketSource | None = None
        self.negotiated_at: float | None = None
        self._tasks: list[asyncio.Task] = []
        if clip is not None:
            self.source = PacketSource(clip)  # pre-encoded: the sender only packetizes
            self.pc.addTransceiver(self.source.track("audio"), direction="sendonly")
            if not encode_video:
                self.pc.addTransceiver(self.source.track("video"), direction="sendonly")
        if encode_video:
            self.pc.addTransceiver(EncodingTrack(), direction="sendonly")
        if listen_only:
            self.pc.addTransceiver("audio", direction="recvonly")

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            publisher = track.id.split("-")[0]
            r = Received(track, publisher, track.kind)
            self.received[track.id] = r
            self._tasks.append(asyncio.ensure_future(r.consume()))

    async def join(self) -> None:
        offer = await self.pc.createOffer()
        if self.munge_offer is not None:
            offer = RTCSessionDescription(sdp=self.munge_offer(offer.sdp), type="offer")
        await self.pc.setLocalDescription(offer)
        self.sdp_log.append(("offer", self.pc.localDescription.sdp))
        answer = await self.room.join(self.pid, self.pc.localDescription.sdp, recycle=self.recycle)
        self.sdp_log.append(("answer", answer))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def handle_offer(self, sdp: str) -> None:
        self.sdp_log.append(("offer", sdp))
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.sdp_log.append(("answer", self.pc.localDescription.sdp))
        self.negotiated_at = time.monotonic()
        await self.room.answer(self.pid, self.pc.localDescription.sdp)

    async def restart_ice(self) -> str:
        """A new ICE connection on the same session, offered to the room; returns its answer."""
        return await restart_peer_ice(self.pc, lambda offer: self.room.restart_ice(self.pid, offer))

    def from_(self, publisher: str, kind: str) -> list[Received]:
        return [r for r in self.received.values() if r.publisher == publisher and r.kind == kind]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.pc.close()


async def restart_peer_ice(pc: RTCPeerConnection, ask: Callable[[str], Awaitable[str]]) -> str:
    """What a browser's restartIce() does, done for an aiortc peer with media.icerestart: gather a
    new ICE connection, offer the session with it (`ask` returns the answer), connect, take over."""
    dtls = next(t.receiver.transport for t in pc.getTransceivers())
    restart = IceRestart(dtls.transport, [], None)
    await restart.gather()
    local = pc.localDescription.sdp
    answer = await ask(answer_for(local, local, restart.new, dtls._role))  # our session, new ICE
    remote = read_restart_offer(answer, pc.remoteDescription.sdp)
    restart.describe_new()
    assert await restart.connect(remote, lambda connection: None), "the peer's ICE restart did not connect"
    return answer


class Harness:
    """A Room plus the clients joined to it; routes the room's offers to the right client."""

    def __init__(self, **room_kwargs: object) -> None:
        require_host_candidate()
        self.clients: dict[str, Client] = {}
        self.offers: list[str] = []
        self.room = Room(ice_servers=[], on_offer=self._on_offer, **room_kwargs)  # type: ignore[arg-type]

    def _on_offer(self, pid: str, sdp: str) -> None:
        self.offers.append(pid)
        asyncio.ensure_future(self.clients[pid].handle_offer(sdp))

    async def add(self, pid: str, **kwargs: object) -> Client:
        client = Client(pid, self.room, **kwargs)  # type: ignore[arg-type]
        self.clients[pid] = client
        await client.join()
        return client

    async def close(self) -> None:
        await self.room.close()
        for c in self.clients.values():
            await c.close()


async def wait_for(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start
