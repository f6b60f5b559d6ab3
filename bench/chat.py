"""Benchmark the live chat under many concurrent open chats, against a bare WebSocket relay.

What is compared
    *fristed*: a real node (``node.server.start``: SQLCipher store, real TLS from the node's own
    CA unless ``--http``, zeroconf off) in a child process. ``M`` staff accounts are enrolled
    through the node's own account functions, log in over HTTPS, connect to ``/ws`` with their
    bearer token and go on duty; ``N`` anonymous citizens connect to ``/ws`` and send
    ``chat.start``; the staff take every chat by id (citizen ``i`` goes to staff ``i % M``), so
    there are ``N`` concurrent open chats. Every ``chat.send`` is validated, persisted in its own
    fsync'd transaction and acknowledged, then relayed, exactly as in production.

    *echo*: a bare aiohttp WebSocket relay in a second child process, with the same TLS
    certificate, the same number of connections and the same frames: a citizen's ``chat.send``
    is answered with a ``chat.ack`` and relayed to its staff socket as ``chat.message`` (and
    back the other way), JSON in and out, no validation, no store. It is the floor that
    Python + aiohttp + TLS on this machine can reach for the same traffic.

    The load generator (all sockets of both systems) runs in this, the parent, process. The
    node and the relay each have a process of their own, so their CPU time is measured alone
    (``time.process_time`` in the child, split into event-loop thread and store thread for the
    node) while the machine's two cores are shared with the load generator, as a small node
    would share them with whatever else runs on it.

Workload (steady phase)
    Each citizen sends one message every 2-5 s (uniformly jittered; far under the node's 5 frames/s
    per-connection limit), 3-40 words long. The owning staff member answers a fraction of them
    (``--reply-fraction``, default 0.25) after a 1-4 s "typing" pause; each staff socket is paced
    by the client to at most 4.5 frames/s so it never meets the node's own per-connection limit
    (5/s, burst 30) -- with 50 chats per staff member that limit, not the node, bounds how much
    staff can write. Latency is measured from just before the sender's ``send_str`` to the
    moment the receiving socket yields the frame (both ends in this process, one monotonic
    clock): citizen -> staff ``chat.message``, staff -> citizen ``chat.message``, and each
    sender's own ``chat.ack``.

    The steady phase is cut into blocks that alternate between the systems in ABBA order
    (fristed, echo, echo, fristed, ...), so both see the same background noise; after each block
    the senders stop and in-flight messages get up to 5 s to arrive (anything later counts as
    lost).

Rate limits
    All connections come from one loopback address, so the node's anonymous connection-open
    limit (1/s, burst 20 per source) is raised on the running node object
    (``node.ctx.anonymous_limit`` is replaced by a ``KeyedBuckets`` of 10^6/s); everything
    else, including the per-connection message limit, is left as in production.

Clock
    The node runs on an ``OffsetClock``: real time plus an offset that enrolment can advance by
    30 s to get a fresh TOTP step per login (a frozen ``ManualClock`` would stop the token
    buckets from refilling and give every message the same timestamp).

Run from the repository root::

    .venv/bin/python bench/chat.py [--citizens N] [--staff M] [--seconds S] [--http] [--diagnose] [--profile FILE]

Defaults: 500 citizens, 10 staff, 48 s of steady load per system (4 blocks of 12 s each); the
whole run takes about 2 minutes on a 2-core VM (10-30 s of it setting up the 1020 TLS sockets and
500 chats). ``--diagnose`` adds, for the node, timings of every store call (queue wait, time on
the store thread, BEGIN+COMMIT) and of every WebSocket handler, by wrapping them in the child
process (the node's code is unchanged). ``--profile FILE`` runs cProfile on the node's event-loop
thread during the fristed blocks and prints the top functions. Both children always report CPU
time, run-queue wait (from /proc/self/task/*/schedstat) and event-loop lag (a 20 ms timer).
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import multiprocessing as mp
import os
import platform
import pstats
import random
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from node.clock import Clock  # noqa: E402

PASSWORD = "korrekt hest batteri hæfteklamme"
WORDS = ("jeg har det svært i dag og ved ikke hvem jeg skal tale med om det der sker derhjemme "
         "min mor er syg og skolen går ikke godt men jeg prøver at holde modet oppe hver eneste "
         "aften tak fordi du lytter det betyder meget for mig at nogen er her lige nu").split()
STAFF_RATE, STAFF_BURST = 4.5, 10.0  # client-side pacing of each staff socket (node allows 5/s, burst 30)
DRAIN_S = 5.0


class OffsetClock(Clock):
    """Real time plus an offset that can be moved forward (fresh TOTP steps for enrolment)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


