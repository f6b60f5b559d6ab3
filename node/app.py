"""The aiohttp application factory."""
from __future__ import annotations

from aiohttp import web

from node import routes, ws
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
    routes.setup(app)
    return app
