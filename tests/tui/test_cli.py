"""`fristed console --forget HOST:PORT` (tui.console): removing a pin after IT confirmed the new one."""
from __future__ import annotations

from pathlib import Path

import pytest

from tui.console import main
from tui.pinning import KnownNodes


def test_forget_removes_only_that_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "known_nodes.json"
    pins = KnownNodes(path)
    pins.remember("fristed.local:8443", "AA:BB")
    pins.remember("other.local:8443", "CC:DD")
    assert main(["--forget", "https://fristed.local:8443", "--known-nodes", str(path)]) == 0
    assert "fjernet" in capsys.readouterr().out
    assert [n.key for n in pins.all()] == ["other.local:8443"]
    assert main(["--forget", "fristed.local:8443", "--known-nodes", str(path)]) == 1
    path.write_text("garbage")
    assert main(["--forget", "x:1", "--known-nodes", str(path)]) == 2
