"""Security headers, same-origin checks and CSRF protection for every request."""
from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'; manifest-src 'self'; worker-src 'self'")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def origin_allowed(origin: str | None, host: str | None, extra: list[str]) -> bool:
    """True when ``origin`` names this node (same host and port as the request) or a configured origin."""
    if not origin or origin == "null" or not host:
        return False
    if origin.rstrip("/") in extra:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return False
    default = {"http": "80", "https": "443"}[parts.scheme]
    origin_host = parts.hostname or ""
    try:
        origin_port = str(parts.port or default)
    except ValueError:
        return False
    req = urlsplit("//" + host)
    try:
        req_port = str(req.port or default)
    except ValueError:
        return False
    return origin_host.lower() == (req.hostname or "").lower() and origin_port == req_port


def headers_middleware(https: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Add the security headers to every response, errors included."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _apply(exc.headers, request, https)
            raise
        _apply(response.headers, request, https)
        return response

    return middleware


def _apply(headers: "web.StreamResponse.headers", request: web.Request, https: bool) -> None:  # type: ignore[name-defined]
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=(), payment=()"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.path.startswith("/api/") or request.path == "/healthz":
        headers["Cache-Control"] = "no-store"


def same_origin_middleware(extra_origins: list[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse state-changing requests that a browser sent from another origin."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and not origin_allowed(origin, request.host, extra_origins):
                raise web.HTTPForbidden(text='{"error": "cross_origin", "reason": "cross-origin request refused"}',
                                        content_type="application/json")
        return await handler(request)

    return middleware
