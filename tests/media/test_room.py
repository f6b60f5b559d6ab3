"""The forwarding unit with real aiortc peers on the host's own address."""
from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media import inlet, outlet
from media import internals as ix
from media.selector import media_selector
from media.sfu import REMB_FLOOR, RTX_MAX_AGE, Publication, _socket_of
from tests.media.clips import make_clip
from tests.media.peers import Harness, wait_for


@pytest.fixture(params=["C", "Python"])
def forwarding_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the C forwarding loop and again with its Python twin (media.outlet)."""
    if request.param == "Python":
        monkeypatch.setattr(outlet, "Path", outlet.PyPath)
        monkeypatch.setattr(outlet, "Outlet", outlet.PyOutlet)
        monkeypatch.setattr(outlet, "fanout", outlet.py_fanout)
    else:
        assert outlet.FAST, "media._outlet is not built"
    return str(request.param)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


async def test_three_party_room_forwards_audio_and_video_that_decodes(clip: Path, forwarding_loop: str) -> None:
    h = Harness()
    try:
        for pid in ("anna", "bo", "carl"):
            await h.add(pid, clip=clip)

        def all_flowing() -> bool:
            for me, c in h.clients.items():
                for other in h.clients:
                    if other == me:
                        continue
                    v, a = c.from_(other, "video"), c.from_(other, "audio")
                    if len(v) != 1 or len(a) != 1 or v[0].frames < 15 or a[0].frames < 25:
                        return False
            return True

        await wait_for(all_flowing, 8, "every subscriber decoding the others' audio and video")
        for me, c in h.clients.items():
            assert {r.publisher for r in c.received.values()} == set(h.clients) - {me}
            for r in c.received.values():
                if r.kind == "video":
                    assert r.sizes == {(320, 240)}
        # RTP comes straight off every socket of every participant, past aioice's STUN parse
        for pid in h.room.participants:
            taken = h.room.participant(pid).inlet
            assert taken is not None
            protocols = taken._connection._protocols
            assert protocols and all("datagram_received" in vars(p) for p in protocols)
            # ... and, with the C loop, the C receive path handles all but a stream's first packets
            if forwarding_loop == "C" and inlet.FAST:
                received = sum(pub.packets for pub in h.room.participant(pid).publications)
                assert taken.fast is not None and taken.fast.handled > 0.8 * received, (taken.fast.handled, received)
            else:
                assert taken.fast is None
            assert taken.refused == 0
        # ... read straight from the sockets by the node loop's poller (media.selector), in C
        if forwarding_loop == "C" and inlet.FAST:
            chosen = media_selector(asyncio.get_running_loop())
            received = sum(pub.packets for pid in h.room.participants for pub in h.room.participant(pid).publications)
            assert chosen is not None and chosen.poller.taken > 0.8 * received, (chosen, received)
        # the room's receivers have no decoder thread: it is stopped as soon as aiortc starts it
        room_pcs = [h.room.participant(pid).pc for pid in h.room.participants]
        for pc in room_pcs:
            for t in pc.getTransceivers():
                assert getattr(t.receiver, "_RTCRtpReceiver__decoder_thread") is None
    finally:
        await h.close()


@pytest.mark.slow
async def test_late_joiner_decodes_video_within_one_second(clip: Path) -> None:
    h = Harness()
    try:
        # the publisher encodes live (aiortc's VP8, keyframes only on request), so the late
        # joiner can only decode quickly if its PLI reaches the publisher through the room
        await h.add("pub", encode_video=True)
        await h.add("early", listen_only=True)
        await wait_for(lambda: sum(r.frames for r in h.clients["early"].from_("pub", "video")) > 30, 8,
                       "the early subscriber decoding")
        await asyncio.sleep(1.5)
        start = time.monotonic()
        late = await h.add("late", listen_only=True)
        await wait_for(lambda: late.negotiated_at is not None, 5, "the room's offer to the late joiner")
        await wait_for(lambda: any(r.frames > 0 for r in late.from_("pub", "video")), 5, "a decoded frame")
        first = min(r.first_at for r in late.from_("pub", "video") if r.first_at)
        after_offer = first - late.negotiated_at
        print(f"late joiner: join->first frame {first - start:.3f} s, offer answered->first frame "
              f"{after_offer:.3f} s")
        assert after_offer < 1.0
        pub = h.room.participant("pub").publications
        assert sum(p.plis_sent for p in pub) >= 1
    finally:
        await h.close()


@pytest.mark.slow
async def test_leaving_participant_tracks_end_for_the_others(clip: Path) -> None:
    h = Harness()
    try:
        for pid in ("anna", "bo", "carl"):
            await h.add(pid, clip=clip)
        await wait_for(lambda: all(len(c.received) == 4 and all(r.frames > 0 for r in c.received.values())
                                   for c in h.clients.values()), 8, "media flowing")
        await h.room.leave("carl")
        assert h.room.participants == ["anna", "bo"]
        for pid in ("anna", "bo"):
            c = h.clients[pid]
            await wait_for(lambda: all(r.ended for r in c.from_("carl", "video") + c.from_("carl", "audio")), 3,
                           f"carl's tracks ending for {pid}")
        # the others keep each other's media
        before = {pid: [r.frames for r in h.clients[pid].received.values() if r.publisher != "carl"]
                  for pid in ("anna", "bo")}
        await asyncio.sleep(1.0)
        for pid in ("anna", "bo"):
            now = [r.frames for r in h.clients[pid].received.values() if r.publisher != "carl"]
            assert all(b > a for a, b in zip(before[pid], now)), (pid, before[pid], now)
            assert all(not r.ended for r in h.clients[pid].received.values() if r.publisher != "carl")
    finally:
        await h.close()


def mlines(sdp: str) -> list[str]:
    return [line for line in sdp.split("\r\n") if line.startswith("m=")]


async def test_a_client_that_recycles_gets_the_next_publisher_on_the_m_lines_the_last_one_left(clip: Path) -> None:
    h = Harness()
    try:
        await h.add("anna", clip=clip)
        await h.add("bo", clip=clip, recycle=True)
        await h.add("carl", clip=clip)
        room = h.room
        bo, anna = room.participant("bo"), room.participant("anna")
        await wait_for(lambda: len(bo.subscriptions) == 4 and all(leg.active for leg in bo.subscriptions.values()),
                       8, "bo subscribed to anna and carl")
        carls = {pub.kind: (leg.transceiver, leg.ssrc) for pub, leg in bo.subscriptions.items()
                 if pub.owner.pid == "carl"}
        await wait_for(lambda: not room.participant("carl").offer_pending, 5, "carl's own negotiation done")
        await room.leave("carl")
        await wait_for(lambda: len(bo.free) == 2 and not bo.offer_pending, 5, "bo answering carl's m-lines inactive")
        assert len(anna.free) == 0  # anna did not say she recycles
        before = {"bo": len(bo.pc.getTransceivers()), "anna": len(anna.pc.getTransceivers())}
        offer_before = mlines(h.clients["bo"].sdp_log[-2][1])

        await h.add("dave", clip=clip)
        daves = {pub.kind: leg for pub, leg in bo.subscriptions.items() if pub.owner.pid == "dave"}
        assert {kind: leg.transceiver for kind, leg in daves.items()} == {k: t for k, (t, _) in carls.items()}
        assert all(leg.ssrc != carls[kind][1] for kind, leg in daves.items())  # new senders, new SSRCs
        await wait_for(lambda: not bo.offer_pending and all(leg.active for leg in daves.values()), 8,
                       "bo's offer for dave answered")
        offer = h.clients["bo"].sdp_log[-2][1]
        assert len(mlines(offer)) == len(offer_before) and len(bo.pc.getTransceivers()) == before["bo"]
        assert "msid:dave " in offer and "msid:carl " not in offer
        assert len(anna.pc.getTransceivers()) == before["anna"] + 2  # anna: new m-lines, as before

        # the node forwards dave's packets on the old m-lines, under the new SSRCs (that a browser
        # plays them is tests/browser/test_room_page.py's; an aiortc peer does not take them)
        await wait_for(lambda: all(leg.outlet is not None and leg.outlet.sent > 30 for leg in daves.values()), 5,
                       "dave's media forwarded to bo on the recycled m-lines")
    finally:
        await h.close()


def test_an_m_line_is_recycled_only_for_the_same_kind_and_codec() -> None:
    from aiortc import RTCRtpCodecParameters

    from media.sfu import Room
    from tests.media.twins import OPUS, RTX, VP8

    h264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102,
                                 parameters={"packetization-mode": "1"})
    class Line:  # all _recycled reads of a transceiver that it does not take
        def __init__(self, kind: str) -> None:
            self.kind = kind

    video, audio = Line("video"), Line("audio")
    sub = SimpleNamespace(free=[video, audio], negotiated={video: ([VP8, RTX], []), audio: ([OPUS], [])})
    room = Room(ice_servers=[], on_offer=lambda pid, sdp: None)
    for kind, codec in [("video", h264), ("audio", VP8), ("video", None)]:
        pub = SimpleNamespace(kind=kind, codec=codec)
        assert room._recycled(pub, sub) is None, (kind, codec)  # type: ignore[arg-type]
    assert sub.free == [video, audio]  # nothing taken


async def test_the_rooms_tick_sends_every_legs_sender_report_and_stop_still_sends_bye(clip: Path) -> None:
    h = Harness(reselect_interval=0.2)
    try:
        await h.add("anna", clip=clip)
        bo = await h.add("bo", clip=clip)
        legs = list(h.room.participant("bo").subscriptions.values())
        assert sorted(leg.pub.kind for leg in legs) == ["audio", "video"]

        def reports_arrived() -> bool:  # bo's receivers keep each SR's middle NTP bits by SSRC
            got = [getattr(t.receiver, "_RTCRtpReceiver__lsr") for t in bo.pc.getTransceivers()]
            return all(any(leg.ssrc in lsr for lsr in got) for leg in legs)

        await wait_for(reports_arrived, 8, "sender reports from both of bo's legs")
        # no leg has a timer of its own: aiortc's per-sender RTCP task is the leg's, which only waits
        for leg in legs:
            task = getattr(leg.sender, "_RTCRtpSender__rtcp_task")
            assert task.get_coro().__qualname__ == "Leg._run_rtcp"
        # bo's receiver reports echo each SR: aiortc on the room's side takes an RTT only when the
        # echoed LSR is the one the leg kept
        await wait_for(lambda: all(getattr(leg.sender, "_RTCRtpSender__rtt") is not None for leg in legs), 8,
                       "a round-trip time on each of bo's legs")
        await bo.close()
        await h.room.leave("bo")
        for leg in legs:  # aiortc's stop() waited for the task, which sent BYE
            assert getattr(leg.sender, ix.TX_RTCP_EXITED).is_set()
    finally:
        await h.close()


@pytest.mark.slow
async def test_last_n_forwards_one_video_with_max_video_1(clip: Path) -> None:
    h = Harness(max_video=1)
    try:
        for pid in ("anna", "bo", "carl"):
            await h.add(pid, clip=clip)
        await wait_for(lambda: all(sum(r.frames for r in c.received.values() if r.kind == "audio") > 50
                                   for c in h.clients.values()), 8, "audio flowing")
        await asyncio.sleep(1.0)
        for me, c in h.clients.items():
            decoding = [r.publisher for r in c.received.values() if r.kind == "video" and r.frames > 0]
            audio = [r.publisher for r in c.received.values() if r.kind == "audio" and r.frames > 0]
            assert len(decoding) == 1, (me, decoding)
            assert sorted(audio) == sorted(set(h.clients) - {me})
            assert h.room.forwarded_video(me) == set(decoding)
    finally:
        await h.close()


async def test_no_media_written_to_disk(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    h = Harness()
    try:
        await h.add("anna", clip=clip)
        await h.add("bo", clip=clip)
        await wait_for(lambda: all(sum(r.frames for r in c.received.values()) > 20 for c in h.clients.values()),
                       8, "media flowing")
    finally:
        await h.close()
    assert os.listdir(work) == []


async def test_lost_packets_are_retransmitted_as_rtx_on_the_subscribers_leg(clip: Path, forwarding_loop: str) -> None:
    h = Harness()
    try:
        await h.add("pub", clip=clip)
        sub = await h.add("sub", listen_only=True)
        await wait_for(lambda: any(r.frames > 0 for r in sub.from_("pub", "video")), 8, "video flowing")
        leg = next(leg for pub, leg in h.room.participant("sub").subscriptions.items() if pub.kind == "video")
        dtls = sub.pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data
        dropped: set[int] = set()
        repaired: set[int] = set()

        async def lossy(data: bytes, arrival_time_ms: int) -> None:
            ssrc, seq = int.from_bytes(data[8:12], "big"), int.from_bytes(data[2:4], "big")
            if ssrc == leg.ssrc and len(dropped) < 5 and seq % 10 == 0 and seq not in dropped:
                dropped.add(seq)  # lost once: the subscriber's NACK must bring it back
                return
            if ssrc == leg.rtx_ssrc:
                repaired.add(int.from_bytes(RtpPacket.parse(data).payload[:2], "big"))
            await original(data, arrival_time_ms=arrival_time_ms)

        dtls._handle_rtp_data = lossy
        await wait_for(lambda: len(dropped) == 5 and dropped <= repaired, 8, "every dropped packet repaired by RTX")
        assert leg.retransmitted >= 5
        frames = sum(r.frames for r in sub.from_("pub", "video"))
        await wait_for(lambda: sum(r.frames for r in sub.from_("pub", "video")) > frames + 15, 3, "video decoding on")
        # a NACK for a packet older than RTX_MAX_AGE is not answered (after a long gap the
        # subscriber needs a keyframe, not seconds of old video); a fresh one is
        now = asyncio.get_event_loop().time()
        old = [seq for seq, entry in zip(leg.pub.history._seqs, leg.pub.history._items)
               if entry is not None and now - entry[1] > RTX_MAX_AGE + 0.2 and leg.map.map(seq, 0) is not None]
        assert old, "no packet older than RTX_MAX_AGE in the history"
        before = leg.retransmitted
        leg._retransmit(leg.map.map(old[0], 0)[0])  # type: ignore[index]
        assert leg.retransmitted == before
        newest = leg.pub.newest[0]
        leg._retransmit(leg.map.map(newest, 0)[0])  # type: ignore[index]
        assert leg.retransmitted == before + 1
    finally:
        await h.close()


def test_remb_is_sent_once_a_second_or_at_once_when_the_estimate_falls() -> None:
    clock = [100.0]
    pub = SimpleNamespace(_last_remb=(-1e9, 0), _loop=SimpleNamespace(time=lambda: clock[0]))

    def due(bitrate: int) -> bool:
        return Publication._remb_due(pub, bitrate)  # type: ignore[arg-type]

    assert [due(b) for b in (500_000, 510_000, 490_000, 480_000)] == [True, False, False, True]
    clock[0] += 0.5
    assert not due(470_000)  # within 3 % of the 480k last sent
    clock[0] += 0.6
    assert due(470_000)


async def test_a_subscribers_estimate_caps_what_the_publisher_is_asked_for(clip: Path) -> None:
    """A subscriber's REMB reaches the forwarding unit, which asks the publisher for no more (above a floor)."""
    h = Harness()
    try:
        pub_client = await h.add("pub", clip=clip)
        sub = await h.add("sub", listen_only=True)
        await wait_for(lambda: any(r.frames > 0 for r in sub.from_("pub", "video")), 8, "video flowing")
        leg = next(leg for pub, leg in h.room.participant("sub").subscriptions.items() if pub.kind == "video")
        video_rx = next(t.receiver for t in sub.pc.getTransceivers() if t.kind == "video")
        # The subscriber's own aiortc estimator would report what loopback carries (many Mbit/s);
        # this test speaks for a subscriber on a weak link instead.
        for t in sub.pc.getTransceivers():
            setattr(t.receiver, "_RTCRtpReceiver__remote_bitrate_estimator", None)
        video_tx = next(t.sender for t in pub_client.pc.getTransceivers()
                        if t.kind == "video" and t.sender.track is not None)
        asked: list[int] = []
        original = video_tx._handle_rtcp_packet

        async def spy(packet: object) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                asked.append(unpack_remb_fci(packet.fci)[0])
            await original(packet)
        video_tx._handle_rtcp_packet = spy  # type: ignore[method-assign]

        async def report(bitrate: int) -> None:
            await video_rx._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=4321, media_ssrc=0,
                                                     fci=pack_remb_fci(bitrate, [leg.ssrc])))
        await report(200_000)
        await wait_for(lambda: leg.remb is not None and leg.remb[1] == 200_000, 3, "the subscriber's REMB at its leg")
        assert leg.pub.subscriber_cap(asyncio.get_event_loop().time()) == 200_000
        await wait_for(lambda: any(b <= 200_000 for b in asked), 6, "the publisher asked for at most 200 kbit/s")
        await report(40_000)  # a very bad link: the publisher is not starved below the floor
        await wait_for(lambda: leg.remb is not None and leg.remb[1] == 40_000, 3, "the second REMB")
        assert leg.pub.subscriber_cap(asyncio.get_event_loop().time()) == REMB_FLOOR
    finally:
        await h.close()


async def test_a_path_sends_on_asyncio_s_own_socket() -> None:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(asyncio.DatagramProtocol,
                                                                             local_addr=("127.0.0.1", 0))
    try:
        sock = _socket_of(transport)
        assert type(sock) is socket.socket  # not asyncio's TransportSocket: fileno() is a C call
        assert sock.fileno() == transport.get_extra_info("socket").fileno()
        turn = SimpleNamespace(get_extra_info=lambda name: None)  # aioice's TURN transport has no socket
        assert _socket_of(turn) is None and _socket_of(None) is None
    finally:
        transport.close()
