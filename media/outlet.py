"""The forwarding loop: for each subscriber leg, write the RTP header, SRTP-protect, send.

- `Path`: one subscriber connection's way out. It is bound to the connection's nominated ICE
  pair (its socket and remote address) and to the DTLS transport's SRTP session. Before each
  packet it checks that the transport is connected and that the pair, session and socket are
  still the ones it was bound to; otherwise the packet is not sent.
- `Outlet`: one leg's header state: payload type map, SSRC, sequence/timestamp offsets from
  where the leg started, and header extensions (as `media.packets.RtpWriter` writes them).
  `state` is IDLE (forwards nothing: paused, closed, not negotiated), ARMED (forwards), or
  WAITING (media.sfu must look at it: no keyframe yet, a new payload type, a changed path).
- `fanout(outlets, ...)`: one publisher packet to every ARMED outlet. It returns how many are
  WAITING, so the Python side is only entered when a leg needs it.

The C extension `media._outlet` does this when it is built (pip builds it where a C compiler and
Python's headers are present; `.ci/run` and the Raspberry Pi deployment install both). The
Python classes here do the same otherwise, more slowly; `FAST` says which is in use, and
tests/media/test_outlet.py checks that both send the same bytes. libsrtp's `srtp_protect` is
called through pylibsrtp's cffi binding (`media.internals` checks its signature).
"""
from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from media import internals as ix
from media.packets import RtpWriter

logger = logging.getLogger(__name__)

IDLE, ARMED, WAITING = 0, 1, 2
RTP_BUFFER = 2048  # bytes: a forwarded packet and its SRTP trailer (a publisher's packet is < 1500)
SRTP_TRAILER = 144  # bytes kept free behind a packet for libsrtp's tag (>= pylibsrtp's maximum)
assert SRTP_TRAILER >= SRTP_MAX_TRAILER_LEN
MAX_PACKET = RTP_BUFFER - SRTP_TRAILER  # the largest packet written before protection
NOT_FORWARDED = -2  # a payload type the leg has no codec for
UNKNOWN = -1  # a payload type not looked up yet


def libsrtp_address(function: str) -> int:
    """The address of a libsrtp function (`srtp_protect`, `srtp_unprotect`) in pylibsrtp's binding."""
    return int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, function)))


def protect_address() -> int:
    """The address of libsrtp's `srtp_protect` in pylibsrtp's binding."""
    return libsrtp_address("srtp_protect")


def srtp_address(session: object) -> int:
    """The address of a pylibsrtp Session's libsrtp context (valid while the session lives)."""
    return int(srtp_ffi.cast("uintptr_t", ix.get(session, ix.SRTP_CONTEXT)[0]))


def sockaddr(family: int, host: str, port: int) -> bytes:
    """The Linux `struct sockaddr_in`/`sockaddr_in6` for a numeric (host, port), as sendto takes it."""
    info = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)[0][4]
    if family == socket.AF_INET:
        return struct.pack("=H", family) + struct.pack("!H", info[1]) + socket.inet_pton(family, info[0]) + bytes(8)
    if family == socket.AF_INET6:
        address = socket.inet_pton(family, info[0].split("%")[0])
        return struct.pack("=H", family) + struct.pack("!HI", info[1], info[2]) + address + struct.pack("=I", info[3])
    raise ValueError(f"address family {family} is not IPv4 or IPv6")


class PyPath:
    """`Path` in Python (see the module docstring)."""

    __slots__ = ("_dtls", "_state_name", "_connected", "_session_name", "_nominated", "_pair", "_session",
                 "_sock", "_srtp", "_sendto", "_addr", "_cdata", "_buffer", "_len")

    def __init__(self, dtls: object, state_name: str, connected: object, session_name: str,
                 nominated: dict[int, Any], protect: int) -> None:
        if not protect:
            raise ValueError("protect: the address of srtp_protect is needed")
        self._dtls, self._state_name, self._connected = dtls, state_name, connected
        self._session_name, self._nominated = session_name, nominated
        self._cdata = srtp_ffi.new("char[]", RTP_BUFFER)
        self._buffer = srtp_ffi.buffer(self._cdata)
        self._len = srtp_ffi.new("int *")
        self.unbind()

    @property
    def bound(self) -> bool:
        return self._pair is not None

    @property
    def pair(self) -> Any:
        return self._pair

    def bind(self, pair: Any, session: object, srtp: int, sock: Any, sockaddr: bytes) -> None:
        if not srtp or len(sockaddr) < 2:
            raise ValueError("a socket address and an SRTP context are needed")
        self._pair, self._session, self._sock = pair, session, sock
        self._srtp = srtp_ffi.cast("srtp_t", srtp)
        self._sendto = pair.protocol.transport.sendto
        self._addr = pair.remote_addr

    def unbind(self) -> None:
        self._pair = self._session = self._sock = self._srtp = None
        self._sendto: Callable[[bytes, Any], None] = _drop
        self._addr: Any = None

    def attach(self, nominated: dict[int, Any]) -> None:
        if not isinstance(nominated, dict):
            raise TypeError("nominated must be a dict")
        self.unbind()
        self._nominated = nominated

    def valid(self) -> bool:
        pair = self._pair
        if pair is None:
            return False
        dtls = self._dtls
        try:
            return (getattr(dtls, self._state_name) is self._connected and self._nominated.get(1) is pair
                    and getattr(dtls, self._session_name) is self._session and self._sock.fileno() != -1)
        except Exception:
            return False

    def send(self, data: bytes) -> bool:
        n = len(data)
        if n > MAX_PACKET or not self.valid():
            return False
        self._len[0] = n
        self._buffer[0:n] = data
        if srtp_lib.srtp_protect(self._srtp, self._cdata, self._len) == 0:
            try:
                self._sendto(self._buffer[0:self._len[0]], self._addr)
            except OSError:  # a full socket buffer: this packet is lost, as on the network
                pass
        return True