# ---------------------------------------------------------------------------------------- children


def _serve_commands(pipe: Any, handle: Callable[[str], Any]) -> Any:
    """The children's command loop: answer the parent's requests until "stop"."""
    async def run() -> None:
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, pipe.recv)
            if cmd == "stop":
                return
            pipe.send(await handle(cmd))
    return run()


def _schedstat() -> dict[int, tuple[int, int]]:
    """Per-thread (ns on a CPU, ns waiting on a run queue) from /proc (Linux with schedstats)."""
    out: dict[int, tuple[int, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                run, wait = fh.read().split()[:2]
        except (OSError, ValueError):
            continue
        out[int(tid)] = (int(run), int(wait))
    return out


class Probe:
    """What a child reports about itself: CPU time, run-queue wait, event-loop lag and, with
    ``--diagnose``, timings of the node's store calls and WebSocket handlers (recorded only
    between the parent's "begin" and "end" of a block)."""

    TICK = 0.02

    def __init__(self) -> None:
        self.loop_tid = threading.get_native_id()
        self.store_tid = 0
        self.recording = False
        self.samples: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {}
        self.ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(self.TICK)
            if self.recording:
                self.add("event-loop lag (20 ms timer)", time.perf_counter() - began - self.TICK)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def snapshot(self, store_cpu: float = 0.0) -> dict[str, float]:
        sched = _schedstat()
        return {"process": time.process_time(), "loop": time.thread_time(), "store": store_cpu,
                "wait_all": sum(w for _, w in sched.values()) / 1e9,
                "wait_loop": sched.get(self.loop_tid, (0, 0))[1] / 1e9,
                "wait_store": sched.get(self.store_tid, (0, 0))[1] / 1e9 if self.store_tid else 0.0}

    def report(self) -> dict[str, Any]:
        return {"samples": {k: summary(v) | {"n": len(v), "mean": statistics.fmean(v)}
                            for k, v in self.samples.items()}, "counts": dict(self.counts)}


def _instrument(store: Any, probe: Probe) -> None:
    """--diagnose: time every store call (queue wait, run time, resume delay) and every WebSocket
    handler, by wrapping them in this child process only; the node's code is not changed."""
    import node.store as store_module
    import node.ws as ws_module

    original_transaction = store_module.transaction

    def timed_transaction(conn: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        body = [0.0]

        def inner(c: Any, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(c, *a, **k)
            finally:
                body[0] = time.perf_counter() - t
        began = time.perf_counter()
        result = original_transaction(conn, inner, *args, **kwargs)
        if probe.recording:
            probe.add("store: BEGIN IMMEDIATE + COMMIT", time.perf_counter() - began - body[0])
            probe.add("store: write body (statements)", body[0])
        return result
    store_module.transaction = timed_transaction

    original_submit = store._submit

    async def timed_submit(fn: Callable[[], Any]) -> Any:
        box = [0.0, 0.0]

        def run() -> Any:
            box[0] = time.perf_counter()
            try:
                return fn()
            finally:
                box[1] = time.perf_counter()
        began = time.perf_counter()
        result = await original_submit(run)
        if probe.recording:
            probe.add("store: queue wait (loop -> store thread)", box[0] - began)
            probe.add("store: run time on store thread", box[1] - box[0])
            probe.add("store: resume delay (store thread -> loop)", time.perf_counter() - box[1])
            probe.count("store calls")
        return result
    store._submit = timed_submit

    original_dispatch = ws_module._dispatch

    async def timed_dispatch(peer: Any, data: Any, handlers: Any) -> None:
        began = time.perf_counter()
        await original_dispatch(peer, data, handlers)
        if probe.recording:
            who = "citizen" if peer.role == "citizen" else "staff"
            probe.add(f"ws handler: {who} frame", time.perf_counter() - began)
    ws_module._dispatch = timed_dispatch


def node_child(pipe: Any, staff: int, http: bool, profile: str | None, diagnose: bool) -> None:
    asyncio.run(_node_child(pipe, staff, http, profile, diagnose))


async def _node_child(pipe: Any, staff: int, http: bool, profile: str | None, diagnose: bool) -> None:
    from crypto import totp
    from node import accounts
    from node.config import NodeConfig
    from node.logs import JsonFormatter
    from node.ratelimit import KeyedBuckets
    from node.server import start

    tmp = Path(tempfile.mkdtemp(prefix="fristed-chat-bench-"))
    handler = logging.FileHandler(tmp / "node.log")  # production logs JSON lines at INFO
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel("INFO")
    clock = OffsetClock()
    config = NodeConfig(data_dir=tmp / "data", host="127.0.0.1", port=0, zeroconf=False, node_name="benchnode",
                        http=http)
    began = time.monotonic()
    node = await start(config, clock=clock)
    node.ctx.anonymous_limit = KeyedBuckets(clock, rate=1e6, burst=1e6)  # all load comes from 127.0.0.1
    try:
        store = node.ctx.store
        people = []
        for i in range(staff):
            name = f"Vagt {i + 1:02d}"
            code = await store.write(accounts.add, name, "volunteer", clock.now())
            _, secret = await store.write(accounts.enrol_start, code, clock.now())
            await store.write(accounts.enrol_finish, code, PASSWORD, totp.code_at(secret, clock.now()), clock.now())
            people.append((name, secret))
        clock.advance(30)  # the enrolment used this TOTP step of every account; logins need the next one
        scheme = "http" if http else "https"
        tls = node.ctx.tls
        client_ssl: ssl.SSLContext | bool = (ssl.create_default_context(cafile=str(tls.ca_cert))
                                             if tls and tls.ca_cert else False)
        async with aiohttp.ClientSession(f"{scheme}://localhost:{node.port}",
                                         connector=aiohttp.TCPConnector(ssl=client_ssl)) as http_client:
            async def login(name: str, secret: bytes) -> str:
                body = {"name": name, "password": PASSWORD, "totp": totp.code_at(secret, clock.now())}
                async with http_client.post("/api/login", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    return str((await resp.json())["token"])
            tokens = await asyncio.gather(*(login(n, s) for n, s in people))
        pipe.send({"port": node.port, "scheme": scheme, "tokens": tokens, "names": [n for n, _ in people],
                   "ca": str(tls.ca_cert) if tls and tls.ca_cert else None,
                   "cert": str(tls.cert) if tls else None, "key": str(tls.key) if tls else None,
                   "setup_s": time.monotonic() - began})
        prof = cProfile.Profile() if profile else None
        probe = Probe()
        probe.store_tid = await store.read(lambda c: threading.get_native_id())
        if diagnose:
            _instrument(store, probe)

        async def handle(cmd: str) -> Any:
            if cmd in ("begin", "end"):
                probe.recording = False
                snap = probe.snapshot(await store.read(lambda c: time.thread_time()))
                probe.recording = cmd == "begin"
                if prof:
                    (prof.enable if cmd == "begin" else prof.disable)()
                return snap
            if cmd == "report":
                return probe.report()
            if cmd == "db":
                return await store.read(lambda c: {
                    "messages": c.execute("SELECT count(*) FROM messages").fetchone()[0],
                    "active": c.execute("SELECT count(*) FROM conversations WHERE state = 'active'").fetchone()[0]})
            return None
        await _serve_commands(pipe, handle)
        if prof and profile:
            prof.dump_stats(profile)
    finally:
        await node.stop()
        logging.getLogger().handlers[:] = []
        handler.close()
        problems = [line for line in (tmp / "node.log").read_text().splitlines()
                    if '"level": "error"' in line or '"level": "warning"' in line]
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.send({"log_problems": problems[:20], "log_problem_count": len(problems)})


def echo_child(pipe: Any, cert: str | None, key: str | None) -> None:
    asyncio.run(_echo_child(pipe, cert, key))


async def _echo_child(pipe: Any, cert: str | None, key: str | None) -> None:
    citizens: dict[str, web.WebSocketResponse] = {}
    staff: dict[str, web.WebSocketResponse] = {}
    seq = 0

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal seq
        ws = web.WebSocketResponse(max_msg_size=16 * 1024, heartbeat=25.0, compress=False)
        await ws.prepare(request)
        conv, staff_id = request.query.get("c"), request.query["s"]
        name = None if conv else f"Vagt {int(staff_id) + 1:02d}"
        if conv:
            citizens[conv] = ws
        else:
            staff[staff_id] = ws
        await ws.send_str(json.dumps({"type": "welcome", "role": "citizen" if conv else "volunteer", "name": name,
                                      "version": "echo"}))
        async for raw in ws:
            if raw.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(raw.data)
            seq += 1
            message = {"id": seq, "ts": time.time(), "from": "citizen" if conv else "staff", "author": name,
                       "text": frame["text"], "deleted": False}
            if conv:
                await ws.send_str(json.dumps({"type": "chat.ack", "client_id": frame["client_id"],
                                              "message": message}, ensure_ascii=False))
                other = staff.get(staff_id)
                if other is not None and not other.closed:
                    await other.send_str(json.dumps({"type": "chat.message", "conversation": conv,
                                                     "message": message}, ensure_ascii=False))
            else:
                target = frame["conversation"]
                await ws.send_str(json.dumps({"type": "chat.ack", "client_id": frame["client_id"],
                                              "conversation": target, "message": message}, ensure_ascii=False))
                other = citizens.get(target)
                if other is not None and not other.closed:
                    await other.send_str(json.dumps({"type": "chat.message", "message": message},
                                                    ensure_ascii=False))
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    ctx = None
    if cert and key:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    pipe.send({"port": port})

    probe = Probe()

    async def handle(cmd: str) -> Any:
        if cmd in ("begin", "end"):
            probe.recording = cmd == "begin"
            return probe.snapshot()
        if cmd == "report":
            return probe.report()
        return None
    try:
        await _serve_commands(pipe, handle)
    finally:
        await runner.cleanup()
        pipe.send({})


# ---------------------------------------------------------------------------------------- load generator


@dataclass
class Stats:
    """Latencies (seconds) and counts of one system, over all of its blocks."""

    c2s: list[float] = field(default_factory=list)       # citizen send -> staff chat.message
    s2c: list[float] = field(default_factory=list)       # staff send -> citizen chat.message
    ack_c: list[float] = field(default_factory=list)     # citizen send -> own chat.ack
    ack_s: list[float] = field(default_factory=list)
    sent_c: int = 0
    sent_s: int = 0
    lost: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("process", "loop", "store", "wait_all", "wait_loop", "wait_store"), 0.0))
    gen_cpu: float = 0.0
    block_p99: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


class Conn:
    """One client WebSocket with a reader task; frames go to ``on_frame`` and, during setup, to a queue."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, on_frame: Callable[["Conn", dict[str, Any], float], None],
                 staff_index: int | None = None) -> None:
        self.ws, self.on_frame, self.staff_index = ws, on_frame, staff_index
        self.collect = True
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.conversation = ""
        self.outbox: asyncio.Queue[str] = asyncio.Queue()  # staff: conversations to answer
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            frame = json.loads(msg.data)
            self.on_frame(self, frame, now)
            if self.collect:
                self.inbox.put_nowait(frame)

    async def send(self, **frame: Any) -> None:
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def expect(self, *types: str, timeout: float = 60.0, **match: Any) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                frame = await self.inbox.get()
                if frame.get("type") in types and all(frame.get(k) == v for k, v in match.items()):
                    return frame
                if frame.get("type") == "error":
                    return frame
        return await asyncio.wait_for(wait(), timeout)

    def stop_collecting(self) -> None:
        self.collect = False
        while not self.inbox.empty():
            self.inbox.get_nowait()

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


class System:
    """One side of the comparison: its sockets, its traffic and its figures."""

    def __init__(self, label: str, args: argparse.Namespace, pipe: Any, rng: random.Random) -> None:
        self.label, self.args, self.pipe, self.rng = label, args, pipe, rng
        self.stats = Stats()
        self.citizens: list[Conn] = []
        self.staff: list[Conn] = []
        self.pending: dict[str, tuple[float, str]] = {}   # tag -> (sent at, direction)
        self.pending_ack: dict[str, tuple[float, str]] = {}
        self.active = False
        self.tag = 0
        self.session: aiohttp.ClientSession | None = None

    def next_tag(self) -> str:
        self.tag += 1
        return f"{self.label[0]}{self.tag}"

    def text(self, tag: str) -> str:
        return tag + " " + " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(3, 40)))

    def on_frame(self, conn: Conn, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("type")
        if kind == "chat.message":
            tag = frame["message"]["text"].split(" ", 1)[0]
            sent = self.pending.pop(tag, None)
            if sent is None:
                return
            (self.stats.c2s if sent[1] == "c2s" else self.stats.s2c).append(now - sent[0])
            if (sent[1] == "c2s" and self.active and conn.staff_index is not None
                    and self.rng.random() < self.args.reply_fraction):
                asyncio.get_running_loop().call_later(self.rng.uniform(1.0, 4.0), self._queue_reply, conn,
                                                      frame["conversation"])
        elif kind == "chat.ack":
            sent = self.pending_ack.pop(frame["client_id"], None)
            if sent is not None:
                (self.stats.ack_c if sent[1] == "c2s" else self.stats.ack_s).append(now - sent[0])
        elif kind == "error" and not conn.collect:
            self.stats.errors += 1
            if len(self.stats.error_samples) < 5:
                self.stats.error_samples.append(json.dumps(frame, ensure_ascii=False))

    def _queue_reply(self, staff: Conn, conversation: str) -> None:
        if self.active:
            staff.outbox.put_nowait(conversation)

    async def _send_chat(self, conn: Conn, direction: str, **extra: Any) -> None:
        tag = self.next_tag()
        frame = json.dumps({"type": "chat.send", **extra, "text": self.text(tag), "client_id": tag},
                           ensure_ascii=False)
        now = time.perf_counter()
        self.pending[tag] = (now, direction)
        self.pending_ack[tag] = (now, direction)
        if direction == "c2s":
            self.stats.sent_c += 1
        else:
            self.stats.sent_s += 1
        await conn.ws.send_str(frame)

    async def citizen_loop(self, conn: Conn, until: float) -> None:
        low, high = self.args.interval
        await asyncio.sleep(self.rng.uniform(0, (low + high) / 2))
        while time.perf_counter() < until:
            await self._send_chat(conn, "c2s")
            await asyncio.sleep(self.rng.uniform(low, high))

    async def staff_loop(self, conn: Conn) -> None:
        tokens, stamp = STAFF_BURST, time.perf_counter()
        while True:
            conversation = await conn.outbox.get()
            while True:
                now = time.perf_counter()
                tokens = min(STAFF_BURST, tokens + (now - stamp) * STAFF_RATE)
                stamp = now
                if tokens >= 1:
                    break
                await asyncio.sleep((1 - tokens) / STAFF_RATE)
            tokens -= 1
            if self.active:
                await self._send_chat(conn, "s2c", conversation=conversation)

    async def command(self, cmd: str) -> Any:
        self.pipe.send(cmd)
        return await asyncio.to_thread(self.pipe.recv)

    async def block(self, seconds: float) -> None:
        """One steady block: everyone talks for ``seconds``, then in-flight messages drain."""
        before, gen_before = await self.command("begin"), time.process_time()
        start = time.perf_counter()
        until = start + seconds
        self.active = True
        first = len(self.stats.c2s)
        tasks = [asyncio.create_task(self.citizen_loop(c, until)) for c in self.citizens]
        tasks += [asyncio.create_task(self.staff_loop(s)) for s in self.staff]
        await asyncio.sleep(seconds)
        self.active = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in self.staff:
            while not s.outbox.empty():
                s.outbox.get_nowait()
        deadline = time.perf_counter() + DRAIN_S
        while (self.pending or self.pending_ack) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        self.stats.seconds += seconds
        after, gen_after = await self.command("end"), time.process_time()
        for key in self.stats.cpu:
            self.stats.cpu[key] += after[key] - before[key]
        self.stats.gen_cpu += gen_after - gen_before
        self.stats.lost += len(self.pending)
        self.pending.clear()
        self.pending_ack.clear()
        block = self.stats.c2s[first:]
        if block:
            self.stats.block_p99.append(percentile(block, 99))


async def gather_limited(n: int, limit: int, make: Callable[[int], Any]) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(i: int) -> Any:
        async with sem:
            return await make(i)
    return list(await asyncio.gather(*(one(i) for i in range(n))))


def client_session(base: str, ca: str | None) -> aiohttp.ClientSession:
    ctx: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else False
    return aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(ssl=ctx, limit=0),
                                 cookie_jar=aiohttp.DummyCookieJar())


async def setup_fristed(sys_: System, info: dict[str, Any], args: argparse.Namespace) -> None:
    base = f"{info['scheme']}://localhost:{info['port']}"
    sys_.session = session = client_session(base, info["ca"])
    for j, token in enumerate(info["tokens"]):
        ws = await session.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})
        conn = Conn(ws, sys_.on_frame, staff_index=j)
        await conn.expect("welcome")
        await conn.send(type="duty.set", on=True)
        await conn.expect("duty", on=True)
        sys_.staff.append(conn)

    async def citizen(i: int) -> Conn:
        ws = await session.ws_connect("/ws", origin=base)
        conn = Conn(ws, sys_.on_frame)
        await conn.expect("welcome")
        await conn.send(type="chat.start", danger=False)
        started = await conn.expect("chat.started")
        assert started["type"] == "chat.started", started
        conn.conversation = started["conversation"]
        return conn

    async def take(staff: Conn, conv: str) -> None:
        while True:
            await staff.send(type="chat.take", conversation=conv)
            reply = await staff.expect("chat.opened", conversation=conv)
            if reply["type"] == "chat.opened":
                return
            assert reply.get("code") == "rate_limited", reply
            await asyncio.sleep(1.0)

    batch = 50  # start a batch, then take it: keeps the queue (and every queue broadcast) short
    for first in range(0, args.citizens, batch):
        count = min(batch, args.citizens - first)
        new = await gather_limited(count, 25, lambda k: citizen(first + k))
        sys_.citizens.extend(new)

        async def take_for(j: int) -> None:
            for k, conn in enumerate(new):
                if (first + k) % args.staff == j:
                    await take(sys_.staff[j], conn.conversation)
        await asyncio.gather(*(take_for(j) for j in range(args.staff)))
    await asyncio.sleep(1.0)
    for c in sys_.citizens + sys_.staff:
        c.stop_collecting()


async def setup_echo(sys_: System, port: int, scheme: str, ca: str | None, args: argparse.Namespace) -> None:
    base = f"{scheme}://localhost:{port}"
    sys_.session = session = client_session(base, ca)
    for j in range(args.staff):
        conn = Conn(await session.ws_connect(f"/ws?s={j}"), sys_.on_frame, staff_index=j)
        await conn.expect("welcome")
        sys_.staff.append(conn)

    async def citizen(i: int) -> Conn:
        conv = os.urandom(16).hex()[:22]  # the node's conversation ids are 22 characters too
        conn = Conn(await session.ws_connect(f"/ws?c={conv}&s={i % args.staff}", origin=base), sys_.on_frame)
        conn.conversation = conv
        await conn.expect("welcome")
        return conn
    sys_.citizens = await gather_limited(args.citizens, 25, citizen)
    for c in sys_.citizens + sys_.staff:
        c.stop_collecting()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values) if values else float("nan")}


def print_report(args: argparse.Namespace, f: System, e: System, wall: float, setup: dict[str, float]) -> bool:
    ms = 1000.0
    print()
    print(f"fristed chat benchmark: {args.citizens} citizens, {args.staff} staff, "
          f"{'plain HTTP' if args.http else 'TLS (node CA)'}, {args.seconds:g} s steady load per system "
          f"in {args.blocks} blocks each (ABBA), reply fraction {args.reply_fraction}")
    print(f"python {platform.python_version()}, aiohttp {aiohttp.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average at end {os.getloadavg()[0]:.2f}")
    print(f"setup: node start+enrol+login {setup['node']:.1f} s, fristed sockets+start+take {setup['fristed']:.1f} s, "
          f"echo sockets {setup['echo']:.1f} s; whole run {wall:.0f} s")
    print()
    rows = [("citizen -> staff chat.message", "c2s"), ("staff -> citizen chat.message", "s2c"),
            ("citizen send -> chat.ack", "ack_c"), ("staff send -> chat.ack", "ack_s")]
    print(f"| {'latency (ms)':<31}| {'system':<8}| {'n':>6} | {'p50':>7} | {'p95':>7} | {'p99':>7} | {'max':>7} |")
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for title, key in rows:
        for sys_ in (f, e):
            values = getattr(sys_.stats, key)
            s = summary(values)
            print(f"| {title:<31}| {sys_.label:<8}| {len(values):>6} | {s['p50'] * ms:>7.1f} | {s['p95'] * ms:>7.1f} "
                  f"| {s['p99'] * ms:>7.1f} | {s['max'] * ms:>7.1f} |")
    print()
    print(f"| {'ratio fristed/echo':<31}| {'p50':>6} | {'p95':>6} | {'p99':>6} | {'max':>6} |")
    print(f"|{'-' * 32}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 8}|")
    for title, key in rows:
        a, b = summary(getattr(f.stats, key)), summary(getattr(e.stats, key))
        print(f"| {title:<31}| " + " | ".join(f"{a[p] / b[p]:>6.2f}" for p in ("p50", "p95", "p99", "max")) + " |")
    print()
    print(f"| {'throughput and CPU':<44}| {'fristed':>9} | {'echo':>9} | {'ratio':>6} |")
    print(f"|{'-' * 45}|{'-' * 11}|{'-' * 11}|{'-' * 8}|")

    def row(title: str, a: float, b: float, fmt: str = "{:>9.1f}") -> None:
        ratio = f"{a / b:>6.2f}" if b else f"{'-':>6}"
        print(f"| {title:<44}| {fmt.format(a)} | {fmt.format(b)} | {ratio} |")
    fs, es = f.stats, e.stats
    row("messages sent/s (citizen + staff)", (fs.sent_c + fs.sent_s) / fs.seconds, (es.sent_c + es.sent_s) / es.seconds)
    row("messages delivered/s", (len(fs.c2s) + len(fs.s2c)) / fs.seconds, (len(es.c2s) + len(es.s2c)) / es.seconds)
    row("  of which staff replies/s", len(fs.s2c) / fs.seconds, len(es.s2c) / es.seconds)
    row("lost (not delivered within 5 s)", fs.lost, es.lost, "{:>9.0f}")
    row("server CPU, % of one core", 100 * fs.cpu["process"] / fs.seconds, 100 * es.cpu["process"] / es.seconds)
    row("  event-loop thread, % of one core", 100 * fs.cpu["loop"] / fs.seconds, 100 * es.cpu["loop"] / es.seconds)
    row("  store thread, % of one core", 100 * fs.cpu["store"] / fs.seconds, 0.0)
    delivered_f, delivered_e = max(1, len(fs.c2s) + len(fs.s2c)), max(1, len(es.c2s) + len(es.s2c))
    row("server CPU per delivered message (ms)", 1000 * fs.cpu["process"] / delivered_f,
        1000 * es.cpu["process"] / delivered_e, "{:>9.2f}")
    row("load generator CPU, % of one core", 100 * fs.gen_cpu / fs.seconds, 100 * es.gen_cpu / es.seconds)
    row("server threads' run-queue wait, ms per s", 1000 * fs.cpu["wait_all"] / fs.seconds,
        1000 * es.cpu["wait_all"] / es.seconds)
    row("  event-loop thread, ms per s", 1000 * fs.cpu["wait_loop"] / fs.seconds,
        1000 * es.cpu["wait_loop"] / es.seconds)
    row("  store thread, ms per s", 1000 * fs.cpu["wait_store"] / fs.seconds, 0.0)
    print()
    print("citizen -> staff p99 per block (ms): fristed " + ", ".join(f"{v * ms:.0f}" for v in fs.block_p99)
          + "; echo " + ", ".join(f"{v * ms:.0f}" for v in es.block_p99))
    if fs.errors or es.errors:
        print(f"error frames during the steady phase: fristed {fs.errors}, echo {es.errors}: {fs.error_samples}")
    p99 = summary(fs.c2s + fs.s2c)["p99"] * ms
    met = p99 < 100.0 and fs.lost == 0
    print(f"target (500 open chats, p99 < 100 ms, both directions pooled): fristed p99 = {p99:.1f} ms "
          f"with {args.citizens} open chats -> {'MET' if met else 'NOT MET'}")
    return met


async def run(args: argparse.Namespace) -> None:
    began = time.monotonic()
    spawn = mp.get_context("spawn")
    node_pipe, node_end = spawn.Pipe()
    node_proc = spawn.Process(target=node_child, args=(node_end, args.staff, args.http, args.profile, args.diagnose),
                            daemon=True)
    node_proc.start()
    rng = random.Random(args.seed)
    echo_proc = None
    try:
        info = await asyncio.to_thread(node_pipe.recv)
        setup = {"node": info["setup_s"]}
        echo_pipe, echo_end = spawn.Pipe()
        echo_proc = spawn.Process(target=echo_child, args=(echo_end, info["cert"], info["key"]), daemon=True)
        echo_proc.start()
        echo_info = await asyncio.to_thread(echo_pipe.recv)
        f = System("fristed", args, node_pipe, rng)
        e = System("echo", args, echo_pipe, rng)
        t = time.monotonic()
        await setup_fristed(f, info, args)
        setup["fristed"] = time.monotonic() - t
        db = await f.command("db")
        assert db["active"] == args.citizens, db
        t = time.monotonic()
        await setup_echo(e, echo_info["port"], info["scheme"], info["ca"], args)
        setup["echo"] = time.monotonic() - t
        print(f"setup done in {time.monotonic() - began:.0f} s: {db['active']} open chats on the node, "
              f"{len(e.citizens)} echo pairs; steady phase {2 * args.seconds:g} s ...", flush=True)
        each = args.seconds / args.blocks
        order = [f, e, e, f] * (args.blocks // 2) + ([f, e] if args.blocks % 2 else [])
        for sys_ in order:
            await sys_.block(each)
        met = print_report(args, f, e, time.monotonic() - began, setup)
        for sys_ in (f, e):
            diag = await sys_.command("report")
            print(f"\n{sys_.label} server internals during its blocks (ms):")
            print(f"| {'what':<44}| {'n':>7} | {'mean':>7} | {'p50':>7} | {'p95':>7} | {'p99':>7} | {'max':>7} |")
            print(f"|{'-' * 45}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
            for name, s in sorted(diag["samples"].items()):
                print(f"| {name:<44}| {s['n']:>7} | " + " | ".join(f"{s[k] * 1000:>7.2f}" for k in
                                                              ("mean", "p50", "p95", "p99", "max")) + " |")
            if diag["counts"].get("store calls"):
                delivered = len(sys_.stats.c2s) + len(sys_.stats.s2c)
                print(f"store calls per delivered message: {diag['counts']['store calls'] / max(1, delivered):.2f}")
        for sys_ in (f, e):
            await asyncio.gather(*(c.close() for c in sys_.citizens + sys_.staff), return_exceptions=True)
            if sys_.session:
                await sys_.session.close()
        node_pipe.send("stop")
        final = await asyncio.to_thread(node_pipe.recv)
        if final.get("log_problem_count"):
            print(f"node log: {final['log_problem_count']} warning/error lines, e.g. {final['log_problems'][:3]}")
        echo_pipe.send("stop")
        await asyncio.to_thread(echo_pipe.recv)
        if args.profile:
            out = io.StringIO()
            stats = pstats.Stats(args.profile, stream=out)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
        print(f"whole run {time.monotonic() - began:.0f} s; target {'met' if met else 'not met'}")
    finally:
        for proc in (node_proc, echo_proc):
            if proc is not None:
                proc.join(timeout=15)
                if proc.is_alive():
                    proc.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--citizens", type=int, default=500, help="concurrent open chats (default 500)")
    parser.add_argument("--staff", type=int, default=10, help="staff on duty sharing them (default 10)")
    parser.add_argument("--seconds", type=float, default=48.0,
                        help="steady-load seconds per system, split into --blocks blocks (default 48)")
    parser.add_argument("--blocks", type=int, default=4, help="blocks per system, alternating ABBA (default 4)")
    parser.add_argument("--interval", type=float, nargs=2, default=(2.0, 5.0), metavar=("LOW", "HIGH"),
                        help="seconds between one citizen's messages, uniform (default 2 5)")
    parser.add_argument("--reply-fraction", type=float, default=0.25,
                        help="share of citizen messages the staff member answers (default 0.25)")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of TLS from the node's CA")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the node's event loop during fristed blocks")
    parser.add_argument("--diagnose", action="store_true",
                        help="time the node's store calls and WebSocket handlers (wraps them in the child)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.citizens < 1 or args.staff < 1 or args.blocks < 1:
        parser.error("citizens, staff and blocks must be at least 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
