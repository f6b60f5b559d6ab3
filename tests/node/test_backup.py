"""Backup while the node runs, restore into an empty directory, refusals that change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from crypto.backup import BackupError
from crypto.storekey import read_key_file
from crypto.wrapping import Argon2Params
from node.backup import restore_backup, write_backup
from node.clock import ManualClock
from node.datadir import DataDir, DataDirError
from node.server import RunningNode, start
from node.store import connect
from tests.conftest import make_config
from tests.node.test_store import MARKER, add_message

CHEAP = Argon2Params(iterations=1, lanes=1, memory_cost=64)


async def test_backup_while_running_then_restore_with_key_file(node: RunningNode, clock: ManualClock,
                                                               tmp_path: Path) -> None:
    for _ in range(20):
        await node.ctx.store.write(add_message, MARKER, clock.now())
    data = DataDir(node.ctx.config.data_dir)
    key = read_key_file(data.key_file)
    out = tmp_path / "b.fristed-backup"
    write_backup(data, key, out)  # the node is still running and holding its lock
    assert await node.ctx.store.healthy()
    assert MARKER.encode() not in out.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600

    target = DataDir(tmp_path / "restored")
    restore_backup(target, out, old_key=key, passphrase=None)
    new_key = read_key_file(target.key_file)
    assert new_key.key != key.key  # the restored store gets its own key
    restored = await start(make_config(target.root), clock=clock)
    try:
        count = await restored.ctx.store.read(
            lambda c: c.execute("SELECT count(*) FROM messages WHERE body = ?", (MARKER,)).fetchone()[0])
        assert count == 20
    finally:
        await restored.stop()


async def test_restore_with_passphrase_only(node: RunningNode, clock: ManualClock, tmp_path: Path) -> None:
    await node.ctx.store.write(add_message, "hej", clock.now())
    data = DataDir(node.ctx.config.data_dir)
    out = tmp_path / "b"
    write_backup(data, read_key_file(data.key_file), out, passphrase="en lang backup-sætning", params=CHEAP)
    target = DataDir(tmp_path / "r")
    restore_backup(target, out, old_key=None, passphrase="en lang backup-sætning")
    key = read_key_file(target.key_file)
    conn = connect(target.database(key), key.key)
    assert conn.execute("SELECT body FROM messages").fetchall() == [("hej",)]
    conn.close()


async def test_restore_refuses_wrong_passphrase_and_leaves_directory_empty(node: RunningNode,
                                                                           tmp_path: Path) -> None:
    data = DataDir(node.ctx.config.data_dir)
    out = tmp_path / "b"
    write_backup(data, read_key_file(data.key_file), out, passphrase="en lang backup-sætning", params=CHEAP)
    target = DataDir(tmp_path / "r")
    with pytest.raises(BackupError):
        restore_backup(target, out, old_key=None, passphrase="forkert sætning her")
    assert target.is_empty() and not target.key_file.exists()


async def test_restore_refuses_tampered_backup(node: RunningNode, tmp_path: Path) -> None:
    data = DataDir(node.ctx.config.data_dir)
    key = read_key_file(data.key_file)
    out = tmp_path / "b"
    write_backup(data, key, out)
    raw = bytearray(out.read_bytes())
    raw[-100] ^= 0x01
    out.write_bytes(bytes(raw))
    target = DataDir(tmp_path / "r")
    with pytest.raises(BackupError):
        restore_backup(target, out, old_key=key, passphrase=None)
    assert target.is_empty()


async def test_restore_refuses_non_empty_directory(node: RunningNode, tmp_path: Path) -> None:
    data = DataDir(node.ctx.config.data_dir)
    key = read_key_file(data.key_file)
    out = tmp_path / "b"
    write_backup(data, key, out)
    before = sorted(p.name for p in data.root.iterdir())
    with pytest.raises(DataDirError, match="not empty"):
        restore_backup(data, out, old_key=key, passphrase=None)
    assert sorted(p.name for p in data.root.iterdir()) == before
