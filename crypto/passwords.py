"""Staff password hashing (Argon2id) and the password policy."""
from __future__ import annotations

import functools
import hmac
import os
from importlib import resources

from crypto.wrapping import Argon2Params, UnwrapError, b64d, b64e, derive_passphrase_key

MIN_LENGTH = 12
MAX_LENGTH = 256
# Lighter than the key-wrapping default: every login pays this. RFC 9106 lists 19 MiB, t=2 too.
LOGIN_PARAMS = Argon2Params(iterations=2, lanes=1, memory_cost=19 * 1024)


class PasswordPolicyError(ValueError):
    """A chosen password is too short, too long or too common."""


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (lower case)."""
    text = resources.files("crypto").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_policy(password: str, *, name: str = "") -> None:
    """Raise :class:`PasswordPolicyError` with a plain reason when a password is unsuitable."""
    if not isinstance(password, str):
        raise PasswordPolicyError("password must be text")
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"password must have at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 4:
        raise PasswordPolicyError("password is too common or too simple")
    if name and name.lower() in lowered:
        raise PasswordPolicyError("password must not contain the user name")


def hash_password(password: str, params: Argon2Params = LOGIN_PARAMS) -> str:
    """Return a self-describing Argon2id hash string."""
    salt = os.urandom(16)
    digest = derive_passphrase_key(password, salt, params)
    return f"argon2id${params.iterations}${params.lanes}${params.memory_cost}${b64e(salt)}${b64e(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a hash from :func:`hash_password`."""
    if not isinstance(password, str) or not isinstance(stored, str) or len(password) > MAX_LENGTH:
        return False
    try:
        kind, t, p, m, salt, digest = stored.split("$")
        if kind != "argon2id":
            return False
        params = Argon2Params.from_json({"iterations": t, "lanes": p, "memory_cost": m})
        expected = b64d(digest, what="digest")
        actual = derive_passphrase_key(password, b64d(salt, what="salt"), params)
    except (ValueError, UnwrapError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(expected, actual)


def dummy_verify() -> None:
    """Spend the same time as a real check, so unknown names are not revealed by timing."""
    derive_passphrase_key("x", b"0" * 16, LOGIN_PARAMS)
