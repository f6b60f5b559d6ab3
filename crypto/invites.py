"""Signed, expiring invite tokens for room links and QR codes.

A token is ``f1.<payload>.<mac>``: ``f1`` names the format version, ``payload`` is a compact binary
record in URL-safe base64 without padding, and ``mac`` is HMAC-SHA256 under a 256-bit secret the
node holds, over a purpose label and everything before the last dot (so the version is signed too).
The payload is only parsed after the signature checks out. Each token carries a random 128-bit token
id; the node stores only that id's digest, which is what makes a link single-use or revocable.

Payload layout (big-endian): role (1 byte, ``g`` guest or ``h`` host) · expiry (8 bytes, Unix
seconds) · token id (16 bytes) · room id (1 length byte + ASCII) · name hint (1 length byte +
UTF-8, may be empty).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from dataclasses import dataclass

import segno

VERSION = "f1"
SECRET_BYTES = 32
MAX_TOKEN = 512            # characters; anything longer is refused before it is looked at
MAX_ROOM_ID = 64
MAX_HINT = 40              # characters, as for a citizen's chosen name
MAX_URL = 1024
ROLES = {"guest": b"g", "host": b"h"}
_ROLE_NAMES = {v: k for k, v in ROLES.items()}
_LABEL = b"fristed invite\x00"
_ID_BYTES = 16
_MAC_BYTES = 32
_FIXED = struct.Struct(">cQ16s")
_ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64 = re.compile(r"[A-Za-z0-9_-]*")
_OTHER_VERSION = re.compile(r"f[0-9]{1,3}")


class InviteError(ValueError):
    """An invite token is refused; ``kind`` says why in one word, the message in plain words.

    ``kind`` is one of ``oversize``, ``malformed``, ``version``, ``tampered`` or ``expired``.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass(frozen=True)
class Invite:
    """What a verified token says."""

    room: str
    role: str          # "guest" or "host"
    expires: int       # Unix seconds; the token is refused from this second on
    token_id: str      # URL-safe base64 of 16 random bytes; the store keeps only its digest
    hint: str | None   # a name the participant may be greeted with, if staff gave one


def new_secret() -> bytes:
    """A fresh 256-bit signing secret for the node."""
    return secrets.token_bytes(SECRET_BYTES)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes | None:
    """Decode unpadded URL-safe base64, only in its one canonical spelling (or ``None``)."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return data if _b64e(data) == text else None  # unused low bits must be zero


def _mac(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, _LABEL + signed.encode("ascii"), hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < SECRET_BYTES:
        raise ValueError("the invite secret must be at least 32 random bytes")


def sign(invite: Invite, secret: bytes) -> str:
    """Encode and sign ``invite``; raises ``ValueError`` for values no token may carry."""
    _check_secret(secret)
    if invite.role not in ROLES:
        raise ValueError("role must be 'guest' or 'host'")
    if not isinstance(invite.room, str) or not _ROOM_ID.fullmatch(invite.room):
        raise ValueError("a room id has 1-64 URL-safe characters")
    if not 0 < invite.expires < 2**63:
        raise ValueError("expiry out of range")
    token_id = _b64d(invite.token_id)
    if token_id is None or len(token_id) != _ID_BYTES:
        raise ValueError("a token id is 16 bytes in URL-safe base64")
    if invite.hint is not None and not (isinstance(invite.hint, str) and 0 < len(invite.hint) <= MAX_HINT
                                        and invite.hint.isprintable()):
        raise ValueError(f"a name hint has 1-{MAX_HINT} printable characters")
    hint = (invite.hint or "").encode("utf-8")  # lone surrogates are not printable, so this encodes
    room = invite.room.encode("ascii")
    payload = (_FIXED.pack(ROLES[invite.role], invite.expires, token_id)
               + bytes([len(room)]) + room + bytes([len(hint)]) + hint)
    signed = f"{VERSION}.{_b64e(payload)}"
    token = f"{signed}.{_b64e(_mac(secret, signed))}"
    assert len(token) <= MAX_TOKEN
    return token


def issue(secret: bytes, room: str, *, now: float, ttl: float, role: str = "guest",
          hint: str | None = None) -> tuple[str, Invite]:
    """A new token for ``room`` valid for ``ttl`` seconds from ``now``; returns (token, invite)."""
    if ttl <= 0:
        raise ValueError("an invite must live for some time")
    invite = Invite(room, role, int(now + ttl), _b64e(secrets.token_bytes(_ID_BYTES)), hint or None)
    return sign(invite, secret), invite


def _parse(payload: bytes) -> Invite:
    if len(payload) < _FIXED.size + 2:
        raise ValueError("short")
    role, expires, token_id = _FIXED.unpack_from(payload)
    at = _FIXED.size
    room_len = payload[at]
    room = payload[at + 1:at + 1 + room_len].decode("ascii")
    at += 1 + room_len
    hint_len = payload[at]
    hint = payload[at + 1:at + 1 + hint_len].decode("utf-8")
    if (role not in _ROLE_NAMES or at + 1 + hint_len != len(payload) or not _ROOM_ID.fullmatch(room)
            or len(hint) > MAX_HINT or not hint.isprintable() or expires <= 0):
        raise ValueError("bad field")
    return Invite(room, _ROLE_NAMES[role], expires, _b64e(token_id), hint or None)


def verify(token: str | bytes, secret: bytes, now: float) -> Invite:
    """Check a token's form, signature and expiry; raise :class:`InviteError` with the reason."""
    _check_secret(secret)
    if not isinstance(token, (str, bytes)):
        raise InviteError("malformed", "the invite is not text")
    if len(token) > MAX_TOKEN:
        raise InviteError("oversize", f"the invite is longer than {MAX_TOKEN} characters")
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise InviteError("malformed", "the invite holds characters no invite has") from None
    parts = token.split(".")
    if len(parts) != 3:
        raise InviteError("malformed", "the invite is not complete; copy the whole link")
    version, payload_text, mac_text = parts
    if version != VERSION:
        if _OTHER_VERSION.fullmatch(version):
            raise InviteError("version", "the invite was made by another version of fristed")
        raise InviteError("malformed", "this is not a fristed invite")
    mac = _b64d(mac_text)
    payload = _b64d(payload_text)
    if mac is None or payload is None or len(mac) != _MAC_BYTES:
        raise InviteError("malformed", "the invite is damaged; copy the whole link")
    if not hmac.compare_digest(mac, _mac(secret, f"{version}.{payload_text}")):
        raise InviteError("tampered", "the invite's signature does not match; it was altered or is not from here")
    try:
        invite = _parse(payload)
    except (ValueError, IndexError, struct.error):
        raise InviteError("malformed", "the invite is signed but unreadable") from None
    if now >= invite.expires:
        raise InviteError("expired", "the invite has expired; ask for a new one")
    return invite


def invite_qr_svg(url: str) -> str:
    """An SVG QR code of ``url`` as a ``data:`` URI, for an ``<img src>`` on the staff page."""
    if not isinstance(url, str) or not 0 < len(url) <= MAX_URL:
        raise ValueError(f"an invite link has 1-{MAX_URL} characters")
    return segno.make(url, error="m").svg_data_uri(scale=5)
