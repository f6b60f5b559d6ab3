"""Short-lived TURN credentials for coturn's ``use-auth-secret`` (draft-uberti-behave-turn-rest-00).

The node and coturn share one secret (``static-auth-secret``). The node hands each client
username ``"<expiry>:<tag>"`` and password ``base64(HMAC-SHA1(secret, username))``; coturn
recomputes the password and refuses the username once its expiry (Unix seconds) has passed. Nothing
is stored and nothing needs revoking: a credential simply dies.

The tag is opaque to coturn but ends up in its logs when logging is on, so it must never name a
person: use a random per-connection id (:func:`new_tag`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

MAX_TTL = 24 * 3600        # the draft suggests about a day at most; calls need far less
DEFAULT_TTL = 3600
_TAG = re.compile(r"[A-Za-z0-9._-]{1,64}")
_URL = re.compile(r"turns?:[^\s?]+(\?transport=(udp|tcp))?")


def new_tag() -> str:
    """A random tag that identifies a credential without identifying anybody."""
    return secrets.token_urlsafe(9)


def turn_password(secret: str | bytes, username: str) -> str:
    """``base64(HMAC-SHA1(secret, username))``, as coturn computes it."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the TURN secret is empty")
    return base64.b64encode(hmac.new(key, username.encode("utf-8"), hashlib.sha1).digest()).decode("ascii")


def turn_credentials(secret: str | bytes, ttl: int, now: float, tag: str,
                     urls: Sequence[str] = ()) -> dict[str, object]:
    """An RTCIceServer-shaped dict (``urls``, ``username``, ``credential``) valid for ``ttl`` seconds."""
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= MAX_TTL:
        raise ValueError(f"a TURN credential lives 1-{MAX_TTL} seconds")
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise ValueError("a TURN tag has 1-64 letters, digits, dots, dashes or underscores")
    for url in urls:
        if not isinstance(url, str) or not _URL.fullmatch(url):
            raise ValueError(f"not a TURN URL: {url!r}")
    username = f"{int(now) + ttl}:{tag}"
    return {"urls": list(urls), "username": username, "credential": turn_password(secret, username)}
