"""Test support for the packet path: a UDP link with SRTP at both ends (what a `Path` sends on),
and a `Twin`, one real `Publication` on real aiortc objects fed SRTP packets the way
`media.sfu._Inlet` feeds it, with or without the C receive path (media.inlet).

Used by tests/media/test_outlet.py, tests/media/test_inlet.py and bench/inlet.py.
"""
from __future__ import annotations

import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pylibsrtp
from aiortc import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media import inlet, outlet
from media import internals as ix
from media.packets import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, RtpWriter, now_ms
from media.sfu import Publication

CONNECTED, CLOSED = object(), object()


@dataclass
class Link:
    """A sending socket bound as a Path would be, a receiving socket, and both SRTP ends."""
    dtls: SimpleNamespace
    nominated: dict[int, Any]
    pair: SimpleNamespace
    tx: socket.socket
    rx: socket.socket
    key: bytes
    unprotect: pylibsrtp.Session

    def bind(self, path: Any) -> None:
        session = self.dtls._tx_srtp
        path.bind(self.pair, session, outlet.srtp_address(session), self.tx,
                  outlet.sockaddr(self.rx.family, *self.rx.getsockname()[:2]))

    def received(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.unprotect.unprotect(self.rx.recv(4096)))
            except BlockingIOError:
                return out


def make_link(family: int = socket.AF_INET, key: bytes | None = None) -> Link:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    rx = socket.socket(family, socket.SOCK_DGRAM)
    rx.bind((host, 0))
    rx.setblocking(False)
    tx = socket.socket(family, socket.SOCK_DGRAM)
    tx.bind((host, 0))
    tx.setblocking(False)
    key = key or os.urandom(30)
    protect = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    unprotect = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=SimpleNamespace(sendto=tx.sendto)),
                           remote_addr=rx.getsockname()[:2])
    dtls = SimpleNamespace(_state=CONNECTED, _tx_srtp=protect)
    return Link(dtls, {1: pair}, pair, tx, rx, key, unprotect)


VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
RTX = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96})
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
MID_EXTENSION = RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI)
EXTENSIONS = [MID_EXTENSION,
              RTCRtpHeaderExtensionParameters(id=3, uri=ABS_SEND_TIME_URI),
              RTCRtpHeaderExtensionParameters(id=4, uri=AUDIO_LEVEL_URI)]
SSRC = 0x11223344
LEG = RtpWriter("5", [(1, MID_URI), (3, ABS_SEND_TIME_URI), (4, AUDIO_LEVEL_URI)])



class Recording:
    """A publication's estimator that notes what each packet gives it (no arrival time: the twins
    receive at different times). A wrapper, since the C estimator takes no new attributes."""

    def __init__(self, real: Any, log: list[tuple[int, int, int]]) -> None:
        self.real = real
        self.log = log

    def add(self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int) -> Any:
        self.log.append((abs_send_time, payload_size, ssrc))
        return self.real.add(arrival_time_ms=arrival_time_ms, abs_send_time=abs_send_time, payload_size=payload_size,
                             ssrc=ssrc)


