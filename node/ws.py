"""The WebSocket endpoint ``/ws``: Origin check, who is speaking, validation, rate limits, dispatch."""
from __future__ import annotations

import json
import logging
import weakref
from typing import Any, Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from node import __version__
from node.context import CONTEXT
from node.httpauth import COOKIE, anonymous_key, bearer_token
from node.protocol import Handler, Message, ProtocolRefusal, error_frame, largest_frame, parse_frame
from node.ratelimit import TokenBucket
from node.security import origin_allowed
from node.sessions import Session
from node.validation import InvalidInput

log = logging.getLogger("fristed.ws")
MESSAGE_RATE = 5.0      # sustained frames a second per connection
MESSAGE_BURST = 30.0
REFUSED_BURST = 40.0    # refused frames in a row before the node closes the connection
REFUSED_RATE = 1.0      # ... and how fast that allowance comes back, per second

HANDLERS: web.AppKey[dict[str, Handler]] = web.AppKey("ws_handlers", dict)
Hook = Callable[["Peer"], Awaitable[None]]
ON_CONNECT: web.AppKey[list[Hook]] = web.AppKey("ws_on_connect", list)
ON_DISCONNECT: web.AppKey[list[Hook]] = web.AppKey("ws_on_disconnect", list)
PEERS: web.AppKey["weakref.WeakSet[Peer]"] = web.AppKey("ws_peers", weakref.WeakSet)


