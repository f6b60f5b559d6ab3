"""Time-based one-time passwords (RFC 6238) for the staff second factor."""
from __future__ import annotations

import base64
import os
import re
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 6
STEP = 30
WINDOW = 1  # accept one step either side for clock drift
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> bytes:
    """A fresh 160-bit TOTP secret."""
    return os.urandom(20)


def secret_base32(secret: bytes) -> str:
    """The secret as authenticator apps expect it (base32, no padding)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def provisioning_uri(secret: bytes, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI that an authenticator app reads from a QR code."""
    label = quote(f"{issuer}:{account}")
    return (f"otpauth://totp/{label}?secret={secret_base32(secret)}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP}")


def code_at(secret: bytes, when: float) -> str:
    """The code valid at time ``when`` (for tests and enrolment checks)."""
    return TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=False).generate(int(when)).decode()


def matching_step(secret: bytes, code: str, when: float, last_step: int | None = None) -> int | None:
    """Return the time step ``code`` is valid for, or ``None``.

    A step at or before ``last_step`` is refused, so a code cannot be replayed.
    """
    if not isinstance(code, str) or not _CODE.match(code):
        return None
    totp = TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=False)
    now_step = int(when) // STEP
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if step < 0 or (last_step is not None and step <= last_step):
            continue
        try:
            totp.verify(code.encode(), step * STEP)
        except InvalidToken:
            continue
        return step
    return None
