"""The store on real SQLCipher files: encrypted at rest, wrong keys refused, data kept across restarts."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import sqlcipher3

from crypto.storekey import generate_key, read_key_file, write_key_file
from node import accounts
from node.clock import ManualClock
from node.migrations import LATEST
from node.server import RunningNode, start
from node.store import Store, WrongKeyError, connect, schema_version
from tests.conftest import make_config

MARKER = "MARKØR-7f3a9c-hemmelig-besked"


def add_message(conn: sqlcipher3.Connection, body: str, now: float) -> None:
    conn.execute("INSERT OR IGNORE INTO conversations (id, pseudonym, created) VALUES ('c1', 'Blå Ugle', ?)",
                 (now,))
    conn.execute("INSERT INTO messages (conversation_id, ts, sender, body) VALUES ('c1', ?, 'citizen', ?)",
                 (now, body))


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_database_has_no_plain_header_and_marker_is_nowhere(node: RunningNode, clock: ManualClock) -> None:
    store = node.ctx.store
    for _ in range(50):
        await store.write(add_message, MARKER, clock.now())
    await store.write(accounts.add, "Marker Person", "volunteer", clock.now())
    root = node.ctx.config.data_dir
    db = next(root.glob("store-*.db"))
    assert not db.read_bytes().startswith(b"SQLite format 3")
    assert Path(str(db) + "-wal").exists()  # the WAL is on disk now, before any checkpoint
    needles = [MARKER.encode("utf-8"), MARKER.encode("utf-16-le"), b"Marker Person"]
    for path in files_under(root):
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"plaintext found in {path.name}"
    # and it is really there when read with the key
    rows = await store.read(lambda c: c.execute("SELECT count(*) FROM messages WHERE body = ?",
                                                (MARKER,)).fetchone())
    assert rows == (50,)


async def test_secure_delete_is_on_and_wal_is_used(node: RunningNode) -> None:
    pragmas = await node.ctx.store.read(lambda c: (c.execute("PRAGMA secure_delete").fetchone()[0],
                                                   c.execute("PRAGMA journal_mode").fetchone()[0],
                                                   c.execute("PRAGMA cipher_version").fetchone()[0]))
    assert pragmas[0] == 1 and pragmas[1] == "wal" and pragmas[2].startswith("4.")


async def test_data_survives_restart(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path / "data")
    first = await start(config, clock=clock)
    await first.ctx.store.write(add_message, "hej", clock.now())
    await first.stop()
    second = await start(config, clock=clock)
    try:
        count = await second.ctx.store.read(lambda c: c.execute("SELECT count(*) FROM messages").fetchone()[0])
        assert count == 1
        assert await second.ctx.store.read(schema_version) == LATEST
    finally:
        await second.stop()


async def test_wrong_key_refuses_clearly_and_changes_nothing(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path / "data")
    node = await start(config, clock=clock)
    await node.ctx.store.write(add_message, "hej", clock.now())
    await node.stop()
    key_file = config.data_dir / "store.key"
    real = read_key_file(key_file)
    write_key_file(key_file, generate_key(), real.database)
    db = config.data_dir / real.database
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files_under(config.data_dir)
              if p.name != "store.key"}
    with pytest.raises(WrongKeyError, match="does not open"):
        await start(config, clock=clock)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files_under(config.data_dir)
             if p.name != "store.key"}
    assert before == after
    # the right key still opens it, with the data intact
    conn = connect(db, real.key)
    assert conn.execute("SELECT body FROM messages").fetchall() == [("hej",)]
    conn.close()


async def test_store_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    import threading

    store = await Store.open(tmp_path / "s.db", os.urandom(32))
    try:
        name = await store.read(lambda c: threading.current_thread().name)
        assert name.startswith("fristed-store") and name != threading.current_thread().name
    finally:
        await store.close()


async def test_failed_write_rolls_back(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db", os.urandom(32))

    def half_then_fail(conn: sqlcipher3.Connection) -> None:
        add_message(conn, "one", 1.0)
        raise ValueError("boom")

    try:
        with pytest.raises(ValueError):
            await store.write(half_then_fail)
        assert await store.read(lambda c: c.execute("SELECT count(*) FROM messages").fetchone()[0]) == 0
    finally:
        await store.close()


async def test_migrations_refuse_a_newer_schema(tmp_path: Path) -> None:
    from node.store import StoreError

    key = os.urandom(32)
    conn = connect(tmp_path / "s.db", key, create=True)
    conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(tmp_path / "s.db", key)
