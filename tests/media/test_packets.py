"""Keyframe detection, the per-leg history, the sequence/timestamp map, the per-leg RTP writer and
the bounded NACK bookkeeping."""
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from media.packets import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    NACK_WINDOW,
    PacketHistory,
    RtpWriter,
    StreamMap,
    extension_values,
    is_keyframe_start,
    nack_add,
)


def test_vp8_keyframe_detection() -> None:
    # S=1, PID=0, no extension; frame tag P bit 0 = keyframe
    assert is_keyframe_start("VP8", bytes([0x10, 0x00, 0x9D, 0x01, 0x2A]))
    assert not is_keyframe_start("VP8", bytes([0x10, 0x01]))  # inter frame
    assert not is_keyframe_start("VP8", bytes([0x00, 0x00]))  # not a partition start
    # X=1, I=1 with 15-bit picture id, then the keyframe tag
    assert is_keyframe_start("VP8", bytes([0x90, 0x80, 0x81, 0x23, 0x50]))
    assert not is_keyframe_start("VP8", b"")


def test_h264_keyframe_detection() -> None:
    assert is_keyframe_start("H264", bytes([0x65, 0x88]))  # IDR
    assert not is_keyframe_start("H264", bytes([0x41, 0x9A]))  # non-IDR slice
    stap = bytes([0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE])  # STAP-A with SPS, PPS
    assert is_keyframe_start("H264", stap)
    assert is_keyframe_start("H264", bytes([0x7C, 0x85, 0x00]))  # FU-A start of IDR
    assert not is_keyframe_start("H264", bytes([0x7C, 0x05, 0x00]))  # FU-A continuation
    assert is_keyframe_start("opus", b"\x00")  # audio is never gated


def test_history_keeps_the_last_packets_by_sequence() -> None:
    h: PacketHistory[str] = PacketHistory(4)
    for seq in range(65533, 65536 + 3):
        h.put(seq & 0xFFFF, f"p{seq & 0xFFFF}")
    assert h.get(2) == "p2" and h.get(65535) == "p65535"
    assert h.get(65533) is None  # overwritten


def test_stream_map_continues_across_a_restart() -> None:
    m = StreamMap(90000, first_seq=100, first_ts=1000)
    assert m.map(5000, 777) is None  # not started
    m.start(in_seq=5000, in_ts=777, now=10.0)
    assert m.map(5000, 777) == (100, 1000)
    assert m.map(5001, 777 + 3000) == (101, 4000)
    assert m.map(4999, 0) is None  # before the start point
    assert m.unmap(101) == 5001 and m.unmap(99) is None
    m.stop(5001, 777 + 3000, 10.03)  # the stream's newest packet
    assert m.map(5001, 777 + 3000) is None and m.unmap(101) is None
    # a new source (or a resumed one) continues the numbering, timestamps advance by wall time
    m.start(in_seq=60000, in_ts=5, now=11.03)
    seq, ts = m.map(60000, 5)
    assert seq == 102
    assert ts == 4000 + 90000
    assert m.map(65535, 5)[0] == (102 + 5535) & 0xFFFF
    assert m.map(0, 5)[0] == (102 + 5536) & 0xFFFF  # input wraps, output stays contiguous
    assert m.unmap((102 + 5536) & 0xFFFF) == 0


def test_stream_map_stopped_before_any_newer_packet_keeps_its_place() -> None:
    m = StreamMap(48000, first_seq=10, first_ts=0)
    m.start(in_seq=300, in_ts=960, now=1.0)
    m.stop(299, 0, 1.0)  # the newest packet is older than the start: nothing went out
    m.start(in_seq=400, in_ts=5000, now=2.0)
    assert m.map(400, 5000) == (10, 0)  # the first packet out is still number 10


