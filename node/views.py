"""Thin HTTP views: parse, call a plain class, answer JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import segno
from aiohttp import web

from crypto import totp
from node import __version__, accounts
from node.accounts import AccountError
from node.auth import AuthError
from node.context import CONTEXT
from node.ice import ice_servers
from node.httpauth import COOKIE, anonymous_key, request_token, require_session
from node.validation import InvalidInput, parse_json_object, text_field
from node.ws import close_session

STATIC = Path(__file__).parent / "static"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def json_error(status: int, code: str, reason: str, **extra: Any) -> web.Response:
    return json_response({"error": code, "reason": reason, **extra}, status)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request body as a bounded JSON object."""
    if request.content_type != "application/json":
        raise InvalidInput("send the body as application/json", "bad_content_type")
    return parse_json_object(await request.read())


def page(name: str) -> web.Response:
    """A static HTML page from ``node/static``."""
    body = (STATIC / name).read_bytes()
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def index(request: web.Request) -> web.Response:
    return page("index.html")


async def staff_page(request: web.Request) -> web.Response:
    return page("staff.html")


async def enrol_page(request: web.Request) -> web.Response:
    return page("enrol.html")


async def healthz(request: web.Request) -> web.Response:
    """Liveness for monitors: no secrets, no counts, no addresses."""
    ctx = request.app[CONTEXT]
    store_ok = await ctx.store.healthy()
    return json_response({"status": "ok" if store_ok else "degraded", "version": __version__,
                          "uptime_s": round(ctx.clock.now() - ctx.started, 1), "store": store_ok},
                         200 if store_ok else 503)


async def ca_certificate(request: web.Request) -> web.Response:
    """The node-local CA certificate, for devices that should trust this node."""
    tls = request.app[CONTEXT].tls
    if tls is None or tls.ca_cert is None:
        return json_error(404, "no_local_ca", "this node uses a certificate from elsewhere")
    return web.Response(body=tls.ca_cert.read_bytes(), content_type="application/x-x509-ca-cert",
                        headers={"Content-Disposition": 'attachment; filename="fristed-ca.crt"'})


def _limit_anonymous(request: web.Request) -> None:
    ctx = request.app[CONTEXT]
    if not ctx.anonymous_limit.take(anonymous_key(request)):
        raise web.HTTPTooManyRequests(text='{"error": "rate_limited", "reason": "too many requests; wait a moment"}',
                                      content_type="application/json", headers={"Retry-After": "5"})


async def enrol_start(request: web.Request) -> web.Response:
    """Check an enrolment code and return the TOTP secret as text, URI and QR code."""
    _limit_anonymous(request)
    body = await read_body(request)
    code = text_field(body, "code", max_len=128)
    ctx = request.app[CONTEXT]
    account, secret = await ctx.store.write(accounts.enrol_start, code, ctx.clock.now())
    uri = totp.provisioning_uri(secret, account.name, f"fristed {ctx.config.node_name}"[:40])
    return json_response({"name": account.name, "role": account.role, "secret": totp.secret_base32(secret),
                          "otpauth": uri, "qr": segno.make(uri, error="m").svg_data_uri(scale=5)})


async def enrol_finish(request: web.Request) -> web.Response:
    """Set password and confirm TOTP; the code stops working."""
    _limit_anonymous(request)
    body = await read_body(request)
    code = text_field(body, "code", max_len=128)
    password = text_field(body, "password", max_len=256)
    otp = text_field(body, "totp", max_len=16)
    ctx = request.app[CONTEXT]
    account = await ctx.store.write(accounts.enrol_finish, code, password, otp, ctx.clock.now())
    return json_response({"account": account.to_json()})


async def login(request: web.Request) -> web.Response:
    """Password and TOTP in; a fresh session cookie and bearer token out."""
    body = await read_body(request)
    name = text_field(body, "name", max_len=64)
    password = text_field(body, "password", max_len=256)
    otp = text_field(body, "totp", max_len=16)
    ctx = request.app[CONTEXT]
    assert name is not None and password is not None and otp is not None
    result = await ctx.auth.login(name, password, otp, request.remote)
    response = json_response({"token": result.token, "csrf": result.csrf, "expires": result.expires,
                              "account": result.account.to_json()})
    response.set_cookie(COOKIE, result.token, httponly=True, secure=True, samesite="Strict", path="/",
                        max_age=int(ctx.auth.policy.absolute_seconds))
    return response


async def logout(request: web.Request) -> web.Response:
    session = await require_session(request)
    token = request_token(request)
    assert token is not None
    await request.app[CONTEXT].auth.logout(token)
    await close_session(request.app, session.digest)
    response = json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def ice(request: web.Request) -> web.Response:
    """ICE servers for a staff client: the node's own TURN relay with fresh credentials, or none."""
    await require_session(request)
    ctx = request.app[CONTEXT]
    return json_response({"iceServers": ice_servers(ctx.config.turn, request.host, ctx.clock.now())})


async def me(request: web.Request) -> web.Response:
    session = await require_session(request)
    return json_response({"account": session.account.to_json(), "csrf": session.csrf,
                          "expires": session.expires})


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn refusals into JSON with a plain reason; nothing is changed by refused input."""
    try:
        return await handler(request)
    except InvalidInput as exc:
        return json_error(400, exc.code, exc.reason)
    except AccountError as exc:
        return json_error(400, "refused", str(exc))
    except AuthError as exc:
        if exc.retry_after > 0:
            resp = json_error(429, "locked", exc.reason, retry_after=round(exc.retry_after))
            resp.headers["Retry-After"] = str(int(exc.retry_after) + 1)
            return resp
        return json_error(401, "login_failed", exc.reason)
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, "too_large", "request body is too large")
