"""The receive path in C (media.inlet / media/_inlet.c) against media.sfu's Python path.

Two twins, each a real `Publication` on a real aiortc `RTCRtpReceiver` and `RTCDtlsTransport`
(not connected: nothing here needs a network but the legs' UDP sockets), with aiortc's own
statistics, NACK generator and REMB estimator. The Python twin gets every packet through
`Publication.on_rtp`, as `media.sfu._Inlet` does without the C extension; the C twin gets the
SRTP-protected packet through the C `Inlet`, and whatever that hands back through `on_rtp`, as
`_Inlet` does with it. Both must end in the same state and forward the same packets. The room
and the participant are stand-ins (a Publication only reads a few of their attributes).
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtcrtpreceiver import StreamStatistics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from media import inlet, outlet
from tests.media.twins import MID_EXTENSION, SSRC, Link, Twin, rtp, sessions


def test_the_c_receive_path_is_built() -> None:
    # .ci/run installs gcc and Python's headers; without them the Python path does it all, slower
    assert inlet.FAST, "media._inlet is not built: install gcc and python3-dev, then `pip install -e .` again"
    assert inlet.available()


def protect(session: pylibsrtp.Session, data: bytes) -> bytes:
    """SRTP-protect as a publisher would, also packets longer than pylibsrtp's own buffer takes."""
    if len(data) <= 1500 - pylibsrtp.SRTP_MAX_TRAILER_LEN:
        return session.protect(data)
    buf, length = srtp_ffi.new("char[]", 4096), srtp_ffi.new("int *", len(data))
    srtp_ffi.buffer(buf)[0:len(data)] = data
    if srtp_lib.srtp_protect(session._srtp[0], buf, length) != 0:
        raise pylibsrtp.Error("srtp_protect refused the packet")
    return srtp_ffi.buffer(buf)[0:length[0]]


def run_twins(kind: str, packets: list[bytes], links: tuple[Link, Link],
              extensions: Sequence[Any] = ()) -> tuple[dict[str, Any], dict[str, Any], int]:
    async def go() -> tuple[dict[str, Any], dict[str, Any], int]:
        py, c = Twin(kind, False, links[0], extensions), Twin(kind, True, links[1], extensions)
        try:
            await py.start()
            await c.start()
            tx, rx_py, rx_c = sessions()
            sent: dict[bytes, bytes] = {}
            for data in packets:
                try:  # a duplicate is the same datagram again (libsrtp will not protect a packet index twice)
                    protected = sent.get(data) or sent.setdefault(data, protect(tx, data))
                except pylibsrtp.Error:
                    continue  # an index libsrtp refuses to send (too old for its window)
                py.feed(protected, rx_py)
                c.feed(protected, rx_c)
            await asyncio.sleep(0)
            assert c.fast is not None
            return py.state(), c.state(), c.fast.handled
        finally:
            py.close()
            c.close()

    return asyncio.run(go())


def test_a_clean_video_stream_is_handled_in_c_with_the_same_result(links: tuple[Link, Link]) -> None:
    packets = [rtp(100 + i, 3000 * (i // 2), marker=i % 2, abs_time=(i * 37) & 0xFFFFFF,
                   payload=(b"\x10\x00\x9d\x01\x2a" if i == 0 else b"\x10\x01") + bytes(i)) for i in range(40)]
    py, c, handled = run_twins("video", packets, links)
    assert handled == 39  # all but the first: that one registers the stream
    assert py == c
    assert len(c["sent"]) == 40 and c["estimates"] and c["packets"] == 40
    assert c["waiting"] == outlet.WAITING and c["armed"] == list(range(100, 140))


def test_loss_reorder_and_duplicates_nack_the_same(links: tuple[Link, Link]) -> None:
    order = [0, 1, 2, 5, 6, 3, 9, 9, 4, 10, 7, 8, 200, 11, 12]
    packets = [rtp(65530 + i & 0xFFFF, 90 * i, abs_time=i) for i in order]
    py, c, handled = run_twins("video", packets, links)
    assert py == c
    assert handled > 10
    assert c["nacks"] and c["streams"][SSRC][2] == 1 << 16  # the sequence number wrapped once


def test_audio_levels_speaking_and_silence_the_same(links: tuple[Link, Link]) -> None:
    packets = [rtp(7 + i, 960 * i, pt=111, level=(i > 5, 30 if i in (8, 9) else 90)) for i in range(12)]
    py, c, handled = run_twins("audio", packets, links)
    assert py == c and handled == 11 and c["spoke"] and c["level_seen"]
    packets = [rtp(7 + i, 960 * i, pt=111, level=None) for i in range(5)]  # no level extension: DTX fallback
    py, c, _ = run_twins("audio", packets, links)
    assert py == c and c["spoke"] and not c["level_seen"]


def test_rtx_unknown_payload_types_and_a_restarted_stream_go_the_python_way(links: tuple[Link, Link]) -> None:
    packets = [rtp(1, 0), rtp(2, 0), rtp(3, 0, pt=97, payload=b"\x00\x01\x10"), rtp(4, 0, pt=120),
               rtp(5, 90), rtp(9, 90, ssrc=0x999), rtp(10, 180, ssrc=0x999), rtp(6, 90)]
    py, c, handled = run_twins("video", packets, links)
    assert py == c
    # in C: 2 and 5 of the first stream, 10 after the restart; 6 restarts the first stream again
    assert c["ssrc"] == SSRC and handled == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.one_of(st.integers(-3, 6), st.sampled_from([127, 128, 129, 130, 1000, 32767, -200])),
                                st.sampled_from([96, 96, 96, 97, 100]), st.integers(0, 1),
                          st.one_of(st.none(), st.integers(0, 0xFFFFFF)), st.binary(min_size=1, max_size=40),
                          st.integers(0, 3)),
                min_size=1, max_size=30))
