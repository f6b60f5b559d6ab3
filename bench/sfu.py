"""Forwarding unit (media.sfu.Room) against aiortc's decode/re-encode MediaRelay, side by side.

The forwarder runs in its own process (JSON-lines signalling over a local TCP socket, media over
ICE on the host's own address); this process holds the client peers. Publishers send a
pre-encoded VP8 (+ Opus) clip, so they only packetize; subscribers count frames instead of
decoding them (aiortc's decoder_worker is replaced in *this* process only), so the peers stay
cheap. The forwarder reports its own CPU time (all threads), sampled after a warm-up.

    .venv/bin/python bench/sfu.py                 # ratio scenario + 10-person room, ~2 minutes
    .venv/bin/python bench/sfu.py --measure 15 --publishers 2 --subscribers 3
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# --------------------------------------------------------------------------------------------
# forwarder process
# --------------------------------------------------------------------------------------------


class TranscodeRoom:
    """The stock pattern: decode each publisher once, re-encode per subscriber (MediaRelay)."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.pcs: dict[str, Any] = {}
        self.tracks: dict[str, list[Any]] = {}

    async def join(self, pid: str, sdp: str, recv: list[str]) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs[pid] = pc
        got: list[Any] = []
        pc.on("track", got.append)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self.tracks[pid] = got
        for pub in recv:  # the subscriber offered one recvonly video m-line per publisher
            for track in self.tracks[pub]:
                if track.kind == "video":
                    pc.addTrack(self.relay.subscribe(track, buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def answer(self, pid: str, sdp: str) -> None:
        raise RuntimeError("the transcode relay never renegotiates")

    async def close(self) -> None:
        for pc in self.pcs.values():
            await pc.close()


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def serve(mode: str) -> None:
    from media.sfu import Room

    writer_box: list[asyncio.StreamWriter] = []

    def send(msg: dict[str, Any]) -> None:
        writer_box[0].write((json.dumps(msg) + "\n").encode())

    room: Any
    if mode == "rtp":
        room = Room(ice_servers=[], on_offer=lambda pid, sdp: send({"op": "offer", "pid": pid, "sdp": sdp}))
    else:
        room = TranscodeRoom()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer_box.append(writer)
        while line := await reader.readline():
            msg = json.loads(line)
            op = msg["op"]
            if op == "join":
                sdp = await room.join(msg["pid"], msg["sdp"], msg["recv"]) if mode != "rtp" else \
                    await room.join(msg["pid"], msg["sdp"])
                send({"id": msg["id"], "sdp": sdp})
            elif op == "answer":
                await room.answer(msg["pid"], msg["sdp"])
            elif op == "cpu":
                sent = 0
                if mode == "rtp":
                    sent = sum(leg.sent for pid in room.participants
                               for pub in room.participant(pid).publications for leg in pub.legs)
                send({"id": msg["id"], "cpu": time.process_time(), "wall": time.monotonic(), "rss": _rss_mb(),
                      "sent": sent})
            elif op == "quit":
                break
        await room.close()
        done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    server.close()


# --------------------------------------------------------------------------------------------
# peers (this process)
# --------------------------------------------------------------------------------------------

FRAMES: collections.Counter[str] = collections.Counter()


def _counting_decoder_worker(loop, input_q, output_q, decode_error) -> None:  # type: ignore[no-untyped-def]
    while (task := input_q.get()) is not None:
        FRAMES[task[0].mimeType.split("/")[0]] += 1


class Forwarder:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.clients: dict[str, Any] = {}
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._n = 0

    async def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.mode], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        port = int(await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline))
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while line := await self.reader.readline():
            msg = json.loads(line)
            if "id" in msg:
                self._pending.pop(msg["id"]).set_result(msg)
            elif msg["op"] == "offer":
                asyncio.ensure_future(self.clients[msg["pid"]].handle_offer(msg["sdp"]))

    async def request(self, **msg: Any) -> dict[str, Any]:
        self._n += 1
        msg["id"] = self._n
        fut = asyncio.get_running_loop().create_future()
        self._pending[self._n] = fut
        self.writer.write((json.dumps(msg) + "\n").encode())
        return await fut

    def post(self, **msg: Any) -> None:
        self.writer.write((json.dumps(msg) + "\n").encode())

    async def stop(self) -> None:
        self.post(op="quit")
        await self.writer.drain()
        assert self.proc is not None
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait)
        self._task.cancel()


