"""Staff login, session lookup and logout, as a plain class the views and tests drive."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from crypto import passwords, totp
from node import accounts, audit, sessions
from node.accounts import Account
from node.clock import Clock
from node.ratelimit import LoginLimiter, source_key
from node.sessions import Session, SessionPolicy
from node.store import Store


class AuthError(Exception):
    """A login was refused. ``retry_after`` is set when the refusal is a lockout."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginResult:
    """A new session."""

    token: str
    csrf: str
    account: Account
    expires: float


class Auth:
    """Checks passwords and TOTP codes, applies backoff, and writes the audit log."""

    def __init__(self, store: Store, clock: Clock, policy: SessionPolicy | None = None,
                 limiter: LoginLimiter | None = None) -> None:
        self.store, self.clock = store, clock
        self.policy = policy or SessionPolicy()
        self.limiter = limiter or LoginLimiter(clock)

    async def login(self, name: str, password: str, code: str, source: str | None) -> LoginResult:
        """Check all three; a refusal never says which part was wrong."""
        account_key = "acct:" + name.strip().lower()
        source_id = "src:" + source_key(source, self.limiter.salt)
        wait = self.limiter.retry_after(account_key, source_id)
        if wait > 0:
            raise AuthError("too many failed attempts; wait before trying again", wait)
        creds = await self.store.read(accounts.credentials, name.strip())
        if creds is None:
            await asyncio.to_thread(passwords.dummy_verify)
            ok = False
        else:
            ok = await asyncio.to_thread(passwords.verify_password, password, creds.password_hash)
        step = None
        if ok and creds is not None:
            step = totp.matching_step(creds.totp_secret, code, self.clock.now(), creds.totp_last_step)
        if creds is None or step is None:
            self.limiter.failed(account_key, source_id)
            actor = creds.account.name if creds else (await self._known_name(name))
            await self.store.write(audit.record, self.clock.now(), actor, "login_failed", "account",
                                   None, actor if actor != "unknown" else None)
            raise AuthError("name, password or code is wrong")
        result = await self.store.write(self._open_session, creds.account, step)
        if result is None:
            self.limiter.failed(account_key, source_id)
            raise AuthError("name, password or code is wrong")
        self.limiter.succeeded(account_key)
        return result

    async def _known_name(self, name: str) -> str:
        """The stored spelling of an existing (e.g. disabled) account, else ``unknown``.

        A typed name that matches no account is not stored: it may be a mistyped password.
        """
        account = await self.store.read(accounts.find, name.strip())
        return account.name if account else "unknown"

    def _open_session(self, conn: accounts.Connection, account: Account, step: int) -> LoginResult | None:
        now = self.clock.now()
        if not accounts.use_totp_step(conn, account.id, step):
            audit.record(conn, now, account.name, "login_failed", "account", None, account.name)
            return None
        token, csrf = sessions.create(conn, account.id, now)
        audit.record(conn, now, account.name, "login", "account", None, account.name)
        expires = now + min(self.policy.idle_seconds, self.policy.absolute_seconds)
        return LoginResult(token, csrf, account, expires)

    async def session(self, token: str | None) -> Session | None:
        """The live session for a token, or ``None``."""
        if not token:
            return None
        return await self.store.write(sessions.lookup, token, self.clock.now(), self.policy)

    async def logout(self, token: str) -> bool:
        """End a session and log it."""
        def _end(conn: accounts.Connection) -> bool:
            live = sessions.lookup(conn, token, self.clock.now(), self.policy)
            if live is None:
                return False
            sessions.end(conn, token)
            audit.record(conn, self.clock.now(), live.account.name, "logout", "account", None,
                         live.account.name)
            return True
        return await self.store.write(_end)
