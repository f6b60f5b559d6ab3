"""Every HTTP route of the node, in one place."""
from __future__ import annotations

from aiohttp import web

from node import chat_views, room_views, views, ws


def setup(app: web.Application) -> None:
    """Add the node's routes."""
    app.router.add_get("/", views.index)
    app.router.add_get("/staff/", views.staff_page)
    app.router.add_get("/staff/enrol", views.enrol_page)
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/ca.crt", views.ca_certificate)
    app.router.add_post("/api/enrol/start", views.enrol_start)
    app.router.add_post("/api/enrol/finish", views.enrol_finish)
    app.router.add_post("/api/login", views.login)
    app.router.add_post("/api/logout", views.logout)
    app.router.add_get("/api/me", views.me)
    app.router.add_get("/api/ice", views.ice)
    app.router.add_get("/ws", ws.websocket)
    app.router.add_get("/chat", chat_views.chat_page)
    app.router.add_get("/exit", chat_views.exit_page)
    app.router.add_get("/api/chat/status", chat_views.status)
    app.router.add_get("/api/chat/canned", chat_views.canned)
    app.router.add_get("/api/settings", chat_views.get_settings)
    app.router.add_put("/api/settings", chat_views.put_settings)
    app.router.add_get("/room", room_views.room_page)
    app.router.add_get("/device-test", room_views.device_test_page)
    app.router.add_post("/api/rooms", room_views.create_room)
    app.router.add_get("/api/rooms", room_views.list_rooms)
    app.router.add_post("/api/rooms/{id}/invites", room_views.create_invite)
    app.router.add_post("/api/rooms/{id}/close", room_views.close_room)
    app.router.add_static("/static/", views.STATIC, follow_symlinks=False)