def test_any_packet_sequence_leaves_both_paths_in_the_same_state(
        steps: list[tuple[int, int, int, int | None, bytes, int]], links: tuple[Link, Link]) -> None:
    seq, packets = 40000, []
    for delta, pt, marker, abs_time, payload, padding in steps:
        seq = (seq + delta) & 0xFFFF
        packets.append(rtp(seq, seq * 45, pt=pt, marker=marker, abs_time=abs_time, payload=payload,
                           padding=padding))
    py, c, _ = run_twins("video", packets, links)
    assert py == c


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.booleans())
def test_any_bytes_are_refused_or_handed_back_never_a_crash(data: bytes, authentic: bool) -> None:
    tx, rx, _ = sessions()
    fast = inlet.Inlet(inlet.unprotect_address())
    fast.bind(rx, outlet.srtp_address(rx))
    header = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7])
    protected = tx.protect(header + data) if authentic else header + data
    got = fast.receive(protected)
    if authentic:
        assert got == header + data  # no stream is registered: the Python path gets it, unprotected
    else:
        assert got is None and fast.refused == 1


def test_replayed_oversize_and_forged_packets_are_refused_and_change_nothing(links: tuple[Link, Link]) -> None:
    async def go() -> None:
        twin = Twin("video", True, links[0])
        try:
            await twin.start()
            tx, rx, _ = sessions()
            first = tx.protect(rtp(1, 0))
            twin.feed(first, rx)
            second = tx.protect(rtp(2, 0))
            twin.feed(second, rx)
            assert len(twin.link.received()) == 2
            before = twin.state()  # nothing more was sent
            assert twin.fast is not None and twin.fast.handled == 1
            twin.fast.receive(second)  # a replay
            twin.fast.receive(second[:-1] + bytes([second[-1] ^ 1]))  # a forged tag
            twin.fast.receive(bytes(3000))  # larger than any media datagram
            assert twin.fast.refused == 3 and twin.fast.handled == 1
            assert twin.state() == before
        finally:
            twin.close()

    asyncio.run(go())


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        inlet.Inlet(0)
    fast = inlet.Inlet(inlet.unprotect_address())
    with pytest.raises(ValueError):
        fast.receive(b"\x80" * 20)  # no session bound
    with pytest.raises(TypeError):
        fast.receive("text")
    with pytest.raises(TypeError):
        fast.add(object())
    with pytest.raises(ValueError):
        fast.set_extensions(bytes(255))
    with pytest.raises(ValueError):
        fast.set_extensions(bytes([7]) + bytes(255))
    with pytest.raises(TypeError):
        fast.set_extensions(3)
    with pytest.raises(ValueError):
        fast.bind(object(), 0)
    assert fast.remove(5) is False and fast.handles(5) is False