def _aiortc_bytes(pt: int, marker: int, seq: int, ts: int, ssrc: int, payload: bytes, mid: str | None,
                  exts: list[tuple[int, str]], abs_send_time: int | None,
                  audio_level: tuple[bool, int] | None) -> bytes:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u)
                                                         for i, u in exts]))
    packet = RtpPacket(payload_type=pt, marker=marker, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload)
    packet.extensions.mid = mid
    packet.extensions.abs_send_time = abs_send_time
    packet.extensions.audio_level = audio_level
    return packet.serialize(ext_map)


@pytest.mark.parametrize("exts,mid,abs_send_time,audio_level", [
    ([(1, MID_URI), (3, ABS_SEND_TIME_URI)], "2", 0x123456, None),  # aiortc's video m-line
    ([(1, MID_URI), (2, AUDIO_LEVEL_URI)], "10", None, (True, 37)),  # aiortc's audio m-line
    ([(4, MID_URI), (2, AUDIO_LEVEL_URI)], "abc", None, (False, 127)),  # a client's own numbering
    ([(1, MID_URI), (3, ABS_SEND_TIME_URI)], "1", None, None),  # no abs-send-time on this packet
    ([(1, MID_URI), (3, ABS_SEND_TIME_URI)], None, None, None),  # no MID yet: no extension block
    ([(15, MID_URI), (3, ABS_SEND_TIME_URI)], "0", 7, None),  # an id above 14: two-byte form
    ([(1, MID_URI), (3, ABS_SEND_TIME_URI)], "m" * 17, 7, None),  # a MID over 16 bytes: two-byte form
    ([(1, MID_URI), (3, AUDIO_LEVEL_URI)], "1", 99, None),  # abs-send-time not negotiated
])
def test_rtp_writer_gives_aiortcs_bytes(exts: list[tuple[int, str]], mid: str | None, abs_send_time: int | None,
                                        audio_level: tuple[bool, int] | None) -> None:
    writer = RtpWriter(mid, exts)
    for marker in (0, 1):
        args = (111, marker, 65535, 0xFFFFFFFF, 0x12345678, b"\x01payload")
        values = extension_values(abs_send_time, audio_level)
        assert writer.write(*args, *values) == _aiortc_bytes(*args, mid, exts, abs_send_time, audio_level)
        assert RtpWriter.from_elements(*writer.elements).write(*args, *values) == writer.write(*args, *values)
        parsed = RtpPacket.parse(writer.write(*args, *values))
        assert (parsed.payload_type, parsed.marker, parsed.payload) == (111, marker, b"\x01payload")


def test_clock_helpers_agree_with_aiortcs_clock() -> None:
    import time

    from aiortc import clock

    from media.packets import now_ms, ntp_time
    assert abs(now_ms() - clock.current_ms()) < 50
    wall = time.time()
    ours, theirs = ntp_time(wall), clock.current_ntp_time()
    assert abs((theirs - ours) / (1 << 32)) < 0.05  # seconds
    assert ntp_time(0.5) == (2208988800 << 32) | (1 << 31)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.lists(st.one_of(st.integers(-5, 8), st.sampled_from(
    [127, 128, 129, 130, 200, 1000, 0x7FFF, 0x8000, 0x8001, -0x7FFF, -129])), max_size=40))
def test_nack_add_is_aiortcs_nack_generator_without_its_cost(start: int, steps: list[int]) -> None:
    ours, theirs = NackGenerator(), NackGenerator()
    seq = start
    for step in [0, *steps]:
        seq = (seq + step) & 0xFFFF
        expected = theirs.add(RtpPacket(sequence_number=seq))
        assert nack_add(ours, seq) == expected
        assert (ours.max_seq, ours.missing) == (theirs.max_seq, theirs.missing)


def test_a_hostile_jump_adds_only_the_window() -> None:
    nack = NackGenerator()
    nack_add(nack, 1)
    assert nack_add(nack, 0x7FFF + 1) and len(nack.missing) == NACK_WINDOW