class Peer:
    """One open WebSocket: a citizen (anonymous) or a logged-in staff member."""

    def __init__(self, ws: web.WebSocketResponse, session: Session | None, token: str | None = None) -> None:
        self.ws = ws
        self.session = session
        self.token = token  # kept in memory only, to re-check the session while the socket lives
        self.role = session.account.role if session else "citizen"
        self.refused = 0
        self.allowance: TokenBucket | None = None  # refused frames the connection may still send
        self.conversation: str | None = None  # a citizen's current chat
        self.reply_to: str | None = None  # the ``id`` of the frame being handled, echoed by :meth:`reply`
        self.host = ""  # the Host the socket was opened with (for TURN URLs); set by :func:`websocket`

    @property
    def account_id(self) -> int | None:
        return self.session.account.id if self.session else None

    @property
    def name(self) -> str | None:
        return self.session.account.name if self.session else None

    async def reply(self, frame: dict[str, Any]) -> bool:
        """Send the direct answer to the frame being handled, carrying its ``id``."""
        return await self.send({**frame, "id": self.reply_to} if self.reply_to else frame)

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send a frame; False if the socket is gone."""
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
        except (ConnectionError, RuntimeError):
            return False
        return True


async def _ping(peer: Peer, msg: Message) -> None:
    await peer.reply({"type": "pong"})


def install(app: web.Application) -> None:
    """Set up the handler table and peer set; other modules add handlers to ``app[HANDLERS]``."""
    app[HANDLERS] = {"ping": _ping}
    app[PEERS] = weakref.WeakSet()
    app[ON_CONNECT] = []
    app[ON_DISCONNECT] = []
    app.on_shutdown.append(_close_all)


SESSION_ENDED = 4001


async def close_session(app: web.Application, digest: str) -> None:
    """Close every socket opened with the session ``digest`` (after logout)."""
    for peer in list(app[PEERS]):
        if peer.session is not None and peer.session.digest == digest:
            await peer.ws.close(code=SESSION_ENDED, message=b"logged out")


async def revalidate(app: web.Application) -> None:
    """Close staff sockets whose session has expired or whose account was disabled meanwhile."""
    ctx = app[CONTEXT]
    for peer in list(app[PEERS]):
        if peer.session is not None and await ctx.auth.session(peer.token) is None:
            await peer.ws.close(code=SESSION_ENDED, message=b"session ended")


async def _close_all(app: web.Application) -> None:
    for peer in list(app[PEERS]):
        await peer.ws.close(code=WSCloseCode.GOING_AWAY, message=b"node is shutting down")


async def websocket(request: web.Request) -> web.StreamResponse:
    """Upgrade after the Origin and authentication checks, then serve frames."""
    ctx = request.app[CONTEXT]
    origin = request.headers.get("Origin")
    token = bearer_token(request)
    if origin is not None and not origin_allowed(origin, request.host, ctx.config.extra_origins):
        raise web.HTTPForbidden(text='{"error": "cross_origin", "reason": "cross-origin WebSocket refused"}',
                                content_type="application/json")
    if origin is None and token is None:
        raise web.HTTPForbidden(text='{"error": "no_origin", "reason": "browsers must send Origin; '
                                     'other clients must log in"}', content_type="application/json")
    session = await ctx.auth.session(token or request.cookies.get(COOKIE))
    if token is not None and session is None:
        raise web.HTTPUnauthorized(text='{"error": "unauthorised", "reason": "token is not valid"}',
                                   content_type="application/json")
    if session is None and not ctx.anonymous_limit.take(anonymous_key(request)):
        raise web.HTTPTooManyRequests(text='{"error": "rate_limited", "reason": "too many connections"}',
                                      content_type="application/json")
    # the socket admits the largest frame any message type declares; each type's own limit is
    # checked in parse_frame, and a frame over it closes the connection with 1009 all the same
    ws = web.WebSocketResponse(max_msg_size=largest_frame(), heartbeat=25.0, compress=False)
    await ws.prepare(request)
    peer = Peer(ws, session, (token or request.cookies.get(COOKIE)) if session else None)
    peer.host = request.host
    request.app[PEERS].add(peer)
    bucket = TokenBucket(ctx.clock, MESSAGE_RATE, MESSAGE_BURST)
    peer.allowance = TokenBucket(ctx.clock, REFUSED_RATE, REFUSED_BURST)
    await peer.send({"type": "welcome", "role": peer.role, "name": peer.name, "version": __version__})
    handlers = request.app[HANDLERS]
    try:
        for hook in request.app[ON_CONNECT]:
            await hook(peer)
        async for raw in ws:
            if raw.type == WSMsgType.ERROR:
                break
            if raw.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if not bucket.take():
                peer.refused += 1
                await peer.send(error_frame("rate_limited", "too many messages; slow down"))
            else:
                await _dispatch(peer, raw.data, handlers)
            if peer.refused and not peer.allowance.take(peer.refused):
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many refused messages")
                break
            peer.refused = 0
    finally:
        request.app[PEERS].discard(peer)
        for hook in request.app[ON_DISCONNECT]:
            try:
                await hook(peer)
            except Exception:
                log.exception("disconnect hook failed", extra={"event": "ws_error"})
    if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
        log.info("closed an oversize frame", extra={"event": "ws_close", "reason": "too big"})
    return ws


async def _dispatch(peer: Peer, data: str | bytes, handlers: dict[str, Handler]) -> None:
    try:
        msg = parse_frame(data, peer.role)
    except InvalidInput as exc:
        peer.refused += 1
        await peer.send(error_frame(exc.code, exc.reason))
        if exc.code == "too_large":  # as if the socket's own limit had been hit
            await peer.ws.close(code=WSCloseCode.MESSAGE_TOO_BIG, message=exc.reason.encode()[:120])
        return
    handler = handlers.get(msg.type)
    if handler is None:
        peer.refused += 1
        await peer.send(error_frame("unknown_type", f"'{msg.type}' is not served here", msg.id))
        return
    peer.reply_to = msg.id
    try:
        await handler(peer, msg)
    except InvalidInput as exc:
        peer.refused += 1
        await peer.send(error_frame(exc.code, exc.reason, msg.id))
    except ProtocolRefusal as exc:
        await peer.send({**error_frame(exc.code, exc.reason, msg.id), **exc.extra})
    except Exception:
        log.exception("handler failed", extra={"event": "ws_error"})
        await peer.send(error_frame("internal", "the node could not do that; nothing was changed", msg.id))
    finally:
        peer.reply_to = None
