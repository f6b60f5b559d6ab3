"""The encrypted backup container.

Layout: ``MAGIC``, a 4-byte header length, a JSON header, then AES-256-GCM chunks. The content key
comes from a random backup key by HKDF. The backup key is wrapped in the header under the store
key and, when one is given, under a passphrase (Argon2id), so a backup can be restored with either.
Each chunk's nonce carries its index and a final flag, and the header is bound into every chunk as
associated data: reordering, truncation or an edited header fails to decrypt.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.wrapping import (Argon2Params, UnwrapError, b64d, b64e, unwrap_with_key,
                             unwrap_with_passphrase, wrap_with_key, wrap_with_passphrase)

MAGIC = b"FRISTED-BACKUP\x00\x01"
CHUNK = 1 << 20
MAX_HEADER = 64 * 1024
LABEL = b"fristed backup key v1"
_TAG = 16


class BackupError(ValueError):
    """The backup is malformed, altered, or no given key opens it."""


@dataclass(frozen=True)
class BackupHeader:
    """What a backup says about itself before it is decrypted."""

    created: str
    schema_version: int
    raw: dict[str, Any]


def _content_key(backup_key: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"fristed backup content v1").derive(backup_key)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


def seal(source: BinaryIO, out: BinaryIO, backup_key: bytes, store_key: bytes,
         schema_version: int, passphrase: str | None = None,
         params: Argon2Params | None = None) -> None:
    """Encrypt the bytes of ``source`` into ``out``."""
    keys: list[dict[str, Any]] = [{"kind": "store-key", **wrap_with_key(backup_key, store_key, LABEL)}]
    if passphrase is not None:
        keys.append({"kind": "passphrase", **wrap_with_passphrase(backup_key, passphrase, LABEL, params)})
    prefix = os.urandom(7)
    header = {"format": "fristed-backup", "version": 1, "schema_version": schema_version,
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "nonce_prefix": b64e(prefix), "keys": keys}
    header_bytes = json.dumps(header, sort_keys=True).encode()
    out.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)
    aad = hashlib.sha256(header_bytes).digest()
    aead = AESGCM(_content_key(backup_key))
    index = 0
    chunk = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        final = not following
        sealed = aead.encrypt(_nonce(prefix, index, final), chunk, aad)
        out.write(struct.pack(">I", len(sealed)) + sealed)
        if final:
            break
        chunk, index = following, index + 1


def read_header(stream: BinaryIO) -> tuple[BackupHeader, bytes]:
    """Read and check the header; return it with its raw bytes."""
    magic = stream.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError("not a fristed backup file")
    size_bytes = stream.read(4)
    if len(size_bytes) != 4:
        raise BackupError("backup is truncated")
    (size,) = struct.unpack(">I", size_bytes)
    if size > MAX_HEADER:
        raise BackupError("backup header is too large")
    header_bytes = stream.read(size)
    if len(header_bytes) != size:
        raise BackupError("backup is truncated")
    try:
        raw = json.loads(header_bytes)
    except (ValueError, RecursionError):
        raise BackupError("backup header is not JSON") from None
    if not isinstance(raw, dict) or raw.get("format") != "fristed-backup" or raw.get("version") != 1:
        raise BackupError("unknown backup format")
    schema = raw.get("schema_version")
    created = raw.get("created")
    if not isinstance(schema, int) or not isinstance(created, str) or not isinstance(raw.get("keys"), list):
        raise BackupError("backup header is incomplete")
    return BackupHeader(created, schema, raw), header_bytes


def unwrap_backup_key(header: BackupHeader, store_key: bytes | None, passphrase: str | None) -> bytes:
    """Recover the backup key with the store key or the passphrase."""
    for entry in header.raw["keys"]:
        if not isinstance(entry, dict):
            continue
        try:
            if entry.get("kind") == "store-key" and store_key is not None:
                return unwrap_with_key(entry, store_key, LABEL)
            if entry.get("kind") == "passphrase" and passphrase is not None:
                return unwrap_with_passphrase(entry, passphrase, LABEL)
        except UnwrapError:
            continue
    raise BackupError("neither the given key file nor the passphrase opens this backup")


def open_sealed(stream: BinaryIO, out: BinaryIO, store_key: bytes | None,
                passphrase: str | None) -> BackupHeader:
    """Decrypt a backup from ``stream`` into ``out``; nothing partial counts as success."""
    header, header_bytes = read_header(stream)
    backup_key = unwrap_backup_key(header, store_key, passphrase)
    try:
        prefix = b64d(header.raw.get("nonce_prefix"), what="nonce prefix")
    except UnwrapError:
        prefix = b""
    if len(prefix) != 7:
        raise BackupError("backup header has a bad nonce")
    aad = hashlib.sha256(header_bytes).digest()
    aead = AESGCM(_content_key(backup_key))
    index = 0
    while True:
        size_bytes = stream.read(4)
        if len(size_bytes) != 4:
            raise BackupError("backup is truncated")
        (size,) = struct.unpack(">I", size_bytes)
        if not _TAG <= size <= CHUNK + _TAG:
            raise BackupError("backup chunk has a bad size")
        sealed = stream.read(size)
        if len(sealed) != size:
            raise BackupError("backup is truncated")
        for final in (False, True):
            try:
                out.write(aead.decrypt(_nonce(prefix, index, final), sealed, aad))
                break
            except InvalidTag:
                continue
        else:
            raise BackupError("backup was altered or is damaged")
        if final:
            if stream.read(1):
                raise BackupError("backup has data after its end")
            return header
        index += 1


def backup_key_for_restore(path: Path, store_key: bytes | None, passphrase: str | None) -> bytes:
    """Return the backup key of the file at ``path`` (used to open the inner database)."""
    with open(path, "rb") as fh:
        header, _ = read_header(fh)
    return unwrap_backup_key(header, store_key, passphrase)
