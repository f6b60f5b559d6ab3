"""media.selector: the node's loop reads taken sockets' SRTP media in C and leaves the rest to asyncio.

Real UDP sockets on loopback, real SRTP (pylibsrtp), the real C inlet; the loop is the node's own
(`media.selector.new_event_loop`, which tests/conftest.py gives every async test). A room with real
aiortc peers on this loop is tests/media/test_room.py's three-party test.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtp import RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from media import inlet, outlet
from media.selector import MediaSelector, media_selector, new_event_loop

pytestmark = pytest.mark.skipif(not inlet.available(), reason="media._inlet is not built")

KEY = bytes(range(30))


def sessions(key: bytes = KEY) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    return (pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
            pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)))


def rtp(seq: int, size: int = 100) -> bytes:
    return RtpPacket(payload_type=96, sequence_number=seq, timestamp=seq * 3000, ssrc=4242,
                     payload=bytes([seq & 0xFF]) * size).serialize()


@dataclass
class Socket:
    """A datagram endpoint on the loop, taken by its MediaSelector; everything it got, in order."""
    transport: Any
    fast: Any
    dtls: SimpleNamespace
    protect: pylibsrtp.Session
    got: list[tuple[str, bytes]] = field(default_factory=list)
    fail: bool = False
    then: Callable[[], object] | None = None  # run by the handler after it recorded the packet

    @property
    def fd(self) -> int:
        return int(self.transport.get_extra_info("socket").fileno())

    def to_asyncio(self) -> list[bytes]:
        return [d for how, d in self.got if how == "asyncio"]

    def to_c(self) -> list[bytes]:
        return [d for how, d in self.got if how == "c"]

    def fallback(self, plain: bytes) -> None:
        self.got.append(("c", plain))
        if self.fail:
            raise RuntimeError("a handler failed")
        if self.then is not None:
            self.then()


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.socket: Socket | None = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        assert self.socket is not None
        self.socket.got.append(("asyncio", data))


async def taken_socket() -> Socket:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
    protect, unprotect = sessions()
    fast = inlet.Inlet(inlet.unprotect_address())
    fast.bind(unprotect, outlet.srtp_address(unprotect))
    sock = Socket(transport, fast, SimpleNamespace(_rx_srtp=unprotect), protect)
    protocol.socket = sock
    chosen = media_selector(loop)
    assert chosen is not None, "the test runs on the node's loop (tests/conftest.py)"
    chosen.take(sock.fd, fast, sock.dtls, sock.fallback)
    return sock


@pytest.fixture
async def udp() -> AsyncIterator[tuple[Socket, socket.socket]]:
    sock = await taken_socket()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(sock.transport.get_extra_info("sockname"))
    yield sock, sender
    sender.close()
    sock.transport.close()


async def settle(sock: Socket, count: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while len(sock.got) + sock.fast.refused < count:
        assert time.monotonic() < deadline, f"only {len(sock.got)} of {count} datagrams arrived"
        await asyncio.sleep(0.01)


async def test_every_async_test_runs_on_the_nodes_loop() -> None:
    loop = asyncio.get_running_loop()
    chosen = media_selector(loop)
    assert isinstance(chosen, MediaSelector) and chosen._queues is not None


async def test_srtp_media_is_read_in_c_and_everything_else_left_to_asyncio_in_order(udp: Any) -> None:
    sock, sender = udp
    poller = media_selector(asyncio.get_running_loop()).poller  # type: ignore[union-attr]
    before = poller.taken
    stun = b"\x00\x01\x00\x00" + bytes(16)
    dtls = b"\x16\xfe\xfd" + bytes(20)
    rtcp = b"\x80\xc8" + bytes(26)  # a sender report's first bytes: RTCP stays with aiortc
    sent = [sock.protect.protect(rtp(1)), stun, rtcp, sock.protect.protect(rtp(2)), dtls, b"",
            sock.protect.protect(rtp(3))]
    for d in sent:
        sender.send(d)
    await settle(sock, len(sent))
    assert sock.got == [("c", rtp(1)), ("asyncio", stun), ("asyncio", rtcp), ("c", rtp(2)), ("asyncio", dtls),
                        ("asyncio", b""), ("c", rtp(3))]
    assert poller.taken - before == 3
    assert sock.fast.refused == 0


async def test_media_before_the_keys_or_after_new_ones_goes_to_asyncio(udp: Any) -> None:
    sock, sender = udp
    bound = sock.dtls._rx_srtp
    sock.dtls._rx_srtp = None  # the DTLS handshake has not finished
    first = sock.protect.protect(rtp(1))
    sender.send(first)
    await settle(sock, 1)
    new_protect, new_unprotect = sessions(os.urandom(30))
    sock.dtls._rx_srtp = new_unprotect  # re-keyed: the Python path binds the inlet to these
    second = new_protect.protect(rtp(2))
    sender.send(second)
    await settle(sock, 2)
    assert sock.got == [("asyncio", first), ("asyncio", second)]
    sock.dtls._rx_srtp = bound
    sender.send(sock.protect.protect(rtp(3)))
    await settle(sock, 3)
    assert sock.got[-1] == ("c", rtp(3))


async def test_forged_replayed_and_oversize_media_is_refused_and_nothing_else_happens(udp: Any) -> None:
    sock, sender = udp
    good = sock.protect.protect(rtp(1))
    forged = bytearray(good)
    forged[20] ^= 1
    oversize = rtp(2, size=1600)  # longer than pylibsrtp takes: refused before any unprotect
    for d in (bytes(forged), good, good, oversize):  # the second `good` is a replay
        sender.send(d)
    await settle(sock, 4)
    assert sock.got == [("c", rtp(1))]
    assert sock.fast.refused == 3


async def test_work_that_media_queues_wakes_the_loop_at_once(udp: Any) -> None:
    sock, sender = udp
    loop = asyncio.get_running_loop()
    soon, later = asyncio.Event(), asyncio.Event()
    calls = iter([lambda: loop.call_soon(soon.set), lambda: loop.call_later(0.05, later.set)])
    sock.then = lambda: next(calls)()
    far = loop.call_later(30, lambda: None)  # the loop's only timer otherwise
    try:
        for seq, event in ((1, soon), (2, later)):
            start = time.monotonic()
            # sent while the loop waits in C (with its wait_for timer 5 s away)
            threading.Timer(0.1, sender.send, (sock.protect.protect(rtp(seq)),)).start()
            await asyncio.wait_for(event.wait(), 5)
            assert time.monotonic() - start < 1.0  # not when the next timer is due
    finally:
        far.cancel()


async def test_a_failing_handler_is_logged_and_the_next_packet_is_handled(udp: Any,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    sock, sender = udp
    sock.fail = True
    with caplog.at_level(logging.ERROR, logger="media.selector"):
        sender.send(sock.protect.protect(rtp(1)))
        await settle(sock, 1)
        sock.fail = False
        sender.send(sock.protect.protect(rtp(2)))
        await settle(sock, 2)
    assert sock.to_c() == [rtp(1), rtp(2)]
    assert [r.getMessage() for r in caplog.records] == ["forwarding a packet failed"]
    assert isinstance(caplog.records[0].exc_info[1], RuntimeError)  # type: ignore[index]


async def test_a_closed_socket_loses_its_route_and_its_number_is_not_taken_for_the_next() -> None:
    loop = asyncio.get_running_loop()
    poller = media_selector(loop).poller  # type: ignore[union-attr]
    sock = await taken_socket()
    fd = sock.fd
    assert fd in poller.routes
    sock.transport.close()
    await asyncio.sleep(0)
    assert fd not in poller.routes
    # the next socket may get the same number; asyncio's registration of it clears any route anyway
    poller.add(fd, sock.fast, sock.dtls, sock.fallback)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        other.setblocking(False)
        loop.add_reader(other.fileno(), lambda: None)
        assert other.fileno() not in poller.routes
        loop.remove_reader(other.fileno())
    finally:
        other.close()
        poller.discard(fd)


async def test_a_signal_handler_runs_while_the_loop_waits_in_c(udp: Any) -> None:
    sock, sender = udp
    loop = asyncio.get_running_loop()
    got = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, got.set)
    try:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        for seq in range(5):
            sender.send(sock.protect.protect(rtp(seq)))
        await asyncio.wait_for(got.wait(), 5)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_a_plain_socket_is_selected_as_epoll_selects_it() -> None:
    sel = MediaSelector()
    assert sel.watch(SimpleNamespace(_ready=collections.deque(), _scheduled=[]))  # type: ignore[arg-type]
    a, b = socket.socketpair()
    try:
        sel.register(a, 1 | 2)
        ready = sel.select(0)
        assert [(key.fileobj, events) for key, events in ready] == [(a, 2)]  # writable, nothing to read
        b.send(b"x")
        assert [(key.fileobj, events) for key, events in sel.select(1)] == [(a, 3)]
        a.recv(1)
        sel.modify(a, 1)
        start = time.monotonic()
        assert sel.select(0.05) == []
        assert time.monotonic() - start >= 0.049  # waits at least its timeout
    finally:
        sel.close()
        a.close()
        b.close()


def test_without_the_c_receive_path_the_node_gets_asyncio_s_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inlet, "available", lambda: False)
    loop = new_event_loop()
    try:
        assert media_selector(loop) is None
    finally:
        loop.close()


def test_a_loop_that_keeps_its_queues_elsewhere_is_polled_as_epoll_does() -> None:
    sel = MediaSelector()
    assert not sel.watch(SimpleNamespace())  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        sel.take(0, None, None, lambda plain: None)
    assert sel.select(0) == []
    sel.close()


def test_the_poller_refuses_bad_arguments() -> None:
    poller = inlet.Poller("_rx_srtp", lambda exc: None)
    fast = inlet.Inlet(inlet.unprotect_address())
    for bad in ((-1, fast, None, print), (1 << 20, fast, None, print), (3, object(), None, print),
                (3, fast, None, "not callable")):
        with pytest.raises((ValueError, TypeError)):
            poller.add(*bad)
    assert poller.routes == []
    with pytest.raises(TypeError):
        inlet.Poller("_rx_srtp", "not callable")
    with pytest.raises(TypeError):
        poller.poll(-1, 0, 1, [], ())  # `scheduled` must be the loop's list
    with pytest.raises(OSError):
        poller.poll(-1, 0, 1, [], [])  # not an epoll descriptor


def looks_rtp(d: bytes) -> bool:
    return len(d) >= 2 and 127 < d[0] < 192 and not 192 <= d[1] <= 208


# outside bytes of any kind, a protected RTP packet (numbered in order), or a replay of the last one
datagrams = st.lists(st.one_of(st.binary(max_size=1600), st.just("rtp"), st.just("replay")), max_size=20)


@settings(max_examples=40, deadline=None)
@given(sent=datagrams)
def test_any_datagrams_are_each_handled_once_in_order_and_the_loop_keeps_running(sent: list[Any]) -> None:
    loop = new_event_loop()

    async def run() -> None:
        sock = await taken_socket()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.connect(sock.transport.get_extra_info("sockname"))
        try:
            wire: list[bytes] = []
            protected: list[bytes] = []
            for d in sent:
                if d == "rtp":
                    protected.append(sock.protect.protect(rtp(len(protected) + 1)))
                    wire.append(protected[-1])
                elif d == "replay":
                    wire.append(protected[-1] if protected else b"\x80")
                else:
                    wire.append(d)
                sender.send(wire[-1])
            await settle(sock, len(wire))
            assert len(sock.got) + sock.fast.refused == len(wire)
            assert sock.to_asyncio() == [d for d in wire if not looks_rtp(d)]  # as sent, in order
            assert sock.to_c() == [rtp(n) for n in range(1, len(protected) + 1)]  # each once, in order
        finally:
            sender.close()
            sock.transport.close()
            await asyncio.sleep(0)

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
