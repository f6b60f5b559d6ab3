"""Benchmark the node's encrypted store against plain SQLite, measured side by side in one run.

What is compared
    *fristed-store*: the node's own store layer, :class:`node.store.Store`, opened on a fresh
    database with a random raw 32-byte key. Every statement goes through SQLCipher (page
    encryption plus a per-page HMAC) and hops from the event loop to the single store thread
    (``await store.write(...)`` / ``await store.read(...)``).

    *plain sqlite3*: the standard library's ``sqlite3`` on the same schema (the same
    ``node.migrations.MIGRATIONS`` SQL, applied by the same ``node.store.migrate``) with the same
    pragmas as :func:`node.store.connect` (WAL, ``secure_delete=ON``, ``synchronous=FULL``,
    ``foreign_keys=ON``, ``cache_size=-32000``), called directly on the calling thread, and each
    write in the same ``BEGIN IMMEDIATE`` ... ``COMMIT`` as the store uses.

    The difference between the two is therefore what the node pays for encryption at rest and for
    keeping SQLite off the event loop. With ``--breakdown`` a third engine, *sqlcipher, no hop*
    (:func:`node.store.connect` called on the benchmark's own thread), splits that price into
    its two parts. Note that the stdlib and SQLCipher bundle different SQLite versions.

What is measured
    * message inserts, one transaction (one fsync'd commit) per message, because the node persists
      each message before acknowledging it: the store awaited one write at a time (the realistic
      case), and the store fed by ``asyncio.gather`` of many writes at once (the queue never
      empties, so the hop can overlap with the previous commit; the baselines stay sequential);
    * "latest 50 messages of a conversation" queries;
    * random single-message point reads by id (over all messages inserted in the round).

How to read it
    Machines, and VMs above all, are noisy: fsync latency and CPU steal vary from minute to
    minute. Absolute figures are only a rough guide; the ratio store/sqlite3 measured in the same
    run is what matters. To expose the engines to the same noise, each measurement is cut into
    50 blocks that alternate between the engines (rotating which goes first), and the whole
    thing is repeated for several rounds on fresh databases; the table shows the median of the
    rounds and the range of the per-round ratios.

Run from the repository root::

    .venv/bin/python bench/store.py [--messages N] [--conversations C] [--rounds R] [--breakdown]

The defaults (5000 messages, 50 conversations, 3 rounds) take about 30 s on a 2-core VM;
``--help`` lists the other knobs. Temporary databases are removed afterwards.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlcipher3  # noqa: E402

from node.store import Store, connect, migrate, transaction  # noqa: E402

LATEST_LIMIT = 50
BLOCKS = 50  # each measurement is cut into this many alternating blocks per engine

INSERT_CONVERSATION = "INSERT INTO conversations (id, pseudonym, created, ended) VALUES (?, ?, ?, NULL)"
INSERT_MESSAGE = "INSERT INTO messages (conversation_id, ts, sender, body) VALUES (?, ?, ?, ?)"
SELECT_LATEST = (f"SELECT id, ts, sender, body FROM messages WHERE conversation_id = ? "
                 f"ORDER BY id DESC LIMIT {LATEST_LIMIT}")
SELECT_ONE = "SELECT id, conversation_id, ts, sender, body FROM messages WHERE id = ?"

Message = tuple[str, float, str, str]
Conn = Any  # sqlite3.Connection or sqlcipher3.Connection: the same DB-API surface


# --- the statements both engines run -------------------------------------------------------------

def insert_message(conn: Conn, message: Message) -> int:
    """Insert one message and return its id."""
    return int(conn.execute(INSERT_MESSAGE, message).lastrowid)


def insert_conversations(conn: Conn, conversations: list[tuple[str, str, float]]) -> None:
    """Insert the conversations the messages belong to."""
    conn.executemany(INSERT_CONVERSATION, conversations)


def latest_messages(conn: Conn, conversation_id: str) -> list[tuple[Any, ...]]:
    """The latest messages of a conversation, newest first."""
    return conn.execute(SELECT_LATEST, (conversation_id,)).fetchall()


def one_message(conn: Conn, message_id: int) -> tuple[Any, ...] | None:
    """One message by id."""
    return conn.execute(SELECT_ONE, (message_id,)).fetchone()


def connect_plain(path: Path) -> sqlite3.Connection:
    """Plain stdlib sqlite3 with the pragmas of :func:`node.store.connect`, schema migrated."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA cache_size = -32000")
    migrate(conn)  # type: ignore[arg-type]  # duck-typed: the same MIGRATIONS SQL
    return conn


# --- workload --------------------------------------------------------------------------------------

@dataclass
class Workload:
    """Deterministic data and query arguments shared by both engines."""

    conversations: list[tuple[str, str, float]]
    messages: list[Message]
    gather_messages: list[Message]
    latest_args: list[str]
    n_points: int  # point-read ids are drawn per round, once the rows exist


