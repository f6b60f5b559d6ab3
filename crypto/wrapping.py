"""Wrap a secret key with another key or with a passphrase (Argon2id + AES-256-GCM)."""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id


class UnwrapError(ValueError):
    """The wrapping key or passphrase is wrong, or the wrapped blob was altered."""


@dataclass(frozen=True)
class Argon2Params:
    """Cost parameters for Argon2id (RFC 9106 second recommendation by default)."""

    iterations: int = 3
    lanes: int = 4
    memory_cost: int = 64 * 1024  # KiB

    def to_json(self) -> dict[str, int]:
        return {"iterations": self.iterations, "lanes": self.lanes, "memory_cost": self.memory_cost}

    @classmethod
    def from_json(cls, data: Any) -> "Argon2Params":
        if not isinstance(data, dict):
            raise UnwrapError("missing Argon2 parameters")
        try:
            params = cls(int(data["iterations"]), int(data["lanes"]), int(data["memory_cost"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise UnwrapError("bad Argon2 parameters") from exc
        if not (1 <= params.iterations <= 20 and 1 <= params.lanes <= 16
                and 8 * params.lanes <= params.memory_cost <= 2 * 1024 * 1024):
            raise UnwrapError("Argon2 parameters out of range")
        return params


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: Any, *, what: str) -> bytes:
    if not isinstance(text, str):
        raise UnwrapError(f"{what} is not text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise UnwrapError(f"{what} is not base64") from exc


def derive_passphrase_key(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    """Stretch a passphrase into a 256-bit key-encryption key."""
    kdf = Argon2id(salt=salt, length=32, iterations=params.iterations, lanes=params.lanes,
                   memory_cost=params.memory_cost)
    # surrogatepass: a passphrase read from an undecodable terminal still has one stable encoding
    return kdf.derive(passphrase.encode("utf-8", "surrogatepass"))


def wrap_with_key(secret: bytes, kek: bytes, label: bytes) -> dict[str, str]:
    """Encrypt ``secret`` under ``kek``; ``label`` binds the blob to its purpose."""
    nonce = os.urandom(12)
    return {"nonce": b64e(nonce), "ciphertext": b64e(AESGCM(kek).encrypt(nonce, secret, label))}


def unwrap_with_key(blob: Any, kek: bytes, label: bytes) -> bytes:
    """Reverse :func:`wrap_with_key`; raise :class:`UnwrapError` on any mismatch."""
    if not isinstance(blob, dict):
        raise UnwrapError("wrapped key is not an object")
    nonce = b64d(blob.get("nonce"), what="nonce")
    ciphertext = b64d(blob.get("ciphertext"), what="ciphertext")
    if len(nonce) != 12:
        raise UnwrapError("bad nonce length")
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, label)
    except InvalidTag as exc:
        raise UnwrapError("wrong key or passphrase") from exc


def wrap_with_passphrase(secret: bytes, passphrase: str, label: bytes,
                         params: Argon2Params | None = None) -> dict[str, Any]:
    """Encrypt ``secret`` under a key stretched from ``passphrase`` with Argon2id."""
    params = params or Argon2Params()
    salt = os.urandom(16)
    blob: dict[str, Any] = wrap_with_key(secret, derive_passphrase_key(passphrase, salt, params), label)
    blob.update({"kdf": "argon2id", "salt": b64e(salt), "params": params.to_json()})
    return blob


def unwrap_with_passphrase(blob: Any, passphrase: str, label: bytes) -> bytes:
    """Reverse :func:`wrap_with_passphrase`."""
    if not isinstance(blob, dict) or blob.get("kdf") != "argon2id":
        raise UnwrapError("not an Argon2id-wrapped key")
    salt = b64d(blob.get("salt"), what="salt")
    if not 8 <= len(salt) <= 64:
        raise UnwrapError("bad salt length")
    params = Argon2Params.from_json(blob.get("params"))
    try:
        kek = derive_passphrase_key(passphrase, salt, params)
    except UnicodeEncodeError as exc:
        raise UnwrapError("the passphrase holds characters that cannot be encoded") from exc
    return unwrap_with_key(blob, kek, label)
