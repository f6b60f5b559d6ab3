"""The node's device test (devicetest.offer/answer) with a real aiortc client: its own video comes back."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from node.room_service import DEVICETEST_PID, RoomService
from tests.media.clips import make_clip
from tests.media.peers import Client, require_host_candidate, wait_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


class FakePeer:
    """Stands in for node.ws.Peer: frames from the node go to a queue."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def reply(self, frame: dict[str, Any]) -> bool:
        await self.frames.put(frame)
        return True

    async def send(self, frame: dict[str, Any]) -> bool:
        await self.frames.put(frame)
        return True


async def test_devicetest_loops_own_video_back_and_ends_on_disconnect(clip: Path) -> None:
    require_host_candidate()
    service = RoomService(None, None, lambda peer: [])  # type: ignore[arg-type]
    peer = FakePeer()
    client = Client("me", None, clip=clip)  # type: ignore[arg-type]
    pump: asyncio.Task[None] | None = None
    try:
        await client.pc.setLocalDescription(await client.pc.createOffer())
        await service.devicetest_offer(peer, client.pc.localDescription.sdp)  # type: ignore[arg-type]
        frame = await asyncio.wait_for(peer.frames.get(), 5)
        assert frame["type"] == "devicetest.answer"
        await client.pc.setRemoteDescription(RTCSessionDescription(sdp=frame["sdp"], type="answer"))

        async def answer_offers() -> None:
            while True:
                f = await peer.frames.get()
                if f["type"] == "devicetest.offer":
                    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=f["sdp"], type="offer"))
                    await client.pc.setLocalDescription(await client.pc.createAnswer())
                    await service.devicetest_answer(peer, client.pc.localDescription.sdp)  # type: ignore[arg-type]

        pump = asyncio.ensure_future(answer_offers())
        await wait_for(lambda: bool(client.from_(DEVICETEST_PID, "video"))
                       and client.from_(DEVICETEST_PID, "video")[0].frames >= 15
                       and bool(client.from_(DEVICETEST_PID, "audio"))
                       and client.from_(DEVICETEST_PID, "audio")[0].frames >= 25,
                       8, "my own audio and video back through the node")
        assert client.from_(DEVICETEST_PID, "video")[0].sizes == {(320, 240)}
        media = service.devicetests[peer].media  # type: ignore[index]
        await service.disconnected(peer)  # type: ignore[arg-type]
        assert peer not in service.devicetests
        assert media.participants == []  # type: ignore[union-attr]
    finally:
        if pump is not None:
            pump.cancel()
        await service.shutdown()
        await client.close()


async def test_devicetest_ends_itself_after_the_time_limit(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_host_candidate()
    monkeypatch.setattr("node.room_service.DEVICETEST_SECONDS", 0.3)
    service = RoomService(None, None, lambda peer: [])  # type: ignore[arg-type]
    peer = FakePeer()
    client = Client("me", None, clip=clip)  # type: ignore[arg-type]
    try:
        await client.pc.setLocalDescription(await client.pc.createOffer())
        await service.devicetest_offer(peer, client.pc.localDescription.sdp)  # type: ignore[arg-type]
        assert (await peer.frames.get())["type"] == "devicetest.answer"
        frames: list[dict[str, Any]] = []

        async def ended() -> None:
            while {"type": "devicetest.ended", "reason": "time"} not in frames:
                frames.append(await peer.frames.get())

        await asyncio.wait_for(ended(), 5)
        assert peer not in service.devicetests
    finally:
        await service.shutdown()
        await client.close()
