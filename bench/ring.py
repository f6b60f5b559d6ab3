"""Benchmark the ring time: from a citizen's "Ring op" to the alert in every on-duty console.

What is measured
    A real node (``bench.chat.node_child``: SQLCipher, TLS from the node's own CA, zeroconf off)
    runs in a child process. ``--consoles`` staff accounts log in and go on duty; each console
    socket feeds every frame it gets to the console's own state machine (``tui.state.ConsoleState``,
    which raises the alert), as the Textual console does. ``--waiting`` citizens wait in the chat
    queue, so every call also pays for the queue broadcast a real evening has.

    One round: a newly connected citizen sends ``call.start``; the clock stops when the last console has
    applied its ``call.ring`` for that call (and, separately, when the first one has). The citizen
    then hangs up (``call.hangup``) and the consoles get ``call.ring_stop``. Rounds follow each
    other with a short pause, so the calls do not queue behind each other.

Baseline in the same run
    Just before its call, the same citizen socket sends ``ping`` and waits for ``pong``: the node's
    cheapest round trip over the same TLS WebSocket (validation and dispatch, no store). Ring
    rounds and ping rounds alternate (ABAB), so both see the same background noise, and the
    report gives the ratio ring p50 / ping p50.

Target (issue 5): ring time p99 below 1 s on loopback.

Run from the repository root::

    .venv/bin/python bench/ring.py [--rounds 300] [--consoles 5] [--waiting 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench.chat import client_session, node_child, summary  # noqa: E402
from tui.state import ConsoleState  # noqa: E402

TARGET_P99_S = 1.0


class Console:
    """One on-duty console socket whose frames go through the console's own state machine."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.state = ws, ConsoleState()
        self.rung: dict[str, float] = {}  # conversation → when its call.ring had been applied
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.state.apply(frame)
            if frame.get("type") == "call.ring":
                self.rung.setdefault(str(frame.get("conversation")), time.perf_counter())


async def expect(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        while True:
            frame = json.loads((await ws.receive()).data)
            if frame.get("type") in (kind, "error"):
                return frame
    return await asyncio.wait_for(wait(), timeout)


async def wait_rung(consoles: list[Console], cid: str, timeout: float = 10.0) -> list[float]:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if all(cid in c.rung for c in consoles):
            return [c.rung[cid] for c in consoles]
        await asyncio.sleep(0.0005)
    raise TimeoutError(f"call {cid} did not ring every console within {timeout} s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=node_child, args=(child, args.consoles, False, None, False))
    proc.start()
    info = parent.recv()
    base = f"{info['scheme']}://localhost:{info['port']}"
    session = client_session(base, info["ca"])
    consoles: list[Console] = []
    ring_last: list[float] = []
    ring_first: list[float] = []
    pings: list[float] = []
    try:
        for token in info["tokens"]:
            ws = await session.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
            await expect(ws, "welcome")
            await ws.send_json({"type": "duty.set", "on": True})
            while (await expect(ws, "duty")).get("on") is not True:
                pass
            consoles.append(Console(ws))
        waiting = []
        for _ in range(args.waiting):
            ws = await session.ws_connect("/ws", origin=base)
            await expect(ws, "welcome")
            await ws.send_json({"type": "chat.start", "danger": False})
            assert (await expect(ws, "chat.started"))["type"] == "chat.started"
            waiting.append(ws)
        await asyncio.sleep(1.0)
        for i in range(args.rounds):
            caller = await session.ws_connect("/ws", origin=base)  # every caller is a new person
            await expect(caller, "welcome")
            began = time.perf_counter()
            await caller.send_json({"type": "ping", "id": f"p{i}"})
            await expect(caller, "pong")
            pings.append(time.perf_counter() - began)
            began = time.perf_counter()
            await caller.send_json({"type": "call.start", "media": "audio", "danger": False})
            started = await expect(caller, "call.started")
            assert started["type"] == "call.started", started
            times = await wait_rung(consoles, started["conversation"])
            ring_last.append(max(times) - began)
            ring_first.append(min(times) - began)
            await caller.send_json({"type": "call.hangup"})
            await expect(caller, "call.ended")
            await caller.close()
            await asyncio.sleep(args.pause)
    finally:
        for c in consoles:
            c.reader.cancel()
        await session.close()
        parent.send("stop")
        tail = parent.recv()
        proc.join(10)
    return {"info": info, "last": ring_last, "first": ring_first, "ping": pings, "log": tail}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--consoles", type=int, default=5)
    ap.add_argument("--waiting", type=int, default=20, help="chats waiting in the queue during the run")
    ap.add_argument("--pause", type=float, default=0.05, help="seconds between rounds")
    args = ap.parse_args()
    wall = time.monotonic()
    result = asyncio.run(run(args))
    ms = 1000.0
    last, first, ping = summary(result["last"]), summary(result["first"]), summary(result["ping"])
    print(f"fristed ring-time benchmark: {args.rounds} calls, {args.consoles} on-duty consoles, "
          f"{args.waiting} chats waiting, TLS (node CA), loopback")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average at end {os.getloadavg()[0]:.2f}, whole run {time.monotonic() - wall:.0f} s")
    print(f"| {'measure (ms)':<38}| {'p50':>7} | {'p95':>7} | {'p99':>7} | {'max':>7} |")
    print(f"|{'-' * 39}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for title, s in (("call.start -> alert in every console", last), ("call.start -> alert in first console", first),
                     ("baseline: ping -> pong, same socket", ping)):
        print(f"| {title:<38}| {s['p50'] * ms:7.1f} | {s['p95'] * ms:7.1f} | {s['p99'] * ms:7.1f} | "
              f"{s['max'] * ms:7.1f} |")
    print(f"ratio ring (every console) p50 / ping p50: {last['p50'] / ping['p50']:.1f}x")
    verdict = "met" if last["p99"] < TARGET_P99_S else "NOT met"
    print(f"target p99 < {TARGET_P99_S * ms:.0f} ms: {verdict} ({last['p99'] * ms:.1f} ms)")
    problems = result["log"].get("log_problem_count", 0)
    print(f"node log warnings/errors during the run: {problems}")


if __name__ == "__main__":
    main()
