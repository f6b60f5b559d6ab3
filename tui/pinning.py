"""Trust on first use: the fingerprint each node showed the first time, kept in the user's config.

The file is ``$XDG_CONFIG_HOME/fristed/known_nodes.json`` (``~/.config/...`` by default), mode 0600,
in a 0700 directory. A node is known by ``host:port``. The first connection records the node's
fingerprint; later connections must show the same one, or the console refuses to log in.
"""
from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

FILE_NAME = "known_nodes.json"


class PinStatus(enum.Enum):
    """How a presented fingerprint compares with what is on file."""

    NEW = "new"          # never seen: trust on first use
    MATCH = "match"      # the same as last time
    CHANGED = "changed"  # different: refuse and warn


def config_dir() -> Path:
    """The console's configuration directory."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fristed"


def node_key(url: str) -> str:
    """``host:port`` for a node URL (lower-case host, explicit port, IPv6 in brackets)."""
    parts = urlsplit(url if "//" in url else f"https://{url}")
    host = (parts.hostname or "").lower()
    port = parts.port or (80 if parts.scheme == "http" else 443)
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def normalise(fingerprint: str) -> str:
    """Upper-case, colon-separated hex, whatever separators the user typed."""
    hexdigits = "".join(ch for ch in fingerprint.upper() if ch in "0123456789ABCDEF")
    return ":".join(hexdigits[i:i + 2] for i in range(0, len(hexdigits), 2))


@dataclass(frozen=True)
class KnownNode:
    """One pinned node."""

    key: str
    fingerprint: str
    name: str
    first_seen: float
    last_seen: float


class KnownNodes:
    """The pin store. Reads the file on every call, so two consoles never overwrite each other's pins."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / FILE_NAME

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PinStoreError(f"{self.path} kan ikke læses ({exc}). Ret eller fjern filen.") from exc
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, dict):
            raise PinStoreError(f"{self.path} har et ukendt format. Ret eller fjern filen.")
        return nodes

    def _save(self, nodes: dict[str, dict[str, object]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "nodes": nodes}, fh, ensure_ascii=False, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def get(self, key: str) -> KnownNode | None:
        entry = self._load().get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            return None
        return KnownNode(key, str(entry["fingerprint"]), str(entry.get("name", "")),
                         float(entry.get("first_seen", 0.0)), float(entry.get("last_seen", 0.0)))  # type: ignore[arg-type]

    def all(self) -> list[KnownNode]:
        return [node for key in sorted(self._load()) if (node := self.get(key)) is not None]

    def check(self, key: str, fingerprint: str) -> PinStatus:
        known = self.get(key)
        if known is None:
            return PinStatus.NEW
        return PinStatus.MATCH if normalise(known.fingerprint) == normalise(fingerprint) else PinStatus.CHANGED

    def remember(self, key: str, fingerprint: str, name: str = "", now: float | None = None) -> None:
        """Record a first-use pin, or refresh ``last_seen`` of a matching one. Never replaces a different pin."""
        now = time.time() if now is None else now
        nodes = self._load()
        entry = nodes.get(key)
        if isinstance(entry, dict) and normalise(str(entry.get("fingerprint", ""))) != normalise(fingerprint):
            raise PinStoreError(f"{key} har allerede et andet fingeraftryk; fjern det gamle først")
        if isinstance(entry, dict):
            entry["last_seen"] = now
            if name:
                entry["name"] = name
        else:
            nodes[key] = {"fingerprint": normalise(fingerprint), "name": name, "first_seen": now,
                          "last_seen": now}
        self._save(nodes)

    def forget(self, key: str) -> bool:
        """Remove a pin (after IT has confirmed the node's new fingerprint). True if there was one."""
        nodes = self._load()
        if key not in nodes:
            return False
        del nodes[key]
        self._save(nodes)
        return True


class PinStoreError(Exception):
    """The pin file cannot be used; the text says what to do."""
