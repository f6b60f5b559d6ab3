"""A client whose host candidates are all unresolvable mDNS names, followed by end-of-candidates.

This is what a browser page without camera/microphone permission (a listen-only citizen) offers,
as Firefox does once gathering completes. aioice alone drops the component at end-of-candidates
and fails before the client can check; the room withholds end-of-candidates so the client's
checks teach it the peer-reflexive address. (tests/browser/test_listen_only.py: real Chromium.)
"""
from __future__ import annotations

import re
import uuid

import pytest
from aiortc import RTCSessionDescription

from media import sfu
from tests.media.peers import Client, Harness, wait_for


@pytest.fixture(autouse=True)
def fresh_mdns_lock() -> None:
    """aioice's module-level mDNS asyncio.Lock may be bound to an earlier test's loop (test only)."""
    from aioice import ice

    state = getattr(ice, "_mdns", None)  # private aioice name, test only
    if state is not None and hasattr(state, "lock") and getattr(state, "protocol", None) is None:
        del state.lock


def hide_hosts(sdp: str) -> str:
    """Every candidate's address replaced by a random `.local` name, then end-of-candidates."""
    sdp = re.sub(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( )", lambda m: f"{m[1]}{uuid.uuid4()}.local{m[3]}",
                 sdp, flags=re.MULTILINE)
    if "a=end-of-candidates" not in sdp:
        sdp = sdp.rstrip("\r\n") + "\r\na=end-of-candidates\r\n"
    return sdp


def test_split_end_of_candidates() -> None:
    offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=candidate:1 1 udp 1 x.local 5 typ host\r\na=end-of-candidates\r\n"
    stripped, had = sfu._split_end_of_candidates(offer)
    assert had and "end-of-candidates" not in stripped and "x.local" in stripped
    assert sfu._split_end_of_candidates(stripped) == (stripped, False)


async def test_listener_with_only_mdns_candidates_and_end_of_candidates_connects() -> None:
    h = Harness()
    try:
        await h.add("pub", encode_video=True)
        listener = Client("listener", h.room, listen_only=True)
        h.clients["listener"] = listener
        await listener.pc.setLocalDescription(await listener.pc.createOffer())
        offer = hide_hosts(listener.pc.localDescription.sdp)
        assert ".local " in offer and "a=end-of-candidates" in offer
        answer = await h.room.join("listener", offer)
        await listener.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await wait_for(lambda: any(r.frames >= 5 for r in listener.from_("pub", "video")), 15,
                       "the listener decoding the publisher's video")
        assert h.room.participant("listener").connected
    finally:
        await h.close()