def _drop(data: bytes, addr: Any) -> None:
    return None


class PyOutlet:
    """`Outlet` in Python (see the module docstring)."""

    __slots__ = ("_path", "ssrc", "_state", "start_seq", "seq_offset", "ts_offset", "pts", "sent", "octets", "writer")

    def __init__(self, path: PyPath, ssrc: int) -> None:
        if not isinstance(path, PyPath):
            raise TypeError("path must be a Path")
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError("ssrc is a 32-bit number")
        self._path, self.ssrc = path, ssrc
        self._state = IDLE
        self.start_seq = self.seq_offset = self.ts_offset = 0
        self.pts = [UNKNOWN] * 128
        self.sent = self.octets = 0
        self.writer = RtpWriter(None, ())

    @property
    def path(self) -> PyPath:
        return self._path

    @property
    def state(self) -> int:
        return self._state

    @state.setter
    def state(self, value: int) -> None:
        if value not in (IDLE, WAITING):
            raise ValueError("state: IDLE or WAITING (arm() arms)")
        self._state = value

    def set_header(self, mid: bytes, abs_element: bytes, level_element: bytes, profile: int) -> None:
        if profile not in (0xBEDE, 0x1000):
            raise ValueError("profile: 0xBEDE (one-byte) or 0x1000 (two-byte)")
        if len(mid) > 258 or len(abs_element) > 2 or len(level_element) > 2:
            raise ValueError("an extension element is too long")
        self.writer = RtpWriter.from_elements(mid, abs_element, level_element, profile)

    def set_pt(self, theirs: int, ours: int) -> None:
        if not 0 <= theirs <= 127 or not -2 <= ours <= 127:
            raise ValueError("payload types are 0-127 (-1 unknown, -2 not forwarded)")
        self.pts[theirs] = ours

    def clear_pts(self) -> None:
        self.pts = [UNKNOWN] * 128

    def arm(self, start_seq: int, seq_offset: int, ts_offset: int) -> None:
        self.start_seq, self.seq_offset, self.ts_offset = start_seq & 0xFFFF, seq_offset & 0xFFFF, ts_offset & 0xFFFFFFFF
        self._state = ARMED


def py_fanout(outlets: list[PyOutlet], payload: bytes, payload_type: int, marker: int, seq: int, timestamp: int,
              abs_send_time: int, audio_level: int) -> int:
    """`fanout` in Python (see the module docstring)."""
    if not isinstance(outlets, list) or not isinstance(payload, bytes):
        raise TypeError("fanout: a list of outlets and a bytes payload")
    if not (0 <= payload_type <= 127 and 0 <= seq <= 0xFFFF and abs_send_time <= 0xFFFFFF and audio_level <= 0xFF):
        raise ValueError("fanout: payload type, sequence number or extension out of range")
    if any(type(o) is not PyOutlet for o in outlets):
        raise TypeError("fanout: every item must be an Outlet")
    waiting = 0
    for o in outlets:
        state = o._state
        if state != ARMED:
            if state == WAITING:
                waiting += 1
            continue
        if ((seq - o.start_seq) & 0xFFFF) >= 0x8000:
            continue  # older than where this leg started
        pt = o.pts[payload_type]
        if pt == NOT_FORWARDED:
            continue
        if pt < 0 or not o._path.valid():  # a new payload type, or the path changed: media.sfu looks again
            o._state = WAITING
            waiting += 1
            continue
        data = o.writer.write(pt, marker, (seq + o.seq_offset) & 0xFFFF, (timestamp + o.ts_offset) & 0xFFFFFFFF,
                              o.ssrc, payload, abs_send_time, audio_level)
        if len(data) > MAX_PACKET:
            continue
        o._path.send(data)
        o.sent += 1
        o.octets += len(payload)
    return waiting


Path: Any
Outlet: Any
fanout: Callable[..., int]
try:
    from media import _outlet  # type: ignore[attr-defined]
except ImportError:  # not built: no C compiler or Python headers where it was installed
    _outlet = None
FAST: bool = _outlet is not None and (_outlet.RTP_BUFFER, _outlet.SRTP_TRAILER) == (RTP_BUFFER, SRTP_TRAILER)
if FAST:
    Path, Outlet, fanout = _outlet.Path, _outlet.Outlet, _outlet.fanout
else:
    Path, Outlet, fanout = PyPath, PyOutlet, py_fanout


def implementation() -> str:
    """Which forwarding loop runs: "C" or "Python"."""
    return "C" if FAST else "Python"


def warn_if_slow(log: logging.Logger | None = None) -> None:
    """Say once, at start-up, when the C packet path (this loop, media.inlet's receive path or
    media.estimator's estimator) is not built."""
    from media import estimator, inlet  # they build on this module

    missing = [name for name, built in (("media._outlet", FAST), ("media._inlet", inlet.FAST),
                                        ("media._estimator", estimator.FAST)) if not built]
    if missing:
        (log or logger).warning(f"the C packet path ({', '.join(missing)}) is not built: rooms cost more CPU; "
                                "install gcc and python3-dev, then reinstall", extra={"event": "media_slow_path"})
