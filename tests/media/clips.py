"""Pre-encoded test clips generated with PyAV (VP8 video + Opus audio in WebM)."""
from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import av


def pattern_frame(width: int, height: int, i: int) -> av.VideoFrame:
    """A moving test pattern: diagonal luma bars that shift each frame, tinted chroma."""
    frame = av.VideoFrame(width, height, "yuv420p")
    row = bytes(((x + 4 * i) * 3) & 0xFF for x in range(width + height))
    luma = b"".join(row[y:y + width] for y in range(height))
    y_plane, u_plane, v_plane = frame.planes
    _fill(y_plane, luma, width, height)
    cw, ch = width // 2, height // 2
    _fill(u_plane, bytes([(96 + i) & 0xFF]) * (cw * ch), cw, ch)
    _fill(v_plane, bytes([(160 - i) & 0xFF]) * (cw * ch), cw, ch)
    return frame


def _fill(plane: av.video.plane.VideoPlane, data: bytes, width: int, height: int) -> None:
    stride = plane.line_size
    if stride == width:
        plane.update(data)
    else:
        plane.update(b"".join(data[y * width:(y + 1) * width] + b"\0" * (stride - width) for y in range(height)))


def make_clip(path: Path, *, seconds: float = 2.0, width: int = 320, height: int = 240, fps: int = 30,
              gop: int = 15, video_kbps: int = 300, audio: bool = True) -> Path:
    """Encode `seconds` of VP8 test pattern (+ a 440 Hz Opus tone) into a WebM file."""
    with av.open(str(path), "w", format="webm") as out:
        vs = out.add_stream("libvpx", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.bit_rate = video_kbps * 1000
        vs.codec_context.gop_size = gop
        vs.codec_context.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        as_ = None
        if audio:
            as_ = out.add_stream("libopus", rate=48000)
            as_.layout = "stereo"
        n_frames = int(seconds * fps)
        for i in range(n_frames):
            frame = pattern_frame(width, height, i)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        if as_ is not None:
            samples = 960
            for j in range(int(seconds * 48000 / samples)):
                pcm = b"".join(struct.pack("<hh", v, v) for v in (
                    int(8000 * math.sin(2 * math.pi * 440 * (j * samples + k) / 48000)) for k in range(samples)))
                af = av.AudioFrame(format="s16", layout="stereo", samples=samples)
                af.planes[0].update(pcm)
                af.sample_rate = 48000
                af.pts = j * samples
                af.time_base = Fraction(1, 48000)
                for packet in as_.encode(af):
                    out.mux(packet)
            for packet in as_.encode(None):
                out.mux(packet)
    return path


class PacketSource:
    """Pre-encoded packets of a clip, played in real time and looped, for aiortc senders.

    aiortc's own `MediaPlayer(decode=False, loop=True)` stops pacing after the first loop (its
    demux thread seeks back to pts 0 and `PlayerStreamTrack.recv` then never sleeps), so a
    looping publisher floods the event loop. This reads the clip once and paces every loop.
    """

    def __init__(self, path: Path) -> None:
        self.start: float | None = None
        self.packets: dict[str, list[tuple[int, Fraction, bytes, bool]]] = {"audio": [], "video": []}
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.size and packet.pts is not None:
                    self.packets[packet.stream.type].append(
                        (packet.pts, packet.time_base, bytes(packet), packet.is_keyframe))
        self.duration = max(float(p[0] * p[1]) for kind in self.packets.values() for p in kind[-1:]) + 0.04

    def track(self, kind: str) -> "PacketTrack":
        return PacketTrack(self, kind)


from aiortc.mediastreams import MediaStreamTrack  # noqa: E402


class PacketTrack(MediaStreamTrack):
    def __init__(self, source: PacketSource, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source = source
        self.i = 0

    async def recv(self) -> av.Packet:
        import asyncio
        import time

        packets = self.source.packets[self.kind]
        n, loop_no = self.i % len(packets), self.i // len(packets)
        self.i += 1
        pts, tb, data, key = packets[n]
        offset = loop_no * self.source.duration
        at = float(pts * tb) + offset
        if self.source.start is None:
            self.source.start = time.monotonic() - at
        wait = self.source.start + at - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(data)
        packet.pts = pts + int(offset / tb)
        packet.time_base = tb
        return packet
