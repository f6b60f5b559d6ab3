"""The aiohttp application factory."""
from __future__ import annotations

from aiohttp import web

import asyncio
from typing import AsyncIterator

from node import chat_ws, retention, room_service, room_ws, routes, ws
from node.centre import load as load_centre
from node.chat import ChatService
from node.context import CONTEXT, NodeContext
from node.security import headers_middleware, same_origin_middleware
from node.views import errors_middleware

MAX_BODY = 64 * 1024


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
    room_ws.install(app)
    routes.setup(app)
    app.cleanup_ctx.append(_chat_lifetime)
    app.cleanup_ctx.append(_rooms_lifetime)
    return app


async def _rooms_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Load the invite secret at start; purge old links hourly; close every media room at the end."""
    ctx, rooms = app[CONTEXT], app[room_ws.ROOMS]
    await rooms.load()
    task = asyncio.create_task(room_service.purge_loop(ctx.store, ctx.clock))
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
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
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
