"""Device-test loopback: a participant's own publications come back to it through the room."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.media.clips import make_clip
from tests.media.peers import Harness, wait_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


async def test_loopback_room_returns_own_audio_and_video_that_decode(clip: Path) -> None:
    h = Harness(loopback=True)
    try:
        me = await h.add("me", clip=clip)
        await wait_for(lambda: all(len(me.from_("me", k)) == 1 for k in ("audio", "video"))
                       and me.from_("me", "video")[0].frames >= 15 and me.from_("me", "audio")[0].frames >= 25,
                       8, "my own audio and video decoding after the loop through the room")
        assert me.from_("me", "video")[0].sizes == {(320, 240)}
        assert h.room.forwarded_video("me") == {"me"}
        await h.room.leave("me")
        await wait_for(lambda: all(r.ended for r in me.received.values()), 3, "the looped tracks ending")
    finally:
        await h.close()


async def test_without_loopback_nothing_comes_back(clip: Path) -> None:
    h = Harness()
    try:
        me = await h.add("me", clip=clip)
        await wait_for(lambda: h.room.participant("me").pc.connectionState == "connected", 5, "connected")
        assert h.room.forwarded_video("me") == set()
        assert me.received == {}
    finally:
        await h.close()
