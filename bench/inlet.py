"""The receive path alone: CPU per received publisher packet, media.sfu's Python path against the C
receive path (media.inlet) with aiortc's REMB estimator and with the C one (media.estimator), in the
same run.

Each round builds a fresh `Publication` on real aiortc objects (tests/media/twins.py) and feeds
it SRTP-protected 360p-like VP8 packets (~1,000-byte payloads, two per frame, abs-send-time on
every packet, as a browser sends them) the way `media.sfu._Inlet` does: unprotect, parse, aiortc's
receiver statistics, NACK generator and REMB estimator, the history, then the fan-out, here to no
leg (tests/media/test_inlet.py checks forwarding; bench/sfu.py measures it). The Python path
runs aiortc's estimator, as a node without the C extensions does. Rounds alternate the three so
all see the same machine; the figure is the median round. CPU is process time.

    .venv/bin/python bench/inlet.py                 # 5 rounds of 20,000 packets each of the three ways
    .venv/bin/python bench/inlet.py --packets 50000 --rounds 7
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc.rate import RemoteBitrateEstimator

from media import estimator, inlet
from tests.media.twins import Twin, make_link, rtp, sessions


def packets(n: int) -> list[bytes]:
    """n packets of one VP8 stream: two per frame at 30 fps, the first one a keyframe start."""
    out = []
    for i in range(n):
        frame = i // 2
        payload = (b"\x10\x00\x9d\x01\x2a" if i == 0 else b"\x10\x01") + bytes(1000)
        abs_time = int(frame / 30 * (1 << 18)) & 0xFFFFFF  # 6.18 fixed-point seconds
        out.append(rtp(i & 0xFFFF, (frame * 3000) & 0xFFFFFFFF, marker=i % 2, payload=payload, abs_time=abs_time))
    return out


WAYS = {"Python": (False, False), "C, aiortc's estimator": (True, False), "C, C estimator": (True, True)}


async def one_round(fast: bool, c_estimator: bool, data: list[bytes]) -> float:
    """CPU seconds per packet for one fresh publication fed every packet once."""
    link = make_link()
    twin = Twin("video", fast, link)
    try:
        await twin.start()
        twin.pub.outlets = []  # the receive path only
        # without the test twin's recording wrapper
        twin.pub._estimator = estimator.new() if c_estimator else RemoteBitrateEstimator()
        tx, rx, _ = sessions()
        protected = [tx.protect(d) for d in data]
        start = time.process_time()
        for p in protected:
            twin.feed(p, rx)
        cpu = time.process_time() - start
        assert twin.pub.packets == len(data), (twin.pub.packets, len(data))
        if fast:
            assert twin.fast is not None and twin.fast.handled == len(data) - 1
        return cpu / len(data)
    finally:
        twin.close()
        link.tx.close()
        link.rx.close()


async def main(args: argparse.Namespace) -> None:
    if not (inlet.FAST and estimator.FAST):
        raise SystemExit("media._inlet or media._estimator is not built: install gcc and python3-dev, then "
                         "`pip install -e .`")
    data = packets(args.packets)
    results: dict[str, list[float]] = {way: [] for way in WAYS}
    for r in range(args.rounds):
        for way, (fast, c_estimator) in WAYS.items():
            results[way].append(await one_round(fast, c_estimator, data))
        print(f"round {r + 1}: " + ", ".join(f"{way} {results[way][-1] * 1e6:.1f} us" for way in WAYS) + " per packet",
              flush=True)
    median = {way: statistics.median(got) for way, got in results.items()}
    py = median["Python"]
    print(f"=> receive path per packet (median of {args.rounds} rounds of {args.packets}): "
          + "; ".join(f"{way} {m * 1e6:.1f} us ({py / m:.1f}x less than Python)" for way, m in median.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