class Peer:
    def __init__(self, pid: str, fwd: Forwarder, source: Any, *, video: bool, audio: bool,
                 recv_video_from: list[str]) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.pid, self.fwd = pid, fwd
        self.recv = recv_video_from
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if audio:
            self.pc.addTransceiver(source.track("audio"), direction="sendonly")
        if video:
            self.pc.addTransceiver(source.track("video"), direction="sendonly")
        for _ in recv_video_from:  # transcode relay: answers into these
            self.pc.addTransceiver("video", direction="recvonly")
        if not (audio or video or recv_video_from):
            self.pc.addTransceiver("audio", direction="recvonly")
        fwd.clients[pid] = self

    async def join(self) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await self.fwd.request(op="join", pid=self.pid, sdp=self.pc.localDescription.sdp, recv=self.recv)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def handle_offer(self, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.fwd.post(op="answer", pid=self.pid, sdp=self.pc.localDescription.sdp)


async def run_scenario(mode: str, name: str, roster: list[dict[str, Any]], source: Any, warmup: float,
                       measure: float, video_streams: int, audio_streams: int) -> dict[str, Any]:
    fwd = Forwarder(mode)
    await fwd.start()
    peers = [Peer(r["pid"], fwd, source, video=r["video"], audio=r["audio"], recv_video_from=r.get("recv", []))
             for r in roster]
    for p in peers:
        await p.join()
    await asyncio.sleep(warmup)
    a, f0 = await fwd.request(op="cpu"), dict(FRAMES)
    await asyncio.sleep(measure)
    b, f1 = await fwd.request(op="cpu"), dict(FRAMES)
    wall = b["wall"] - a["wall"]
    cores = (b["cpu"] - a["cpu"]) / wall
    vfps = (f1.get("video", 0) - f0.get("video", 0)) / wall / max(1, video_streams)
    afps = (f1.get("audio", 0) - f0.get("audio", 0)) / wall / max(1, audio_streams)
    await fwd.stop()
    for p in peers:
        await p.pc.close()
    pps = (b["sent"] - a["sent"]) / wall
    return {"mode": mode, "name": name, "cores": cores, "pps": pps, "video_streams": video_streams,
            "audio_streams": audio_streams, "video_fps": vfps, "audio_fps": afps, "rss": b["rss"]}


def show(r: dict[str, Any]) -> None:
    per = r["cores"] / max(1, r["video_streams"] + r["audio_streams"])
    print(f"  {r['name']:<34} {r['mode']:<9} {r['cores']*100:6.1f} % of a core  "
          f"{r['video_streams']:3d} video + {r['audio_streams']:3d} audio out  "
          f"{per*1e3:6.2f} mcore/stream  video {r['video_fps']:4.1f} fps/stream  "
          f"audio {r['audio_fps']:4.1f}/s/stream  RSS {r['rss']:.0f} MB", flush=True)
    if r["pps"]:
        print(f"  {'':<34} {r['pps']:.0f} packets/s forwarded, {r['cores'] / r['pps'] * 1e6:.0f} us of CPU each "
              f"(everything in the process divided by forwarded packets)", flush=True)


async def main(args: argparse.Namespace) -> None:
    import aiortc.rtcrtpreceiver as rr
    from aioice.ice import get_host_addresses

    from tests.media.clips import PacketSource, make_clip

    if not get_host_addresses(use_ipv4=True, use_ipv6=False):
        raise SystemExit("no non-loopback IPv4 address: aioice offers no host candidate here")
    rr.decoder_worker = _counting_decoder_worker  # peers in this process count frames, never decode

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        clip = make_clip(Path(tmp) / "360p.webm", seconds=5.0, width=640, height=360, gop=150, video_kbps=600)
        source = PacketSource(clip)
        n_video = len(source.packets["video"])
        print(f"clip: 640x360 VP8 ~600 kbit/s + Opus, {source.duration:.1f} s, {n_video} video frames "
              f"(encoded in {time.monotonic() - t0:.1f} s)", flush=True)

        k, m = args.publishers, args.subscribers
        print(f"\n1) {k} video publishers x {m} subscribers ({k*m} forwarded video streams), "
              f"warm-up {args.warmup:.0f} s, measured {args.measure:.0f} s", flush=True)
        results = {}
        for mode in ("rtp", "transcode"):
            roster = [{"pid": f"p{i}", "video": True, "audio": False} for i in range(k)]
            recv = [f"p{i}" for i in range(k)] if mode == "transcode" else []
            roster += [{"pid": f"s{j}", "video": False, "audio": False, "recv": recv} for j in range(m)]
            results[mode] = await run_scenario(mode, f"{k}x{m} video", roster, source, args.warmup,
                                               args.measure, k * m, 0)
            show(results[mode])
        ratio = (results["transcode"]["cores"] / (k * m)) / (results["rtp"]["cores"] / (k * m))
        print(f"  => forwarding is {ratio:.0f}x cheaper per forwarded stream than decode/re-encode "
              f"(target >= 60x)", flush=True)

        print("\n2) 10-person room: 6 cameras (360p) + 10 microphones, everyone subscribes, max_video 6",
              flush=True)
        roster = [{"pid": f"c{i}", "video": i < 6, "audio": True} for i in range(10)]
        video_out = 6 * 5 + 4 * 6
        room = await run_scenario("rtp", "10-person room", roster, source, args.warmup, args.measure,
                                  video_out, 10 * 9)
        show(room)
        print(f"  => {room['cores']*100:.1f} % of one core (target < 25 %)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", choices=["rtp", "transcode"], help=argparse.SUPPRESS)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--measure", type=float, default=15.0)
    a = parser.parse_args()
    if a.serve and os.environ.get("SFU_BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(asyncio.run, serve(a.serve))
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    elif a.serve:
        asyncio.run(serve(a.serve))
    else:
        asyncio.run(main(a))
