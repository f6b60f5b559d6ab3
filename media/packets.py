"""Small pieces of the packet path: keyframe detection, per-leg history, sequence/timestamp maps.

Nothing here touches aiortc internals or the network; `media.sfu` composes them.
"""
from __future__ import annotations

from typing import Generic, Optional, TypeVar

T = TypeVar("T")


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

    __slots__ = ("size", "_slots")

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._slots: list[Optional[tuple[int, T]]] = [None] * size

    def put(self, seq: int, item: T) -> None:
        self._slots[seq % self.size] = (seq, item)

    def get(self, seq: int) -> Optional[T]:
        slot = self._slots[seq % self.size]
        if slot is not None and slot[0] == seq:
            return slot[1]
        return None


def seq_newer_or_equal(a: int, b: int) -> bool:
    """a is b or after b in 16-bit sequence space."""
    return ((a - b) & 0xFFFF) < 0x8000


class StreamMap:
    """Maps one publisher stream's sequence numbers and timestamps onto a subscriber leg.

    `start(in_seq, in_ts, now)` (at a keyframe, or the first audio packet) fixes offsets so the
    leg's outgoing numbering continues from where it stopped: sequence numbers stay contiguous,
    and the timestamp advances by the wall-clock time the leg was paused, so a subscriber's
    jitter buffer sees one continuous stream across pauses and source restarts.
    """

    __slots__ = ("clock_rate", "seq_offset", "ts_offset", "start_seq", "last_seq", "last_ts",
                 "last_time", "started")

    def __init__(self, clock_rate: int, first_seq: int, first_ts: int) -> None:
        self.clock_rate = clock_rate
        self.seq_offset = 0
        self.ts_offset = 0
        self.start_seq = 0
        self.last_seq = (first_seq - 1) & 0xFFFF  # next outgoing is first_seq
        self.last_ts = first_ts
        self.last_time: Optional[float] = None
        self.started = False

    def start(self, in_seq: int, in_ts: int, now: float) -> None:
        out_seq = (self.last_seq + 1) & 0xFFFF
        gap = 0 if self.last_time is None else max(1, int((now - self.last_time) * self.clock_rate))
        out_ts = (self.last_ts + gap) & 0xFFFFFFFF
        self.seq_offset = (out_seq - in_seq) & 0xFFFF
        self.ts_offset = (out_ts - in_ts) & 0xFFFFFFFF
        self.start_seq = in_seq
        self.started = True

    def stop(self) -> None:
        self.started = False

    def map(self, in_seq: int, in_ts: int, now: float) -> Optional[tuple[int, int]]:
        """(out_seq, out_ts), or None for a packet older than the current start."""
        if not seq_newer_or_equal(in_seq, self.start_seq):
            return None
        seq = (in_seq + self.seq_offset) & 0xFFFF
        ts = (in_ts + self.ts_offset) & 0xFFFFFFFF
        if seq_newer_or_equal(seq, self.last_seq):
            self.last_seq, self.last_ts, self.last_time = seq, ts, now
        return seq, ts
