"""Re-offers keep the payload types and header-extension ids an m-line was negotiated with.

aiortc's createOffer resets every transceiver to its own numbering (opus 96, VP8 97, mid 1, …).
A browser numbers its first offer its own way (Chromium: opus 111, VP8 96, audio-level 1,
abs-send-time 2, mid 4), refuses a re-offer that moves an extension id, and aiortc's receivers
drop packets whose payload type moved. Here one client numbers like that, and two more
participants join after it, so it gets two renegotiations.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiortc import sdp

from tests.media.clips import make_clip
from tests.media.peers import Harness, wait_for

CHROMIUM_EXT_IDS = {
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
    "urn:ietf:params:rtp-hdrext:sdes:mid": 4,
}


def chromium_numbering(offer_sdp: str) -> str:
    """Renumber an aiortc offer the way Chromium numbers its own: opus 111, VP8 96 (RTX 97), …"""
    desc = sdp.SessionDescription.parse(offer_sdp)
    for media in desc.media:
        if media.kind == "audio":
            remap = {96: 111}
        else:  # aiortc's video types start at 97: shift them all down by one
            remap = {c.payloadType: c.payloadType - 1 for c in media.rtp.codecs if c.payloadType >= 96}
        for c in media.rtp.codecs:
            c.payloadType = remap.get(c.payloadType, c.payloadType)
            if "apt" in c.parameters:
                c.parameters["apt"] = remap.get(c.parameters["apt"], c.parameters["apt"])
        media.fmt = [c.payloadType for c in media.rtp.codecs]
        for e in media.rtp.headerExtensions:
            e.id = CHROMIUM_EXT_IDS[e.uri]
    return str(desc)


def numbering(sdp_text: str) -> dict[str, tuple[dict[int, str], dict[str, int]]]:
    """Per mid: {payload type: rtpmap} and {extension uri: id}."""
    out = {}
    for section in re.split(r"\r\n(?=m=)", sdp_text)[1:]:
        mid = re.search(r"^a=mid:(\S+)", section, re.MULTILINE).group(1)
        pts = {int(pt): name.lower() for pt, name in re.findall(r"^a=rtpmap:(\d+) (\S+)", section, re.MULTILINE)}
        exts = {uri: int(i) for i, uri in re.findall(r"^a=extmap:(\d+)(?:/\w+)? (\S+)", section, re.MULTILINE)}
        out[mid] = (pts, exts)
    return out


def assert_bundle_consistent(sdp_text: str) -> None:
    """What Chromium checks across a BUNDLE group: one number, one meaning."""
    pt_names: dict[int, str] = {}
    ext_uris: dict[int, str] = {}
    for mid, (pts, exts) in numbering(sdp_text).items():
        for pt, name in pts.items():
            assert pt_names.setdefault(pt, name) == name, f"payload type {pt} is {pt_names[pt]} and {name} ({mid})"
        for uri, i in exts.items():
            assert ext_uris.setdefault(i, uri) == uri, f"extension id {i} is {ext_uris[i]} and {uri} ({mid})"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


async def test_reoffers_keep_a_browsers_numbering_and_media_keeps_flowing(clip: Path) -> None:
    h = Harness()
    try:
        anna = await h.add("anna", clip=clip, munge_offer=chromium_numbering)

        def answered_with(publisher: str) -> bool:
            log = anna.sdp_log
            return any(kind == "offer" and f"msid:{publisher} " in s and i + 1 < len(log)
                       for i, (kind, s) in enumerate(log[2:], 2)) and not h.room.participant("anna").offer_pending

        await h.add("bo", clip=clip)
        await wait_for(lambda: answered_with("bo"), 8, "anna answering an offer with bo's tracks")
        await h.add("carl", clip=clip)
        await wait_for(lambda: answered_with("carl"), 8, "anna answering an offer with carl's tracks")

        log = anna.sdp_log
        assert [kind for kind, _ in log[:2]] == ["offer", "answer"]
        offers = [s for kind, s in log[2:] if kind == "offer"]
        assert len(offers) >= 2, "anna should have been re-offered at least twice"

        # anna's own numbering is what the room answered with
        first = numbering(log[1][1])
        for pts, exts in first.values():
            assert set(pts) & {111, 96}
            assert set(exts.values()) <= {1, 2, 4}

        # every offer keeps what the previous negotiation settled, per m-line
        negotiated: dict[str, tuple[dict[int, str], dict[str, int]]] = {}
        for kind, text in log:
            assert_bundle_consistent(text)
            current = numbering(text)
            if kind == "offer" and negotiated:
                for mid, (pts, exts) in negotiated.items():
                    assert mid in current, f"m-line {mid} disappeared"
                    got_pts, got_exts = current[mid]
                    assert got_exts == exts, f"m-line {mid}: extension ids moved {exts} -> {got_exts}"
                    assert got_pts == pts, f"m-line {mid}: payload types moved {pts} -> {got_pts}"
            if kind == "answer":
                negotiated.update(current)
        # the subscriber's answers (legs from bo and carl) use the browser's numbers, not aiortc's
        last_answer = numbering([s for kind, s in log if kind == "answer"][-1])
        leg_pts = {pt: name for pts, _ in last_answer.values() for pt, name in pts.items()}
        assert leg_pts.get(111) == "opus/48000/2" and leg_pts.get(96) == "vp8/90000"
        assert 97 not in leg_pts or leg_pts[97] == "rtx/90000"
        assert all(set(exts.values()) <= {1, 2, 4} for _, exts in last_answer.values())

        # media keeps decoding both ways after the second renegotiation
        def all_flowing() -> bool:
            for me, c in h.clients.items():
                for other in h.clients:
                    if other != me:
                        v, a = c.from_(other, "video"), c.from_(other, "audio")
                        if len(v) != 1 or len(a) != 1 or v[0].frames < 15 or a[0].frames < 25:
                            return False
            return True

        await wait_for(all_flowing, 8, "everyone decoding everyone")
        before = {(pid, tid): r.frames for pid, c in h.clients.items() for tid, r in c.received.items()}
        await asyncio.sleep(1.0)
        for pid, c in h.clients.items():
            for tid, r in c.received.items():
                assert r.frames > before[(pid, tid)], f"{pid} stopped decoding {tid}"
                if r.kind == "video":
                    assert r.sizes == {(320, 240)}
    finally:
        await h.close()


def test_new_m_lines_reuse_the_connections_numbers_and_avoid_the_clients_others() -> None:
    from aiortc.codecs import CODECS, HEADER_EXTENSIONS
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpHeaderExtensionParameters,
    )

    from media.sfu import _SessionNumbering

    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
    audio_level = RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    mid = RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
    # the client published audio only, and offered (unsupported) codecs on 96-98 and extension 3
    session = _SessionNumbering([([opus], [audio_level, mid])], reserved_pts=[111, 96, 97, 98],
                                reserved_ids={"http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc": 3})
    video = [c for c in CODECS["video"] if c.mimeType.lower() in ("video/vp8", "video/rtx")][:2]
    codecs, exts = session.number(video, HEADER_EXTENSIONS["video"])
    vp8, rtx = codecs
    assert vp8.mimeType == "video/VP8" and vp8.payloadType not in (111, 96, 97, 98)
    assert rtx.parameters["apt"] == vp8.payloadType and rtx.payloadType not in (111, 96, 97, 98, vp8.payloadType)
    ids = {e.uri: e.id for e in exts}
    assert ids["urn:ietf:params:rtp-hdrext:sdes:mid"] == 4
    assert ids["http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"] not in (1, 3, 4)
    # a second new video m-line in the same offer gets the same numbers
    again, again_exts = session.number(video, HEADER_EXTENSIONS["video"])
    assert [c.payloadType for c in again] == [c.payloadType for c in codecs] and again_exts == exts
    # and the originals are not touched
    assert [c.payloadType for c in video] == [97, 98]
