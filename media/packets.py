"""Small pieces of the packet path: keyframe detection, per-leg history, sequence/timestamp maps,
and the per-leg RTP writer.

Nothing here touches aiortc internals or the network; `media.sfu` composes them.
"""
from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


NTP_UNIX_OFFSET = 2208988800  # seconds from the NTP epoch (1900) to the Unix epoch (1970)


def now_ms() -> int:
    """Milliseconds since the NTP epoch, as `aiortc.clock.current_ms` gives them (without datetime:
    this runs for every received packet)."""
    return int((time.time() + NTP_UNIX_OFFSET) * 1000)


def ntp_time(unix_time: float) -> int:
    """A Unix time as a 64-bit NTP timestamp (seconds << 32 | fraction), as in RTCP sender reports."""
    t = unix_time + NTP_UNIX_OFFSET
    seconds = int(t)
    return (seconds << 32) | int((t - seconds) * (1 << 32))


def is_keyframe_start(codec_name: str, payload: bytes) -> bool:
    """Whether this RTP payload starts a keyframe (VP8, H.264); other codecs are never gated."""
    name = codec_name.lower()
    if name == "vp8":
        return _vp8_keyframe_start(payload)
    if name == "h264":
        return _h264_has_idr(payload)
    return True


def _vp8_keyframe_start(p: bytes) -> bool:
    # RFC 7741 §4.2 payload descriptor, then the VP8 frame tag (P bit 0 = key frame)
    if not p:
        return False
    b0 = p[0]
    start, pid = b0 & 0x10, b0 & 0x07
    if not start or pid:
        return False
    i = 1
    if b0 & 0x80:  # X
        if len(p) <= i:
            return False
        x = p[i]
        i += 1
        if x & 0x80:  # I: picture id, 7 or 15 bits
            if len(p) <= i:
                return False
            i += 2 if p[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX
            i += 1
    return len(p) > i and (p[i] & 0x01) == 0


def _h264_has_idr(p: bytes) -> bool:
    # RFC 6184: single NAL, STAP-A (24) or FU-A (28); IDR (5) or SPS (7) start a decodable frame
    if not p:
        return False
    nal = p[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:
        i = 1
        while i + 2 < len(p):
            size = (p[i] << 8) | p[i + 1]
            if (p[i + 2] & 0x1F) in (5, 7):
                return True
            i += 2 + size
        return False
    if nal == 28 and len(p) > 1:
        return bool(p[1] & 0x80) and (p[1] & 0x1F) in (5, 7)
    return False


class PacketHistory(Generic[T]):
    """The last `size` packets sent on one leg, by outgoing sequence number (for NACKs)."""

    __slots__ = ("_items", "_seqs", "size")

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._seqs: list[int] = [-1] * size
        self._items: list[T | None] = [None] * size

    def put(self, seq: int, item: T) -> None:
        i = seq % self.size
        self._seqs[i] = seq
        self._items[i] = item

    def get(self, seq: int) -> T | None:
        i = seq % self.size
        return self._items[i] if self._seqs[i] == seq else None


_RTP_HEADER = struct.Struct("!BBHII")
_RTP_HEADER_EXT = struct.Struct("!BBHIIHH")
_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")  # by len(extensions) % 4


class RtpWriter:
    """Serializes the RTP packets of one leg, with its MID and its negotiated extension ids.

    It writes the header extensions aiortc offers on a forwarded m-line: the leg's MID, and the
    publisher's abs-send-time and ssrc-audio-level values, in the same bytes as aiortc's
    `RtpPacket.serialize` (RFC 8285 one-byte form). The leg uses the two-byte form for all its
    packets if an id is above 14 or the MID longer than 16 bytes (aiortc decides per packet, from
    the elements present). Other extensions are never negotiated on a leg and are not written;
    padding is not forwarded.
    """

    __slots__ = ("_abs", "_level", "_mid", "_profile")

    def __init__(self, mid: str | None, extensions: Iterable[tuple[int, str]]) -> None:
        ids = {uri: ext_id for ext_id, uri in extensions}
        mid_id = ids.get(MID_URI)
        mid_bytes = mid.encode("utf8") if mid else b""
        two_byte = any(ext_id > 14 for ext_id in ids.values()) or (bool(mid_id) and len(mid_bytes) > 16)
        self._profile = 0x1000 if two_byte else 0xBEDE
        self._mid = self._element(mid_id, len(mid_bytes), two_byte) + mid_bytes if mid_id and mid_bytes else b""
        self._abs = self._element(ids.get(ABS_SEND_TIME_URI), 3, two_byte)
        self._level = self._element(ids.get(AUDIO_LEVEL_URI), 1, two_byte)

    @staticmethod
    def _element(ext_id: int | None, length: int, two_byte: bool) -> bytes:
        """An extension element's header (id and length), or b"" if the id is not negotiated."""
        if not ext_id:
            return b""
        return bytes((ext_id, length)) if two_byte else bytes(((ext_id << 4) | (length - 1),))

    @classmethod
    def from_elements(cls, mid: bytes, abs_element: bytes, level_element: bytes, profile: int) -> RtpWriter:
        """A writer with these extension elements (as `elements` gives them)."""
        writer = cls(None, ())
        writer._mid, writer._abs, writer._level, writer._profile = mid, abs_element, level_element, profile
        return writer

    @property
    def elements(self) -> tuple[bytes, bytes, bytes, int]:
        """(MID element with its value, abs-send-time element header, audio-level element header,
        profile): what `media.outlet.Outlet.set_header` takes."""
        return self._mid, self._abs, self._level, self._profile

    def write(self, payload_type: int, marker: int, seq: int, timestamp: int, ssrc: int, payload: bytes,
              abs_send_time: int = -1, audio_level: int = -1) -> bytes:
        """One RTP packet: the fixed header, this leg's extensions, the payload.

        `abs_send_time` and `audio_level` are as `extension_values` gives them (-1: absent).
        """
        ext = self._mid
        if abs_send_time >= 0 and self._abs:
            ext += self._abs + (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        if audio_level >= 0 and self._level:
            ext += self._level + bytes((audio_level & 0xFF,))
        if not ext:
            return _RTP_HEADER.pack(0x80, (marker << 7) | payload_type, seq, timestamp, ssrc) + payload
        ext += _PADDING[len(ext) & 3]
        return _RTP_HEADER_EXT.pack(0x90, (marker << 7) | payload_type, seq, timestamp, ssrc, self._profile,
                                    len(ext) >> 2) + ext + payload


def extension_values(abs_send_time: int | None, audio_level: tuple[bool, int] | None) -> tuple[int, int]:
    """A packet's abs-send-time and ssrc-audio-level (aiortc's parsed form) as the writers take them:
    the 24-bit time and the level byte (voice flag and level, RFC 6464), -1 where absent."""
    return (-1 if abs_send_time is None else abs_send_time & 0xFFFFFF,
            -1 if audio_level is None else (0x80 if audio_level[0] else 0) | (audio_level[1] & 0x7F))


NACK_WINDOW = 128  # aiortc.rtp.RTP_HISTORY_SIZE: the missing packets aiortc's NackGenerator keeps


def nack_add(nack: Any, seq: int) -> bool:
    """aiortc's `NackGenerator.add` for a packet with this sequence number, on the same object
    (`max_seq`, `missing`), with the same result, but a jump forward adds only the last
    NACK_WINDOW numbers: aiortc adds every number up to it (up to 32,767 for a hostile jump) and
    then forgets all but those. True if packets went missing. media/_inlet.c does the same."""
    if nack.max_seq is None:
        nack.max_seq = seq
        return False
    missed = False
    gap = (seq - nack.max_seq) & 0xFFFF
    if 0 < gap < 0x8000:  # newer
        first = (seq - NACK_WINDOW) & 0xFFFF if gap - 1 > NACK_WINDOW else (nack.max_seq + 1) & 0xFFFF
        while first != seq:
            nack.missing.add(first)
            missed = True
            first = (first + 1) & 0xFFFF
        nack.max_seq = seq
    else:
        nack.missing.discard(seq)
    if nack.missing:
        oldest = (nack.max_seq - NACK_WINDOW) & 0xFFFF
        nack.missing -= {s for s in nack.missing if 0 < (oldest - s) & 0xFFFF < 0x8000}
    return missed


def seq_newer_or_equal(a: int, b: int) -> bool:
    """a is b or after b in 16-bit sequence space."""
    return ((a - b) & 0xFFFF) < 0x8000


class StreamMap:
    """Maps one publisher stream's sequence numbers and timestamps onto a subscriber leg.

    `start(in_seq, in_ts, now)` (at a keyframe, or the first audio packet) fixes offsets so the
    leg's outgoing numbering continues from where it stopped: sequence numbers stay contiguous,
    and the timestamp advances by the wall-clock time the leg was paused, so a subscriber's
    jitter buffer sees one continuous stream across pauses and source restarts. Mapping a packet
    changes nothing (the forwarding loop reads `seq_offset`, `ts_offset` and `start_seq` itself);
    `stop(...)` is told the stream's newest packet, where the next start continues.
    """

    __slots__ = (
        "clock_rate",
        "last_seq",
        "last_time",
        "last_ts",
        "seq_offset",
        "start_seq",
        "started",
        "ts_offset",
    )

    def __init__(self, clock_rate: int, first_seq: int, first_ts: int) -> None:
        self.clock_rate = clock_rate
        self.seq_offset = 0
        self.ts_offset = 0
        self.start_seq = 0
        self.last_seq = (first_seq - 1) & 0xFFFF  # next outgoing is first_seq
        self.last_ts = first_ts
        self.last_time: float | None = None
        self.started = False

    def start(self, in_seq: int, in_ts: int, now: float) -> None:
        out_seq = (self.last_seq + 1) & 0xFFFF
        gap = 0 if self.last_time is None else max(1, int((now - self.last_time) * self.clock_rate))
        out_ts = (self.last_ts + gap) & 0xFFFFFFFF
        self.seq_offset = (out_seq - in_seq) & 0xFFFF
        self.ts_offset = (out_ts - in_ts) & 0xFFFFFFFF
        self.start_seq = in_seq
        self.started = True

    def stop(self, newest_seq: int, newest_ts: int, newest_time: float) -> None:
        """Stop at the stream's newest packet (sequence number, timestamp, arrival time)."""
        if not self.started:
            return
        if seq_newer_or_equal(newest_seq, self.start_seq):
            self.last_seq, self.last_ts = self.map(newest_seq, newest_ts)  # type: ignore[misc]
            self.last_time = newest_time
        self.started = False

    def map(self, in_seq: int, in_ts: int) -> tuple[int, int] | None:
        """(out_seq, out_ts), or None for a packet older than the current start."""
        if not self.started or not seq_newer_or_equal(in_seq, self.start_seq):
            return None
        return (in_seq + self.seq_offset) & 0xFFFF, (in_ts + self.ts_offset) & 0xFFFFFFFF

    def unmap(self, out_seq: int) -> int | None:
        """The incoming sequence number an outgoing one was mapped from, if it is from this start."""
        if not self.started:
            return None
        in_seq = (out_seq - self.seq_offset) & 0xFFFF
        return in_seq if seq_newer_or_equal(in_seq, self.start_seq) else None
