"""Finding the staff session behind an HTTP request (cookie or bearer token), with CSRF checks."""
from __future__ import annotations

from aiohttp import web

from crypto.tokens import same
from node.context import CONTEXT
from node.ratelimit import source_key
from node.security import UNSAFE_METHODS
from node.sessions import Session

COOKIE = "fristed_session"


def bearer_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer …``, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and len(header) < 200:
        return header[7:].strip()
    return None


async def session_for(request: web.Request) -> Session | None:
    """The session, checking the CSRF header for cookie-authenticated state changes."""
    ctx = request.app[CONTEXT]
    token = bearer_token(request)
    if token is not None:
        return await ctx.auth.session(token)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    session = await ctx.auth.session(cookie)
    if session is not None and request.method in UNSAFE_METHODS:
        if not same(request.headers.get("X-CSRF-Token", ""), session.csrf):
            raise web.HTTPForbidden(text='{"error": "csrf", "reason": "missing or wrong CSRF token"}',
                                    content_type="application/json")
    return session


async def require_session(request: web.Request, roles: frozenset[str] | None = None) -> Session:
    """The session, or 401/403 with a reason."""
    session = await session_for(request)
    if session is None:
        raise web.HTTPUnauthorized(text='{"error": "unauthorised", "reason": "log in first"}',
                                   content_type="application/json")
    if roles is not None and session.account.role not in roles:
        raise web.HTTPForbidden(text='{"error": "forbidden", "reason": "your role may not do this"}',
                                content_type="application/json")
    return session


def request_token(request: web.Request) -> str | None:
    """The raw session token presented (bearer first, then cookie)."""
    return bearer_token(request) or request.cookies.get(COOKIE)


def anonymous_key(request: web.Request) -> str:
    """An opaque per-source key for anonymous rate limits (the address is not kept)."""
    ctx = request.app[CONTEXT]
    return source_key(request.remote, ctx.anonymous_limit.salt)
