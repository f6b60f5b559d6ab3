"""The aiohttp application factory."""
from __future__ import annotations

from aiohttp import web

import asyncio
import logging
from typing import AsyncIterator

from node import call_ws, chat_ws, retention, room_service, room_ws, routes, ws
from node.call_service import CallService
from node.centre import load as load_centre
from node.chat import ChatService
from node.context import CONTEXT, NodeContext
from node.security import headers_middleware, same_origin_middleware
from node.views import errors_middleware

MAX_BODY = 64 * 1024
TICK = 1.0  # seconds between call timer passes
log = logging.getLogger("fristed.app")


def create_app(ctx: NodeContext) -> web.Application:
    """Build the node's application around already-open parts (store, auth, TLS)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[headers_middleware(not ctx.config.http), same_origin_middleware(ctx.config.extra_origins),
                     errors_middleware],
    )
    app[CONTEXT] = ctx
    ws.install(app)
    chat = ChatService(ctx.store, ctx.clock)
    chat_ws.install(app, chat)
    rooms = room_ws.install(app)
    call_ws.install(app, CallService(chat, rooms, ctx.config.scheme))
    routes.setup(app)
    app.cleanup_ctx.append(_chat_lifetime)
    app.cleanup_ctx.append(_rooms_lifetime)
    app.cleanup_ctx.append(_calls_lifetime)
    return app


async def _calls_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Ring, escalate and time out calls once a second."""
    calls = app[call_ws.CALLS]

    async def ticking() -> None:
        while True:
            try:
                await calls.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("call timer failed", extra={"event": "call_error"})
            await asyncio.sleep(TICK)

    task = asyncio.create_task(ticking())
    yield
    await _cancel(task)


async def _cancel(task: "asyncio.Task[None]") -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _rooms_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Load the invite secret at start; purge old links hourly; close every media room at the end."""
    ctx, rooms = app[CONTEXT], app[room_ws.ROOMS]
    await rooms.load()
    task = asyncio.create_task(room_service.purge_loop(ctx.store, ctx.clock))
    yield
    await _cancel(task)
    await rooms.shutdown()


async def _chat_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Load duty and settings at start; run retention and the chat sweep in the background."""
    ctx, chat = app[CONTEXT], app[chat_ws.CHAT]
    await chat.load()
    async def housekeeping() -> None:
        chat.centre = await ctx.store.read(load_centre)  # `fristed centre set` from another process
        await chat.sweep()
        await ws.revalidate(app)

    task = asyncio.create_task(retention.loop(ctx.store, ctx.clock, ctx.config.session_policy, housekeeping))
    yield
    await _cancel(task)
