"""What a process pays here just to be woken for each received datagram, at a room's packet rates.

A forwarder sleeps between packets, so every packet a publisher sends first costs a wake-up: the
kernel's, the scheduler's and (on asyncio) the event loop's, with caches gone cold meanwhile. This
measures that floor with no media code at all, so bench/sfu.py's per-publisher figures can be read
against it. A sender process sends 1,000-byte datagrams on loopback at a fixed rate; the receiver
does nothing with them and reports its own CPU time (process time) per datagram, for:

- a bare `select.epoll` loop with a non-blocking `recv` (the baseline), and
- an asyncio datagram endpoint whose `datagram_received` does nothing (what the node runs on).

Rounds alternate the two at each rate so both see the same machine; the figure is the median.

    .venv/bin/python bench/wakeup.py                      # 60, 120 and 860 datagrams/s, 3 rounds
    .venv/bin/python bench/wakeup.py --rates 60 --rounds 5 --seconds 10
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import select
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

PAYLOAD = b"\x80" + bytes(999)
WARMUP = 0.5  # s before the measured window


def send(port: int, rate: int, seconds: float) -> None:
    """Send `rate` datagrams/s to 127.0.0.1:port for `seconds`, paced against the clock."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start, i = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        s.sendto(PAYLOAD, ("127.0.0.1", port))
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    s.close()


def _sender(port: int, rate: int, seconds: float) -> Any:
    proc = multiprocessing.get_context("spawn").Process(target=send, args=(port, rate, seconds + WARMUP + 0.5),
                                                        daemon=True)
    proc.start()
    return proc


def bare_epoll(rate: int, seconds: float) -> float:
    """CPU seconds per datagram for a bare epoll loop."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    proc = _sender(rx.getsockname()[1], rate, seconds)
    ep = select.epoll()
    ep.register(rx.fileno(), select.EPOLLIN)
    n, began, mark = 0, time.monotonic(), None
    while time.monotonic() - began < WARMUP + seconds:
        if mark is None and time.monotonic() - began >= WARMUP:
            mark = (time.process_time(), n)
        if ep.poll(0.1):
            while True:
                try:
                    rx.recv(2048)
                    n += 1
                except BlockingIOError:
                    break
    cpu = time.process_time()
    proc.join()
    ep.close()
    rx.close()
    assert mark is not None
    return (cpu - mark[0]) / max(1, n - mark[1])


class _Nothing(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.n = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.n += 1


async def _asyncio_endpoint(rate: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Nothing, local_addr=("127.0.0.1", 0))
    proc = _sender(transport.get_extra_info("sockname")[1], rate, seconds)
    await asyncio.sleep(WARMUP)
    cpu0, n0 = time.process_time(), protocol.n
    await asyncio.sleep(seconds)
    cpu1, n1 = time.process_time(), protocol.n
    transport.close()
    await loop.run_in_executor(None, proc.join)
    return (cpu1 - cpu0) / max(1, n1 - n0)


def asyncio_endpoint(rate: int, seconds: float) -> float:
    """CPU seconds per datagram for an asyncio datagram endpoint that does nothing."""
    return asyncio.run(_asyncio_endpoint(rate, seconds))


def main(args: argparse.Namespace) -> None:
    print(f"start {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
    kinds: dict[str, Callable[[int, float], float]] = {"epoll": bare_epoll, "asyncio": asyncio_endpoint}
    for rate in args.rates:
        got: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(args.rounds):
            for name, measure in kinds.items():
                got[name].append(measure(rate, args.seconds))
        e, a = statistics.median(got["epoll"]), statistics.median(got["asyncio"])
        print(f"{rate:5d} datagrams/s: bare epoll {e * 1e6:6.1f} us per datagram ({e * rate * 1e3:5.2f} mcore), "
              f"asyncio doing nothing {a * 1e6:6.1f} us ({a * rate * 1e3:5.2f} mcore); ratio asyncio/epoll "
              f"{a / e:.2f}x (rounds: {', '.join(f'{x * 1e6:.0f}' for x in got['asyncio'])} us against "
              f"{', '.join(f'{x * 1e6:.0f}' for x in got['epoll'])})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=int, nargs="+", default=[60, 120, 860],
                        help="datagrams/s: one 360p camera, two, and the 10-person room's whole intake")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    main(parser.parse_args())
