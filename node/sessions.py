"""Staff sessions: 256-bit bearer tokens stored only as digests, with idle and absolute expiry."""
from __future__ import annotations

from dataclasses import dataclass

from crypto.tokens import new_token, token_digest
from node.accounts import Account, by_id
from node.store import Connection

TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives. A night shift fits inside the absolute limit."""

    idle_seconds: float = 2 * 3600
    absolute_seconds: float = 13 * 3600


@dataclass(frozen=True)
class Session:
    """A live session and the account it belongs to."""

    digest: str
    account: Account
    csrf: str
    created: float
    expires: float


def create(conn: Connection, account_id: int, now: float) -> tuple[str, str]:
    """Start a new session (a fresh token at every login); return ``(token, csrf)``."""
    token, csrf = new_token(), new_token()
    conn.execute("INSERT INTO sessions (digest, account_id, csrf, created, last_seen) VALUES (?,?,?,?,?)",
                 (token_digest(token), account_id, csrf, now, now))
    return token, csrf


def lookup(conn: Connection, token: str, now: float, policy: SessionPolicy) -> Session | None:
    """The live session for ``token``; expired ones are deleted on sight."""
    if not isinstance(token, str) or not 20 <= len(token) <= 128:
        return None
    digest = token_digest(token)
    row = conn.execute("SELECT account_id, csrf, created, last_seen FROM sessions WHERE digest = ?",
                       (digest,)).fetchone()
    if row is None:
        return None
    account_id, csrf, created, last_seen = row
    expires = min(created + policy.absolute_seconds, last_seen + policy.idle_seconds)
    account = by_id(conn, account_id)
    if now >= expires or account is None or account.state != "active":
        conn.execute("DELETE FROM sessions WHERE digest = ?", (digest,))
        return None
    if now - last_seen >= TOUCH_EVERY:
        conn.execute("UPDATE sessions SET last_seen = ? WHERE digest = ?", (now, digest))
        expires = min(created + policy.absolute_seconds, now + policy.idle_seconds)
    return Session(digest, account, csrf, created, expires)


def end(conn: Connection, token: str) -> bool:
    """End the session for ``token``; True if there was one."""
    return conn.execute("DELETE FROM sessions WHERE digest = ?", (token_digest(token),)).rowcount == 1


def purge_expired(conn: Connection, now: float, policy: SessionPolicy) -> int:
    """Delete every expired session."""
    return conn.execute("DELETE FROM sessions WHERE created <= ? OR last_seen <= ?",
                        (now - policy.absolute_seconds, now - policy.idle_seconds)).rowcount