def test_without_the_c_receive_path_the_node_says_so(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(inlet, "FAST", False)
    with caplog.at_level("WARNING", logger="media.outlet"):
        outlet.warn_if_slow()
    assert [r.event for r in caplog.records] == ["media_slow_path"]  # type: ignore[attr-defined]
    assert "media._inlet" in caplog.text and "media._outlet" not in caplog.text
    assert not inlet.available()


def test_a_connection_with_more_streams_than_the_inlet_holds_stays_on_the_python_path(
        links: tuple[Link, Link], caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        twin = Twin("video", True, links[0])
        try:
            await twin.start()
            assert twin.fast is not None
            pub = twin.pub
            for ssrc in range(1, 9):  # eight other streams already take every place
                twin.fast.add(inlet.Stream(publication=pub, ssrc=ssrc, receiver=pub.receiver,
                                           stats=pub._streams.setdefault(ssrc, StreamStatistics(90000)), nack=None,
                                           estimator=None, history=pub.history, owner=twin.owner, media=bytes(128),
                                           audio=False, speaking_level=50, silence_gap=0.5))
            tx, rx, _ = sessions()
            with caplog.at_level("WARNING", logger="media.sfu"):
                for seq in range(1, 6):
                    twin.feed(tx.protect(rtp(seq, seq * 3000)), rx)
            assert pub.packets == 5 and twin.fast.handled == 0  # all on the Python path, none lost
            assert [r.event for r in caplog.records] == ["media_inlet_full"]  # type: ignore[attr-defined]
        finally:
            twin.close()

    asyncio.run(go())


def _with_mid(packet: bytes, value: bytes) -> bytes:
    """The packet with its one-byte MID element (id 1, "0") carrying this byte instead."""
    assert b"\x100" in packet and len(value) == 1
    return packet.replace(b"\x100", b"\x10" + value, 1)


def test_what_aiortc_refuses_the_c_path_refuses_too(links: tuple[Link, Link]) -> None:
    # a MID that is not UTF-8, a datagram longer than pylibsrtp's buffer: the Python path refuses
    # them, so the C path must not count, store or forward them (a stored packet is parsed again
    # when a subscriber asks for it: aiortc's transport closes on an exception there)
    packets = [rtp(1, 0), rtp(2, 0), _with_mid(rtp(3, 90), b"\xff"), rtp(4, 90, payload=bytes(1480)), rtp(5, 180)]
    py, c, handled = run_twins("video", packets, links)
    assert py == c
    assert c["packets"] == 3 and handled == 2 and 3 not in c["history"] and 4 not in c["history"]


def test_a_publisher_without_the_extensions_the_c_path_reads_still_gets_it(links: tuple[Link, Link]) -> None:
    packets = [rtp(1 + i, 90 * i, abs_time=None) for i in range(10)]
    py, c, handled = run_twins("video", packets, links, extensions=(MID_EXTENSION,))
    assert py == c and handled == 9


def test_a_hostile_sequence_gap_costs_no_more_than_the_nack_window(links: tuple[Link, Link]) -> None:
    packets = [rtp(s & 0xFFFF, 0) for s in (1, 2, 32769, 32770, 65535, 65536, 32767 + 65536)]
    py, c, handled = run_twins("video", packets, links)
    assert py == c and handled >= 4
    assert len(c["nack"][1]) <= 128


def test_handling_leaks_no_references(links: tuple[Link, Link]) -> None:
    async def go() -> None:
        twin = Twin("video", True, links[0])
        try:
            await twin.start()
            # an estimate on every packet: the REMB branch each time
            twin.pub._estimator = SimpleNamespace(add=lambda *args, **kw: (300_000, [SSRC]))
            twin.pub.on_estimate = lambda remb: None  # type: ignore[method-assign]
            tx, rx, _ = sessions()
            packets = [tx.protect(rtp(i, 90 * i, abs_time=i, marker=i % 2)) for i in range(1, 400)]
            for p in packets[:100]:
                twin.feed(p, rx)
            counts = [sys.getrefcount(x) for x in (None, True, False)]
            for p in packets[100:]:
                twin.feed(p, rx)
            assert [sys.getrefcount(x) for x in (None, True, False)] == counts
            assert twin.fast is not None and twin.fast.handled == 398
        finally:
            twin.close()

    asyncio.run(go())


def test_the_receive_path_benchmark_runs_on_these_twins() -> None:
    # bench/inlet.py builds on tests/media/twins.py; a change there must not break it unnoticed
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "bench" / "inlet.py"), "--packets", "300", "--rounds", "1"],
                          capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "C, C estimator" in done.stdout and "x less than Python" in done.stdout
