"""Custody of the store's raw 256-bit key: a 0600 key file, optionally passphrase-wrapped.

The key file is small JSON that also names the database file it opens. Rekeying writes a new
database under a new name and then replaces the key file with one ``os.replace``, so the key and
the database it belongs to always change together.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from crypto.wrapping import Argon2Params, UnwrapError, unwrap_with_passphrase, wrap_with_passphrase

KEY_BYTES = 32
FORMAT = "fristed-store-key"
LABEL = b"fristed store key v1"
MAX_KEY_FILE = 8192
_DB_NAME = re.compile(r"store-[0-9]{1,9}\.db")

PassphraseSource = Callable[[], str]


class KeyFileError(ValueError):
    """The key file is missing, malformed, or the passphrase is wrong."""


@dataclass(frozen=True)
class StoreKey:
    """A raw store key and the database file it opens."""

    key: bytes
    database: str
    custody: str  # "file" or "passphrase"

    def __repr__(self) -> str:  # never print key material
        return f"StoreKey(database={self.database!r}, custody={self.custody!r})"

    def pragma(self) -> str:
        """The ``PRAGMA key`` statement for this raw key (hex only, never user text)."""
        return raw_key_pragma(self.key)


def raw_key_pragma(key: bytes, statement: str = "key") -> str:
    """Build ``PRAGMA key = "x'…'"`` from bytes; pragmas cannot take bound parameters."""
    if len(key) != KEY_BYTES:
        raise ValueError("store keys are 32 bytes")
    return f"PRAGMA {statement} = \"x'{key.hex()}'\""


def generate_key() -> bytes:
    """Return a fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def database_name(generation: int) -> str:
    """Name of the database file for a key generation."""
    return f"store-{generation}.db"


def next_database_name(current: str) -> str:
    """The database name the next rekey writes."""
    return database_name(int(current.removeprefix("store-").removesuffix(".db")) + 1)


def write_key_file(path: Path, key: bytes, database: str, passphrase: str | None = None,
                   params: Argon2Params | None = None) -> None:
    """Write the key file atomically with mode 0600."""
    if not _DB_NAME.fullmatch(database):
        raise ValueError("bad database name")
    body: dict[str, object] = {"format": FORMAT, "version": 1, "database": database}
    if passphrase is None:
        body.update({"custody": "file", "key": key.hex()})
    else:
        body.update({"custody": "passphrase",
                     "wrapped": wrap_with_passphrase(key, passphrase, LABEL, params)})
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def parse_key_file(text: str, passphrase: PassphraseSource | None) -> StoreKey:
    """Parse key file contents; ask ``passphrase`` only when the key is wrapped."""
    if len(text) > MAX_KEY_FILE:
        raise KeyFileError("key file is too large")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise KeyFileError("key file is not valid JSON") from None if isinstance(exc, RecursionError) else exc
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != 1:
        raise KeyFileError("not a fristed key file")
    database = body.get("database")
    if not isinstance(database, str) or not _DB_NAME.fullmatch(database):
        raise KeyFileError("key file names no valid database")
    custody = body.get("custody")
    if custody == "file":
        raw = body.get("key")
        if not isinstance(raw, str) or not re.fullmatch(r"[0-9a-f]{64}", raw):
            raise KeyFileError("key file holds no valid 256-bit key")
        return StoreKey(bytes.fromhex(raw), database, "file")
    if custody == "passphrase":
        if passphrase is None:
            raise KeyFileError("the store key is protected by a passphrase; none was given")
        try:
            key = unwrap_with_passphrase(body.get("wrapped"), passphrase(), LABEL)
        except UnwrapError as exc:
            raise KeyFileError(f"cannot unlock the store key: {exc}") from exc
        if len(key) != KEY_BYTES:
            raise KeyFileError("unwrapped key has the wrong length")
        return StoreKey(key, database, "passphrase")
    raise KeyFileError("unknown key custody")


def read_key_file(path: Path, passphrase: PassphraseSource | None = None) -> StoreKey:
    """Read and check the key file at ``path``."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_KEY_FILE + 1)
    except FileNotFoundError as exc:
        raise KeyFileError(f"no key file at {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read key file: {exc.__class__.__name__}") from exc
    return parse_key_file(text, passphrase)