class Twin:
    """One Publication on real aiortc objects, with one leg's outlet sending on a real socket."""

    def __init__(self, kind: str, fast: bool, link: Link,
                 extensions: Sequence[RTCRtpHeaderExtensionParameters] = ()) -> None:
        ice = RTCIceTransport(RTCIceGatherer(iceServers=[]))
        self.dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
        getattr(self.dtls, ix.DTLS_EXT_MAP).configure(
            RTCRtpReceiveParameters(headerExtensions=list(extensions or EXTENSIONS)))
        self.rx = RTCRtpReceiver(kind, self.dtls)
        transceiver = RTCRtpTransceiver(kind, self.rx, RTCRtpSender(kind, self.dtls))
        codecs = [VP8, RTX] if kind == "video" else [OPUS]
        setattr(transceiver, ix.TRANSCEIVER_CODECS, codecs)
        self.spawned: list[Any] = []
        room = SimpleNamespace(history_size=64, keyframe_interval=1.0, _spawn=self.spawned.append)
        self.fast = inlet.Inlet(inlet.unprotect_address()) if fast else None
        self.owner = SimpleNamespace(inlet=SimpleNamespace(fast=self.fast, handlers={}), last_spoke=-1e9, seq=0)
        self.pub = Publication(room, self.owner, transceiver)  # type: ignore[arg-type]
        self.nacks: list[list[int]] = []
        self.estimates: list[tuple[int, int, int]] = []
        self.armed: list[int] = []
        self.link = link
        self.session: Any = None

    async def start(self) -> None:
        # what RTCRtpReceiver.receive does with the codecs (without its decoder thread and RTCP
        # task, which need a connected transport), and the RTCP SSRC the peer connection gives it
        for codec in getattr(self.pub.transceiver, ix.TRANSCEIVER_CODECS):
            getattr(self.rx, ix.RX_CODECS)[codec.payloadType] = codec
        setattr(self.rx, ix.RX_RTCP_SSRC, 0xABCD)
        nack = getattr(self.rx, ix.RX_NACK_GENERATOR)
        pub = self.pub
        pub.send_nack = lambda ssrc=None: self.nacks.append(sorted(nack.missing))  # type: ignore[method-assign]
        if pub._estimator is not None:
            pub._estimator = Recording(pub._estimator, self.estimates)
        real_arm = pub._arm_waiting
        pub._arm_waiting = lambda packet, *a: (self.armed.append(packet.sequence_number),  # type: ignore
                                               real_arm(packet, *a))
        path = outlet.Path(self.link.dtls, "_state", CONNECTED, "_tx_srtp", self.link.nominated,
                           outlet.protect_address())
        self.link.bind(path)
        self.out = outlet.Outlet(path, 0x5555)
        self.out.set_header(*LEG.elements)
        for pt in (96, 111):
            self.out.set_pt(pt, pt)
        self.out.arm(0, 7, 1000)
        self.waiting = outlet.Outlet(path, 0x6666)
        self.waiting.state = outlet.WAITING
        pub.outlets = [self.out, self.waiting]

    def feed(self, protected: bytes, rx_session: pylibsrtp.Session) -> None:
        """What media.sfu._Inlet does with one SRTP packet."""
        if self.fast is None:
            try:
                packet = RtpPacket.parse(rx_session.unprotect(protected), getattr(self.dtls, ix.DTLS_EXT_MAP))
            except (pylibsrtp.Error, ValueError, struct.error):
                return
            self.pub.on_rtp(packet, now_ms())
            return
        if self.fast.session is not rx_session:
            self.fast.bind(rx_session, outlet.srtp_address(rx_session))
        plain = self.fast.receive(protected)
        if plain is None:
            return
        try:
            packet = RtpPacket.parse(plain, getattr(self.dtls, ix.DTLS_EXT_MAP))
        except (ValueError, struct.error):
            return
        self.pub.on_rtp(packet, now_ms())

    def state(self) -> dict[str, Any]:
        pub, stats = self.pub, self.pub._streams
        streams = {ssrc: (s.base_seq, s.max_seq, s.cycles, s.packets_received, s._last_timestamp,
                          isinstance(s._jitter_q4, int), type(s._last_arrival)) for ssrc, s in stats.items()}
        nack = pub._nack
        history = {}
        for seq in range(0x10000):
            entry = pub.recorded(seq)
            if entry is not None:
                p = entry[0]
                history[seq] = (p.payload_type, p.marker, p.timestamp, p.ssrc, p.payload, p.padding_size,
                                p.extensions.abs_send_time, p.extensions.audio_level)
        return {
            "streams": streams, "nack": (nack.max_seq, sorted(nack.missing)) if nack else None,
            "nacks": self.nacks, "estimates": self.estimates, "newest": pub.newest[:2], "ssrc": pub.ssrc,
            "packets": pub.packets, "history": history, "spoke": self.owner.last_spoke > 0,
            "level_seen": pub._level_seen, "sent": self.link.received(), "armed": self.armed,
            "waiting": self.waiting.state, "out": (self.out.sent, self.out.octets),
        }

    def close(self) -> None:
        for coro in self.spawned:
            coro.close()  # RTCP that would have gone to an unconnected transport
        self.pub.close()


def rtp(seq: int, ts: int, pt: int = 96, marker: int = 0, ssrc: int = SSRC, payload: bytes = b"\x10\x00\x9d",
        abs_time: int | None = None, level: tuple[bool, int] | None = None, mid: str | None = "0",
        padding: int = 0) -> bytes:
    p = RtpPacket(payload_type=pt, marker=marker, sequence_number=seq, timestamp=ts, ssrc=ssrc, payload=payload)
    p.padding_size = padding
    p.extensions.mid = mid
    p.extensions.abs_send_time = abs_time
    p.extensions.audio_level = level
    return p.serialize(_EXT_MAP)


_EXT_MAP = HeaderExtensionsMap()
_EXT_MAP.configure(RTCRtpReceiveParameters(headerExtensions=EXTENSIONS))


def sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session, pylibsrtp.Session]:
    """The publisher's sending session and one receiving session per twin."""
    key = os.urandom(30)

    def policy(kind: int) -> pylibsrtp.Policy:
        return pylibsrtp.Policy(key=key, ssrc_type=kind)

    return (pylibsrtp.Session(policy(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
            pylibsrtp.Session(policy(pylibsrtp.Policy.SSRC_ANY_INBOUND)),
            pylibsrtp.Session(policy(pylibsrtp.Policy.SSRC_ANY_INBOUND)))


