"""Staff accounts: enrolment with a one-time code, password and TOTP, and their lifecycle.

Functions here take an open connection and run inside the caller's transaction, so the node (on
its store thread) and the CLI (on its own connection) share one implementation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from crypto import passwords, totp
from crypto.tokens import new_token, token_digest
from node import audit
from node.store import Connection

ROLES = ("admin", "staff", "volunteer")
ENROL_SECONDS = 72 * 3600
_NAME = re.compile(r"^[^\W_][\w .\-]{0,62}[^\W_]$|^[^\W_]$", re.UNICODE)


class AccountError(ValueError):
    """A request about an account cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Account:
    """A staff member as the rest of the node sees them."""

    id: int
    name: str
    role: str
    state: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role, "state": self.state}


def check_name(name: object) -> str:
    """Return a valid account name or raise :class:`AccountError`."""
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise AccountError("a name has 1–64 letters, digits, spaces, dots or dashes")
    return name.strip()


def _account(row: tuple[object, ...] | None) -> Account | None:
    if row is None:
        return None
    return Account(int(row[0]), str(row[1]), str(row[2]), str(row[3]))  # type: ignore[arg-type]


def find(conn: Connection, name: str) -> Account | None:
    """The account called ``name`` (case-insensitive), if any."""
    return _account(conn.execute("SELECT id, name, role, state FROM accounts WHERE name = ?",
                                 (name,)).fetchone())


def by_id(conn: Connection, account_id: int) -> Account | None:
    return _account(conn.execute("SELECT id, name, role, state FROM accounts WHERE id = ?",
                                 (account_id,)).fetchone())


def list_all(conn: Connection) -> list[Account]:
    rows = conn.execute("SELECT id, name, role, state FROM accounts ORDER BY name").fetchall()
    return [a for a in map(_account, rows) if a is not None]


def add(conn: Connection, name: str, role: str, now: float, actor: str = "cli") -> str:
    """Create a pending account and return its one-time enrolment code."""
    name = check_name(name)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if find(conn, name) is not None:
        raise AccountError(f"an account called {name!r} exists already")
    code = new_token(24)
    conn.execute("INSERT INTO accounts (name, role, state, enrol_digest, enrol_expires, created) "
                 "VALUES (?, ?, 'pending', ?, ?, ?)", (name, role, token_digest(code), now + ENROL_SECONDS, now))
    audit.record(conn, now, actor, "account_added", "account", name, name)
    return code


def reset(conn: Connection, name: str, now: float, actor: str = "cli") -> str:
    """Clear password and TOTP, end sessions, and issue a fresh enrolment code."""
    account = find(conn, name)
    if account is None:
        raise AccountError(f"no account called {name!r}")
    code = new_token(24)
    conn.execute("UPDATE accounts SET state='pending', password_hash=NULL, totp_secret=NULL, "
                 "totp_last_step=NULL, pending_totp=NULL, enrol_digest=?, enrol_expires=? WHERE id=?",
                 (token_digest(code), now + ENROL_SECONDS, account.id))
    conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
    audit.record(conn, now, actor, "account_reset", "account", account.name, account.name)
    return code


def disable(conn: Connection, name: str, now: float, actor: str = "cli") -> None:
    """Disable an account and end all its sessions at once."""
    account = find(conn, name)
    if account is None:
        raise AccountError(f"no account called {name!r}")
    conn.execute("UPDATE accounts SET state='disabled', enrol_digest=NULL WHERE id=?", (account.id,))
    conn.execute("DELETE FROM sessions WHERE account_id = ?", (account.id,))
    audit.record(conn, now, actor, "account_disabled", "account", account.name, account.name)


def _pending(conn: Connection, code: object, now: float) -> tuple[Account, bytes | None]:
    if not isinstance(code, str) or not 16 <= len(code) <= 128:
        raise AccountError("the enrolment code is not valid")
    row = conn.execute("SELECT id, name, role, state, enrol_expires, pending_totp FROM accounts "
                       "WHERE enrol_digest = ? AND state = 'pending'", (token_digest(code),)).fetchone()
    if row is None or row[4] < now:
        raise AccountError("the enrolment code is not valid or has expired; ask an administrator for a new one")
    account = _account(row[:4])
    assert account is not None
    return account, row[5]


def enrol_start(conn: Connection, code: object, now: float) -> tuple[Account, bytes]:
    """Check the code and return a (new or repeated) TOTP secret to show as a QR code."""
    account, secret = _pending(conn, code, now)
    if secret is None:
        secret = totp.new_secret()
        conn.execute("UPDATE accounts SET pending_totp = ? WHERE id = ?", (secret, account.id))
    return account, secret


def enrol_finish(conn: Connection, code: object, password: object, totp_code: object, now: float) -> Account:
    """Set the password and confirm the TOTP secret with a first code; the enrolment code dies."""
    account, secret = _pending(conn, code, now)
    if secret is None:
        raise AccountError("start enrolment first, to get the code for your authenticator app")
    try:
        passwords.check_policy(password, name=account.name)  # type: ignore[arg-type]
    except passwords.PasswordPolicyError as exc:
        raise AccountError(str(exc)) from exc
    step = totp.matching_step(secret, totp_code, now) if isinstance(totp_code, str) else None
    if step is None:
        raise AccountError("the six-digit code does not match; check the clock on your phone")
    conn.execute("UPDATE accounts SET state='active', password_hash=?, totp_secret=?, totp_last_step=?, "
                 "pending_totp=NULL, enrol_digest=NULL, enrol_expires=NULL WHERE id=?",
                 (passwords.hash_password(password), secret, step, account.id))  # type: ignore[arg-type]
    audit.record(conn, now, account.name, "enrolled", "account", account.name, account.name)
    return Account(account.id, account.name, account.role, "active")


@dataclass(frozen=True)
class Credentials:
    """What a login check needs from the store."""

    account: Account
    password_hash: str
    totp_secret: bytes
    totp_last_step: int | None


def credentials(conn: Connection, name: str) -> Credentials | None:
    """The stored secrets of an active account, or ``None``."""
    row = conn.execute("SELECT id, name, role, state, password_hash, totp_secret, totp_last_step "
                       "FROM accounts WHERE name = ? AND state = 'active'", (name,)).fetchone()
    if row is None:
        return None
    account = _account(row[:4])
    assert account is not None
    return Credentials(account, row[4], row[5], row[6])


def use_totp_step(conn: Connection, account_id: int, step: int) -> bool:
    """Record a used TOTP step; False when it (or a later one) was used already (a replay)."""
    cur = conn.execute("UPDATE accounts SET totp_last_step = ? WHERE id = ? AND "
                       "(totp_last_step IS NULL OR totp_last_step < ?)", (step, account_id, step))
    return cur.rowcount == 1
