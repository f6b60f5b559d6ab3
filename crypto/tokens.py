"""Random bearer secrets and their stored digests."""
from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits, above the 128-bit floor for session tokens


def new_token(nbytes: int = TOKEN_BYTES) -> str:
    """Return a URL-safe random token carrying ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest stored in place of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same(a: str, b: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