def make_workload(n_messages: int, n_conversations: int, n_latest: int, n_points: int,
                  seed: int) -> Workload:
    """Build messages of chat-like length spread over the conversations."""
    rng = random.Random(seed)
    now = time.time()
    conversations = [(f"{rng.getrandbits(128):032x}", f"Besøgende {i + 1}", now) for i in range(n_conversations)]
    ids = [c[0] for c in conversations]
    words = ["hej", "jeg", "har", "det", "svært", "i", "dag", "tak", "fordi", "du", "lytter", "kan",
             "vi", "tale", "om", "det", "senere", "ja", "nej", "måske", "okay", "godt", "at", "høre"]

    def message(k: int) -> Message:
        body = " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))
        return (rng.choice(ids), now + k * 0.001, rng.choice(("visitor", "volunteer")), body)

    messages = [message(k) for k in range(n_messages)]
    gather_messages = [message(n_messages + k) for k in range(n_messages)]
    latest_args = [rng.choice(ids) for _ in range(n_latest)]
    return Workload(conversations, messages, gather_messages, latest_args, n_points)


def blocks(items: list[Any], count: int = BLOCKS) -> list[list[Any]]:
    """Cut ``items`` into ``count`` nearly equal consecutive blocks."""
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return [b for b in out if b]


# --- measurement -----------------------------------------------------------------------------------

BlockRunner = Callable[[list[Any]], Awaitable[None]]
ENGINES = {"store": "fristed-store", "plain": "plain sqlite3", "direct": "sqlcipher, no hop"}


async def side_by_side(items: list[Any], runners: dict[str, BlockRunner], shift: int) -> dict[str, float]:
    """Run ``items`` through every engine in alternating blocks; return ops/s per engine.

    The engine that goes first rotates from block to block (starting at ``shift``), so slow
    drift in the machine (fsync latency, CPU steal, WAL growth) falls on all engines alike.
    """
    names = list(runners)
    spent = dict.fromkeys(names, 0.0)
    for i, block in enumerate(blocks(items)):
        k = (i + shift) % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            await runners[name](block)
            spent[name] += time.perf_counter() - t0
    return {name: len(items) / seconds for name, seconds in spent.items()}


@dataclass
class Row:
    """One benchmark line: per-round ops/s for each engine."""

    label: str
    unit: str
    figures: dict[str, list[float]] = field(default_factory=dict)

    def add(self, figures: dict[str, float]) -> None:
        """Record one round's figures."""
        for name, value in figures.items():
            self.figures.setdefault(name, []).append(value)

    def ratios(self, engine: str) -> list[float]:
        """``engine``/plain sqlite3 for each round."""
        return [e / p for e, p in zip(self.figures[engine], self.figures["plain"])]


def sync_runner(per_item: Callable[[Any], Any]) -> BlockRunner:
    """Wrap a synchronous per-item call as a block runner (one coroutine per block, not per item)."""
    async def run(batch: list[Any]) -> None:
        for item in batch:
            per_item(item)
    return run


async def one_round(root: Path, work: Workload, rows: dict[str, Row], shift: int,
                    do_gather: bool, breakdown: bool) -> None:
    """Fresh databases, then every measurement once, all engines side by side."""
    store = await Store.open(root / "store.db", secrets.token_bytes(32))
    conns: dict[str, Conn] = {}
    try:
        conns["plain"] = connect_plain(root / "plain.db")
        if breakdown:  # SQLCipher with the node's pragmas, called on this thread: encryption, no hop
            conns["direct"] = connect(root / "direct.db", secrets.token_bytes(32), create=True)
            migrate(conns["direct"])
        await store.write(insert_conversations, work.conversations)
        for conn in conns.values():
            transaction(conn, insert_conversations, work.conversations)

        async def store_seq(batch: list[Message]) -> None:
            for m in batch:
                await store.write(insert_message, m)

        async def store_gather(batch: list[Message]) -> None:
            await asyncio.gather(*(store.write(insert_message, m) for m in batch))

        def runners(store_runner: BlockRunner, per_item: Callable[[Conn, Any], Any]) -> dict[str, BlockRunner]:
            out = {"store": store_runner}
            for name, conn in conns.items():
                out[name] = sync_runner(functools.partial(per_item, conn))
            return out

        def commit_one(conn: Conn, m: Message) -> int:
            return transaction(conn, insert_message, m)

        rows["insert"].add(await side_by_side(work.messages, runners(store_seq, commit_one), shift))
        if do_gather:
            rows["gather"].add(await side_by_side(work.gather_messages, runners(store_gather, commit_one),
                                                  shift + 1))

        total = await store.read(lambda c: c.execute("SELECT max(id) FROM messages").fetchone()[0])
        for conn in conns.values():
            assert conn.execute("SELECT max(id) FROM messages").fetchone()[0] == total
        rng = random.Random(shift)
        point_args = [rng.randint(1, total) for _ in range(work.n_points)]

        async def store_latest(batch: list[str]) -> None:
            for cid in batch:
                await store.read(latest_messages, cid)

        async def store_point(batch: list[int]) -> None:
            for mid in batch:
                await store.read(one_message, mid)

        rows["latest"].add(await side_by_side(work.latest_args, runners(store_latest, latest_messages), shift))
        rows["point"].add(await side_by_side(point_args, runners(store_point, one_message), shift + 1))
    finally:
        for conn in conns.values():
            conn.close()
        await store.close()


