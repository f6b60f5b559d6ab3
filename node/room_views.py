"""HTTP views for rooms: staff create rooms, list them, make invite links and close them; the pages."""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from crypto.invites import invite_qr_svg
from node.context import CONTEXT
from node.httpauth import require_session
from node.room_ws import ROOMS
from node.rooms import RoomError
from node.validation import InvalidInput, bool_field, int_field, text_field
from node.views import json_error, json_response, page, read_body

STAFF = frozenset({"volunteer", "staff", "admin"})
TTL_MINUTES = (5, 10080)  # five minutes to a week
_STATUS = {"unknown_room": 404, "forbidden": 403, "not_host": 403}

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusals(view: View) -> View:
    """A RoomError becomes JSON with its code: 404 for an unknown room, 403 when not allowed, else 400."""
    @functools.wraps(view)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await view(request)
        except RoomError as exc:
            return json_error(_STATUS.get(exc.code, 400), exc.code, exc.reason)
    return wrapped


async def room_page(request: web.Request) -> web.Response:
    return page("room.html")


async def device_test_page(request: web.Request) -> web.Response:
    return page("device-test.html")


@_refusals
async def create_room(request: web.Request) -> web.Response:
    """``POST /api/rooms`` {kind, title} → the room."""
    session = await require_session(request, STAFF)
    body = await read_body(request)
    kind = text_field(body, "kind", max_len=10)
    title = text_field(body, "title", max_len=200)
    assert kind is not None and title is not None
    room = await request.app[ROOMS].create(session.account.id, kind, title)
    return json_response(room.to_json(), 201)


@_refusals
async def list_rooms(request: web.Request) -> web.Response:
    """``GET /api/rooms`` → the open rooms, each with its live links and how many are in it."""
    await require_session(request, STAFF)
    return json_response({"rooms": await request.app[ROOMS].listing()})


@_refusals
async def create_invite(request: web.Request) -> web.Response:
    """``POST /api/rooms/{id}/invites`` {role, single_use, ttl_minutes, hint?} → token, link and QR code."""
    session = await require_session(request, STAFF)
    body = await read_body(request)
    unknown = set(body) - {"role", "single_use", "ttl_minutes", "hint"}
    if unknown:
        raise InvalidInput(f"unexpected field '{sorted(unknown)[0][:40]}'", "bad_field")
    role = text_field(body, "role", max_len=10)
    if role not in ("guest", "host"):
        raise InvalidInput("field 'role' must be guest or host", "bad_field")
    single_use = bool_field(body, "single_use", default=True)
    ttl_minutes = int_field(body, "ttl_minutes", low=TTL_MINUTES[0], high=TTL_MINUTES[1], default=24 * 60)
    hint = text_field(body, "hint", max_len=40, required=False)
    service = request.app[ROOMS]
    token, expires = await service.invite(request.match_info["id"], session.account.id, session.account.role,
                                          invite_role=role, single_use=single_use, ttl=ttl_minutes * 60.0,
                                          hint=hint or None)
    url = f"{_origin(request)}/room#invite={token}"
    return json_response({"token": token, "url": url, "qr": invite_qr_svg(url), "role": role,
                          "single_use": single_use, "expires": expires}, 201)


@_refusals
async def close_room(request: web.Request) -> web.Response:
    """``POST /api/rooms/{id}/close``: links stop working, everyone in the room gets ``room.closed``."""
    session = await require_session(request, STAFF)
    room = await request.app[ROOMS].close(request.match_info["id"], session.account.id, session.account.role)
    return json_response(room.to_json())


def _origin(request: web.Request) -> str:
    return f"{request.app[CONTEXT].config.scheme}://{request.host}"
