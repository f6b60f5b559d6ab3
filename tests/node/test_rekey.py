"""Rekey by export-and-swap: the old key stops working, the data stays, a running node is protected."""
from __future__ import annotations

from pathlib import Path

import pytest

from crypto.storekey import read_key_file
from node.clock import ManualClock
from node.datadir import DataDir, DataDirError
from node.rekey import rekey
from node.server import start
from node.store import WrongKeyError, connect
from tests.conftest import make_config
from tests.node.test_store import add_message


async def test_rekey_round_trip(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path / "data")
    node = await start(config, clock=clock)
    await node.ctx.store.write(add_message, "før nøgleskift", clock.now())
    data = DataDir(config.data_dir)
    old = read_key_file(data.key_file)
    with pytest.raises(DataDirError, match="stop it before rekeying"):
        rekey(data, old, None)
    await node.stop()

    new = rekey(data, old, None)
    assert new.key != old.key and new.database != old.database
    assert not (data.root / old.database).exists()
    with pytest.raises(WrongKeyError):
        connect(data.root / new.database, old.key)
    again = await start(config, clock=clock)
    try:
        rows = await again.ctx.store.read(lambda c: c.execute("SELECT body FROM messages").fetchall())
        assert rows == [("før nøgleskift",)]
    finally:
        await again.stop()


async def test_rekey_to_passphrase_custody(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path / "data")
    node = await start(config, clock=clock)
    await node.stop()
    data = DataDir(config.data_dir)
    rekey(data, read_key_file(data.key_file), "en lang nøglesætning")
    assert "custody\": \"passphrase" in data.key_file.read_text()
    again = await start(config, passphrase=lambda: "en lang nøglesætning", clock=clock)
    await again.stop()
