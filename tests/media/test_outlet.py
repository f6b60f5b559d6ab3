"""The forwarding loop (media.outlet): the C extension and its Python twin, on real sockets and
real libsrtp sessions.

The DTLS transport and ICE pair are small stand-ins here: a `Path` only reads the attributes it
is told the names of, a pair's socket and (for the Python twin) `protocol.transport.sendto` and
`remote_addr`; the real aiortc objects are used by tests/media/test_room.py, through media.sfu.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pylibsrtp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media import outlet
from media.packets import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, RtpWriter
from tests.media.twins import CLOSED, CONNECTED, Link, make_link

IMPLEMENTATIONS = {
    "C": (outlet._outlet.Path, outlet._outlet.Outlet, outlet._outlet.fanout) if outlet._outlet else None,
    "Python": (outlet.PyPath, outlet.PyOutlet, outlet.py_fanout),
}


def test_the_c_loop_is_built() -> None:
    # .ci/run installs gcc and Python's headers, so pip builds media/_outlet.c; without it rooms
    # forward with the Python twin, which costs more CPU (docs/performance.md)
    assert outlet.FAST, "media._outlet is not built: install gcc and python3-dev, then `pip install -e .` again"
    assert outlet.implementation() == "C"


@pytest.fixture(params=list(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> tuple[Any, Any, Any]:
    found = IMPLEMENTATIONS[request.param]
    assert found is not None, "media._outlet is not built"
    return found


@pytest.fixture
def link() -> Iterator[Link]:
    made = make_link()
    yield made
    made.tx.close()
    made.rx.close()


def new_path(impl: tuple[Any, Any, Any], link: Link) -> Any:
    path = impl[0](link.dtls, "_state", CONNECTED, "_tx_srtp", link.nominated, outlet.protect_address())
    link.bind(path)
    return path


def armed_outlet(impl: tuple[Any, Any, Any], path: Any, writer: RtpWriter, ssrc: int = 0x1234,
                 pts: dict[int, int] | None = None, start: tuple[int, int, int] = (0, 0, 0)) -> Any:
    o = impl[1](path, ssrc)
    o.set_header(*writer.elements)
    for theirs, ours in (pts or {96: 100, 111: 109}).items():
        o.set_pt(theirs, ours)
    o.arm(*start)
    return o


VIDEO = RtpWriter("1", [(1, MID_URI), (3, ABS_SEND_TIME_URI)])
AUDIO = RtpWriter("0", [(1, MID_URI), (2, AUDIO_LEVEL_URI)])


def test_fanout_sends_each_armed_outlet_its_packet(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    a = armed_outlet(impl, path, VIDEO, ssrc=1, start=(1000, 5, 7))
    b = armed_outlet(impl, path, AUDIO, ssrc=2, start=(1000, 0xFFFF, 0xFFFFFFFF))
    waiting = impl[2]([a, b], b"\x10payload", 96, 1, 1000, 90000, 0x123456, -1)
    assert waiting == 0
    got = sorted(link.received(), key=lambda d: d[8:12])
    assert got == [VIDEO.write(100, 1, 1005, 90007, 1, b"\x10payload", 0x123456, -1),
                   AUDIO.write(100, 1, 999, 89999, 2, b"\x10payload", 0x123456, -1)]
    assert (a.sent, a.octets, b.sent, b.octets) == (1, 8, 1, 8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.binary(min_size=1, max_size=1200),
    pt=st.sampled_from([96, 111]),
    marker=st.integers(0, 1),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    abs_time=st.one_of(st.just(-1), st.integers(0, 0xFFFFFF)),
    level=st.one_of(st.just(-1), st.integers(0, 0xFF)),
    offsets=st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)),
    mid=st.one_of(st.none(), st.text("0123456789abc", min_size=1, max_size=20)),
    ids=st.sampled_from([(1, 2, 3), (4, 14, 5), (15, 2, 3), (1, 20, 255)]),
)
def test_c_and_python_send_the_same_srtp_bytes(payload: bytes, pt: int, marker: int, seq: int, ts: int,
                                               abs_time: int, level: int, offsets: tuple[int, int],
                                               mid: str | None, ids: tuple[int, int, int]) -> None:
    if IMPLEMENTATIONS["C"] is None:
        pytest.fail("media._outlet is not built")
    writer = RtpWriter(mid, [(ids[0], MID_URI), (ids[1], ABS_SEND_TIME_URI), (ids[2], AUDIO_LEVEL_URI)])
    key = os.urandom(30)
    wires = []
    for name in ("C", "Python"):
        impl = IMPLEMENTATIONS[name]
        link = make_link(key=key)  # a fresh libsrtp session on both: same key, same packet, same bytes
        try:
            o = armed_outlet(impl, new_path(impl, link), writer, ssrc=0xCAFE, start=(seq, *offsets))
            assert impl[2]([o], payload, pt, marker, seq, ts, abs_time, level) == 0
            wires.append(link.rx.recv(4096))
            assert link.unprotect.unprotect(wires[-1]) == writer.write(
                {96: 100, 111: 109}[pt], marker, (seq + offsets[0]) & 0xFFFF, (ts + offsets[1]) & 0xFFFFFFFF,
                0xCAFE, payload, abs_time, level)
        finally:
            link.tx.close()
            link.rx.close()
    assert wires[0] == wires[1]


def test_ipv6_addresses_work_too(impl: tuple[Any, Any, Any]) -> None:
    link = make_link(socket.AF_INET6)
    try:
        o = armed_outlet(impl, new_path(impl, link), AUDIO)
        assert impl[2]([o], b"\x01", 111, 0, 5, 5, -1, 0x85) == 0
        assert link.received() == [AUDIO.write(109, 0, 5, 5, 0x1234, b"\x01", -1, 0x85)]
    finally:
        link.tx.close()
        link.rx.close()


def test_idle_outlets_are_skipped_and_waiting_ones_counted(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    idle = impl[1](path, 1)
    waiting = impl[1](path, 2)
    waiting.state = outlet.WAITING
    armed = armed_outlet(impl, path, VIDEO, ssrc=3, start=(100, 0, 0))
    assert impl[2]([idle, waiting, armed], b"x", 96, 0, 100, 0, -1, -1) == 1
    assert impl[2]([armed], b"x", 96, 0, 99, 0, -1, -1) == 0  # older than where the leg started
    assert impl[2]([armed], b"x", 96, 0, 100 + 0x7FFF, 0, -1, -1) == 0  # newest in 16-bit space
    assert [d[8:12] for d in link.received()] == [bytes((0, 0, 0, 3))] * 2
    assert (idle.sent, waiting.sent, armed.sent) == (0, 0, 2)
    with pytest.raises(ValueError):
        armed.state = outlet.ARMED  # only arm() arms
    assert armed.state == outlet.ARMED


def test_payload_types_unknown_or_not_forwarded(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    o = armed_outlet(impl, path, VIDEO, pts={96: 100})
    o.set_pt(97, outlet.NOT_FORWARDED)
    assert impl[2]([o], b"x", 97, 0, 1, 0, -1, -1) == 0  # dropped for good, no question asked
    assert o.state == outlet.ARMED
    assert impl[2]([o], b"x", 98, 0, 1, 0, -1, -1) == 1  # not looked up yet: media.sfu is asked
    assert o.state == outlet.WAITING
    o.clear_pts()
    o.set_pt(98, 101)
    o.arm(0, 0, 0)
    assert impl[2]([o], b"x", 98, 0, 2, 0, -1, -1) == 0
    assert [d[1] & 0x7F for d in link.received()] == [101]


@pytest.mark.parametrize("change", ["state", "pair", "session", "socket", "unbind", "attach"])
def test_a_changed_path_sends_nothing_and_asks_again(impl: tuple[Any, Any, Any], link: Link, change: str) -> None:
    path = new_path(impl, link)
    o = armed_outlet(impl, path, VIDEO)
    assert path.valid() and path.bound and path.pair is link.pair
    if change == "state":
        link.dtls._state = CLOSED
    elif change == "pair":
        link.nominated[1] = SimpleNamespace()
    elif change == "session":
        link.dtls._tx_srtp = pylibsrtp.Session(pylibsrtp.Policy(key=link.key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    elif change == "socket":
        link.tx.close()
    elif change == "unbind":
        path.unbind()
    else:
        path.attach({1: link.pair})
    assert not path.valid()
    assert impl[2]([o], b"x", 96, 0, 1, 0, -1, -1) == 1
    assert o.state == outlet.WAITING and o.sent == 0
    assert path.send(VIDEO.write(100, 0, 1, 0, 1, b"x")) is False
    if change not in ("socket", "session"):
        assert link.received() == []


def test_send_protects_and_sends_one_packet(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    packet = AUDIO.write(109, 1, 7, 8, 9, b"\x02" * 50, -1, 3)
    assert path.send(packet) is True
    assert path.send(b"\x80" * (outlet.MAX_PACKET + 1)) is False  # too long for the buffer: dropped
    assert link.received() == [packet]


def test_an_oversize_packet_is_dropped_not_written_past_the_buffer(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    o = armed_outlet(impl, path, VIDEO)
    assert impl[2]([o], b"\x00" * outlet.MAX_PACKET, 96, 0, 1, 0, 1, -1) == 0
    assert impl[2]([o], b"\x00" * 1000, 96, 0, 2, 0, 1, -1) == 0
    assert [len(d) for d in link.received()] == [16 + 8 + 1000]
    assert o.sent == 1


@pytest.mark.parametrize("args, error", [
    (("not a list", b"x", 96, 0, 1, 0, -1, -1), TypeError),
    (([], "text", 96, 0, 1, 0, -1, -1), TypeError),
    (([], b"x", 128, 0, 1, 0, -1, -1), ValueError),
    (([], b"x", -1, 0, 1, 0, -1, -1), ValueError),
    (([], b"x", 96, 0, 0x10000, 0, -1, -1), ValueError),
    (([], b"x", 96, 0, 1, 0, 0x1000000, -1), ValueError),
    (([], b"x", 96, 0, 1, 0, -1, 0x100), ValueError),
    (([object()], b"x", 96, 0, 1, 0, -1, -1), TypeError),
    (([], b"x", 96, 0, 1, 0, -1), TypeError),
])
def test_fanout_refuses_bad_arguments(impl: tuple[Any, Any, Any], args: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        impl[2](*args)


def test_setters_refuse_bad_values(impl: tuple[Any, Any, Any], link: Link) -> None:
    path = new_path(impl, link)
    o = impl[1](path, 1)
    for bad in [(128, 100), (96, 128), (96, -3), (-1, 100)]:
        with pytest.raises(ValueError):
            o.set_pt(*bad)
    with pytest.raises(ValueError):
        o.set_header(b"\x10" * 259, b"", b"", 0xBEDE)
    with pytest.raises(ValueError):
        o.set_header(b"", b"\x30\x30\x30", b"", 0xBEDE)
    with pytest.raises(ValueError):
        o.set_header(b"", b"", b"", 0x1234)
    with pytest.raises((ValueError, OverflowError)):
        impl[1](path, 1 << 32)
    with pytest.raises(TypeError):
        impl[1](object(), 1)
    with pytest.raises(ValueError):
        impl[0](link.dtls, "_state", CONNECTED, "_tx_srtp", {}, 0)  # no srtp_protect
    with pytest.raises(ValueError):
        path.bind(link.pair, link.dtls._tx_srtp, 0, link.tx, b"\x02\x00")  # no SRTP context
    with pytest.raises(TypeError):
        path.attach([])
    assert path.valid()  # a refused call changed nothing


def test_sockaddr_is_the_kernels_layout() -> None:
    v4 = outlet.sockaddr(socket.AF_INET, "192.0.2.7", 5004)
    assert v4 == socket.AF_INET.to_bytes(2, "little") + bytes((0x13, 0x8C, 192, 0, 2, 7)) + bytes(8)
    v6 = outlet.sockaddr(socket.AF_INET6, "fd00::2", 443)
    assert len(v6) == 28 and v6[2:4] == bytes((1, 0xBB)) and v6[8:24] == socket.inet_pton(socket.AF_INET6, "fd00::2")
    for bad in [(socket.AF_INET, "vm.local", 1), (socket.AF_INET, "fd00::2", 1), (socket.AF_UNIX, "x", 1)]:
        with pytest.raises((OSError, ValueError)):
            outlet.sockaddr(*bad)


def test_without_the_c_loop_the_node_says_so(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(outlet, "FAST", False)
    with caplog.at_level("WARNING", logger="media.outlet"):
        outlet.warn_if_slow()
    assert [r.event for r in caplog.records] == ["media_slow_path"]  # type: ignore[attr-defined]
    assert "gcc and python3-dev" in caplog.text and outlet.implementation() == "Python"
