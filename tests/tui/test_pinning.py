"""tui.pinning: trust on first use, refusal of a changed fingerprint, a private pin file."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tui.pinning import KnownNodes, PinStatus, PinStoreError, config_dir, node_key, normalise

FP1 = ":".join(["AB"] * 32)
FP2 = ":".join(["CD"] * 32)


def test_first_use_is_recorded_privately(tmp_path: Path) -> None:
    pins = KnownNodes(tmp_path / "cfg" / "fristed" / "known_nodes.json")
    assert pins.check("node.local:8443", FP1) is PinStatus.NEW
    pins.remember("node.local:8443", FP1, "Værestedet", now=100.0)
    assert pins.check("node.local:8443", FP1) is PinStatus.MATCH
    assert stat.S_IMODE(pins.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pins.path.parent.stat().st_mode) == 0o700
    data = json.loads(pins.path.read_text())
    assert data["nodes"]["node.local:8443"]["fingerprint"] == FP1
    assert data["nodes"]["node.local:8443"]["name"] == "Værestedet"


def test_changed_fingerprint_is_refused_and_never_overwritten(tmp_path: Path) -> None:
    pins = KnownNodes(tmp_path / "known_nodes.json")
    pins.remember("node.local:8443", FP1)
    assert pins.check("node.local:8443", FP2) is PinStatus.CHANGED
    with pytest.raises(PinStoreError):
        pins.remember("node.local:8443", FP2)
    assert pins.get("node.local:8443").fingerprint == FP1  # type: ignore[union-attr]
    assert pins.forget("node.local:8443") is True
    assert pins.forget("node.local:8443") is False
    assert pins.check("node.local:8443", FP2) is PinStatus.NEW


def test_fingerprints_compare_whatever_the_separators(tmp_path: Path) -> None:
    pins = KnownNodes(tmp_path / "k.json")
    pins.remember("h:1", FP1.lower().replace(":", ""))
    assert pins.check("h:1", FP1) is PinStatus.MATCH
    assert normalise("ab cd-ef") == "AB:CD:EF"


def test_keys_name_host_and_port() -> None:
    assert node_key("https://Fristed.local:8443/") == "fristed.local:8443"
    assert node_key("https://fristed.local") == "fristed.local:443"
    assert node_key("http://localhost") == "localhost:80"
    assert node_key("https://[::1]:9000") == "[::1]:9000"
    assert node_key("fristed.local:8443") == "fristed.local:8443"


def test_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_dir() == tmp_path / "fristed"
    assert KnownNodes().path == tmp_path / "fristed" / "known_nodes.json"


def test_a_damaged_file_is_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "known_nodes.json"
    path.write_text("{not json")
    with pytest.raises(PinStoreError, match="kan ikke læses"):
        KnownNodes(path).check("h:1", FP1)
    assert path.read_text() == "{not json"