# --- output ----------------------------------------------------------------------------------------

def fmt(value: float) -> str:
    """Ops/s with a sensible number of digits."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def print_table(rows: list[Row], rounds: int) -> None:
    """Median of the rounds for each engine, the median ratio and the per-round ratio range."""
    engines = [e for e in ENGINES if any(e in row.figures for row in rows)]
    header = ["measurement"] + [ENGINES[e] for e in engines]
    for e in engines:
        if e != "plain":
            header += [f"{e}/sqlite3", "range"]
    lines = [header]
    for row in rows:
        if not row.figures:
            continue
        line = [f"{row.label} ({row.unit})"]
        line += [fmt(statistics.median(row.figures[e])) for e in engines]
        for e in engines:
            if e != "plain":
                ratios = row.ratios(e)
                line += [f"{statistics.median(ratios):.2f}", f"{min(ratios):.2f}–{max(ratios):.2f}"]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(line[1:], widths[1:])]
        print("  ".join(cells))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nfigures: median of {rounds} rounds, operations per second (higher is better)\n"
          f"ratio: engine / plain sqlite3, median of the per-round ratios (1.00 = no overhead, "
          f"below 1 = slower)\nrange: lowest–highest per-round ratio")


def environment() -> str:
    """One line naming the software and machine the figures come from."""
    probe = sqlcipher3.connect(":memory:")
    try:
        cipher_sqlite = probe.execute("SELECT sqlite_version()").fetchone()[0]
        cipher = probe.execute("PRAGMA cipher_version").fetchone()[0]
    finally:
        probe.close()
    return (f"Python {platform.python_version()}, stdlib SQLite {sqlite3.sqlite_version}, "
            f"SQLCipher {cipher} (SQLite {cipher_sqlite}), {os.cpu_count()} CPUs, "
            f"{platform.machine()}, {platform.system()} {platform.release()}")


# --- entry point -----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=5000, help="messages inserted per engine per round (5000)")
    p.add_argument("--conversations", type=int, default=50, help="conversations they are spread over (50)")
    p.add_argument("--latest", type=int, default=5000, help="latest-50 queries per engine per round (5000)")
    p.add_argument("--points", type=int, default=20000, help="point reads per engine per round (20000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds on fresh databases; medians reported (3)")
    p.add_argument("--no-gather", action="store_true", help="skip the concurrent asyncio.gather insert variant")
    p.add_argument("--breakdown", action="store_true",
                   help="add a third engine: SQLCipher with the node's pragmas on the calling thread "
                        "(encryption without the thread hop)")
    p.add_argument("--seed", type=int, default=1, help="seed for the generated messages (1)")
    p.add_argument("--dir", type=Path, default=None, help="where to make the temporary directories")
    args = p.parse_args(argv)
    for name in ("messages", "conversations", "latest", "points", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    return args


async def run(args: argparse.Namespace) -> list[Row]:
    """All rounds; each on a fresh temporary directory that is removed afterwards."""
    work = make_workload(args.messages, args.conversations, args.latest, args.points, args.seed)
    rows = {
        "insert": Row("insert, 1 commit/msg, awaited", "msg/s"),
        "gather": Row("insert, 1 commit/msg, gather", "msg/s"),
        "latest": Row(f"latest {LATEST_LIMIT} of a conversation", "queries/s"),
        "point": Row("point read by id", "reads/s"),
    }
    for r in range(args.rounds):
        root = Path(tempfile.mkdtemp(prefix="fristed-bench-", dir=args.dir))
        try:
            t0 = time.perf_counter()
            await one_round(root, work, rows, shift=r, do_gather=not args.no_gather,
                            breakdown=args.breakdown)
            print(f"round {r + 1}/{args.rounds} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    print("fristed store benchmark: fristed-store (SQLCipher + store thread) vs plain sqlite3")
    print(environment())
    print(f"{args.messages} messages over {args.conversations} conversations, {args.latest} latest-"
          f"{LATEST_LIMIT} queries, {args.points} point reads, {args.rounds} rounds\n", flush=True)
    rows = asyncio.run(run(args))
    print_table(rows, args.rounds)


if __name__ == "__main__":
    main()
