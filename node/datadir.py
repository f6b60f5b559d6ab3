"""The node's data directory: where the key file, database, TLS files and lock live."""
from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from crypto.storekey import (KeyFileError, PassphraseSource, StoreKey, database_name, generate_key,
                             read_key_file, write_key_file)


class DataDirError(RuntimeError):
    """The data directory is unusable, locked or unsafe."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/fristed`` (``~/.local/share/fristed`` when unset); systemd's StateDirectory wins."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fristed"


@dataclass(frozen=True)
class DataDir:
    """Paths inside one data directory."""

    root: Path

    @property
    def key_file(self) -> Path:
        return self.root / "store.key"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    @property
    def url_file(self) -> Path:
        """The URL the node announced at its last start (for enrolment links printed by the CLI)."""
        return self.root / "url"

    @property
    def lock_file(self) -> Path:
        return self.root / "node.lock"

    def database(self, key: StoreKey) -> Path:
        """The database file the key file names."""
        return self.root / key.database

    def ensure(self) -> None:
        """Create the directory with mode 0700, or tighten an existing one owned by us."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.root.stat()
        if info.st_uid != os.geteuid():
            raise DataDirError(f"{self.root} belongs to another user")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(self.root, 0o700)

    def is_empty(self) -> bool:
        """True when nothing but a lock file is here (restore's precondition)."""
        if not self.root.exists():
            return True
        return all(p.name in ("node.lock", "url") for p in self.root.iterdir())

    def initialised(self) -> bool:
        return self.key_file.exists()

    def load_or_create_key(self, passphrase: PassphraseSource | None) -> StoreKey:
        """Read the store key, creating a new key (and key file) on first start."""
        if self.key_file.exists():
            return read_key_file(self.key_file, passphrase)
        if any(self.root.glob("store-*.db")):
            raise DataDirError("a database exists but its key file is missing; restore the key file")
        key = generate_key()
        name = database_name(1)
        write_key_file(self.key_file, key, name, passphrase() if passphrase else None)
        return StoreKey(key, name, "passphrase" if passphrase else "file")

    def load_key(self, passphrase: PassphraseSource | None) -> StoreKey:
        """Read the store key of an initialised directory."""
        if not self.key_file.exists():
            raise KeyFileError(f"{self.root} holds no node (no store.key); run `fristed serve` first")
        return read_key_file(self.key_file, passphrase)


class DirLock:
    """An exclusive advisory lock on the data directory, held while the node serves."""

    def __init__(self, data: DataDir) -> None:
        self._path = data.lock_file
        self._fh: IO[str] | None = None

    def acquire(self, purpose: str) -> None:
        fh = open(self._path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.close()
            raise DataDirError(
                f"the data directory is in use (is the node running?); stop it before {purpose}") from exc
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "DirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
