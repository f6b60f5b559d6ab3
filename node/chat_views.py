"""HTTP views for the chat: public status, canned replies, centre settings and the pages."""
from __future__ import annotations

from aiohttp import web

from node import centre
from node.chat_ws import CHAT
from node.context import CONTEXT
from node.httpauth import require_session
from node.views import _limit_anonymous, json_response, page, read_body

ADMIN = frozenset({"admin"})
STAFF = frozenset({"volunteer", "staff", "admin"})


async def chat_page(request: web.Request) -> web.Response:
    return page("chat.html")


async def exit_page(request: web.Request) -> web.Response:
    return page("exit.html")


async def status(request: web.Request) -> web.Response:
    """Open or closed, queue length, estimate, topics and emergency numbers (no login)."""
    _limit_anonymous(request)
    return json_response(await request.app[CHAT].status())


async def canned(request: web.Request) -> web.Response:
    await require_session(request, STAFF)
    centre = request.app[CHAT].centre
    return json_response({"canned": centre.canned, "decline_messages": centre.decline_messages})


async def get_settings(request: web.Request) -> web.Response:
    await require_session(request, ADMIN)
    return json_response(request.app[CHAT].centre.to_json())


async def put_settings(request: web.Request) -> web.Response:
    """Change topics, canned replies, emergency numbers, hours text or retention (admins)."""
    await require_session(request, ADMIN)
    chat = request.app[CHAT]
    new = centre.validated(await read_body(request), chat.centre)
    await request.app[CONTEXT].store.write(centre.save, new)
    chat.centre = new
    return json_response(new.to_json())
