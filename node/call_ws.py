"""The call, handover and roster WebSocket message types (docs/api.md section 9) and their handlers."""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from node import handover, roster
from node.call_service import CallService
from node.chat_ws import CITIZEN, CONVERSATION, _nonempty
from node.conversations import ChatError
from node.protocol import STAFF, Field, Message, message_type
from node.validation import InvalidInput
from node.ws import HANDLERS, ON_CONNECT, Peer

CALLS: web.AppKey[CallService] = web.AppKey("calls", CallService)
MEDIA = Field(str, max_len=5)
DEVICE = Field(str, max_len=4)
TIME = Field(int, low=0, high=2**33)
FrameMaker = Callable[[], Awaitable[dict[str, object]]]
START_FIELDS = {"name": Field(str, required=False, max_len=40), "topic": Field(str, required=False, max_len=60),
                "danger": Field(bool), "lang": Field(str, required=False, max_len=2)}

message_type("call.start", CITIZEN, media=MEDIA, previous=Field(str, required=False, max_len=128), **START_FIELDS)
message_type("call.request", CITIZEN, media=MEDIA, **{"from": TIME, "to": TIME}, **START_FIELDS)
message_type("call.resume", CITIZEN, resume=Field(str, max_len=128))
message_type("call.answer", CITIZEN)
message_type("call.to_chat", CITIZEN)
message_type("call.hangup", CITIZEN)
message_type("call.accept", STAFF, conversation=CONVERSATION, device=DEVICE)
message_type("call.decline", STAFF, conversation=CONVERSATION, message=Field(str, max_len=300))
message_type("call.link", STAFF, conversation=CONVERSATION)
message_type("callback.start", STAFF, conversation=CONVERSATION, device=DEVICE)
message_type("handover.add", STAFF, text=Field(str, max_len=handover.TEXT_MAX),
             hours=Field(int, required=False, low=1, high=handover.HOURS_MAX))
message_type("handover.list", STAFF)
message_type("handover.delete", STAFF, note=Field(int, high=2**62))
message_type("roster.get", STAFF)
message_type("roster.add", STAFF, name=Field(str, max_len=64), **{"from": TIME, "to": TIME})
message_type("roster.remove", STAFF, shift=Field(int, high=2**62))


def _device(msg: Message) -> str:
    device = msg.data["device"]
    if device not in ("here", "link"):
        raise InvalidInput("field 'device' must be here or link", "bad_field")
    return str(device)


def install(app: web.Application, calls: CallService) -> None:
    """Register the handlers, the staff connect hook that rings new consoles, and the duty messages."""
    app[CALLS] = calls
    app[ON_CONNECT].append(calls.connected)
    chat = calls.chat

    async def start(peer: Peer, msg: Message) -> None:
        d = msg.data
        await calls.start(peer, d["media"], d.get("name"), d.get("topic"), d["danger"], d.get("lang", "da"),
                          d.get("previous"))

    async def request(peer: Peer, msg: Message) -> None:
        d = msg.data
        await calls.request(peer, d["media"], d["from"], d["to"], d.get("name"), d.get("topic"), d["danger"],
                            d.get("lang", "da"))

    async def resume(peer: Peer, msg: Message) -> None:
        await calls.resume(peer, msg.data["resume"])

    async def answer(peer: Peer, msg: Message) -> None:
        await calls.answer(peer)

    async def to_chat(peer: Peer, msg: Message) -> None:
        await calls.to_chat(peer)

    async def hangup(peer: Peer, msg: Message) -> None:
        await calls.hangup(peer)

    async def accept(peer: Peer, msg: Message) -> None:
        await calls.accept(peer, msg.data["conversation"], _device(msg))

    async def decline(peer: Peer, msg: Message) -> None:
        await calls.decline(peer, msg.data["conversation"], _nonempty(msg.data["message"], "message").strip())

    async def link(peer: Peer, msg: Message) -> None:
        await calls.new_link(peer, msg.data["conversation"])

    async def callback(peer: Peer, msg: Message) -> None:
        await calls.callback(peer, msg.data["conversation"], _device(msg))

    async def handover_frame() -> dict[str, object]:
        return {"type": "handover", "notes": await chat.store.read(handover.live, chat.clock.now())}

    async def handover_add(peer: Peer, msg: Message) -> None:
        assert peer.session is not None
        text = _nonempty(msg.data["text"], "text").strip()
        hours = msg.data.get("hours", chat.centre.handover_hours)
        await chat.store.write(handover.add, peer.session.account.id, peer.session.account.name, text, hours,
                               chat.clock.now())
        await _to_all_staff(handover_frame, peer)

    async def handover_list(peer: Peer, msg: Message) -> None:
        await peer.reply(await handover_frame())

    async def handover_delete(peer: Peer, msg: Message) -> None:
        assert peer.session is not None
        await chat.store.write(handover.delete, msg.data["note"], peer.session.account.id, peer.role == "admin",
                               chat.clock.now())
        await _to_all_staff(handover_frame, peer)

    async def roster_frame() -> dict[str, object]:
        now = chat.clock.now()
        hours = chat.centre.hours_now()
        in_hours = hours.in_hours(now)
        return {"type": "roster", "shifts": await chat.store.read(roster.upcoming, now),
                "on_duty": [{"name": chat.names.get(a, "?"), "role": chat.roles.get(a, "?"),
                             "present": chat.present(a)} for a in sorted(chat.on_duty)],
                "in_hours": in_hours, "next_open": None if in_hours else hours.next_open(now)}

    async def roster_get(peer: Peer, msg: Message) -> None:
        await peer.reply(await roster_frame())

    def _admin(peer: Peer) -> str:
        if peer.role != "admin" or peer.session is None:
            raise ChatError("forbidden", "only an administrator can plan shifts")
        return peer.session.account.name

    async def roster_add(peer: Peer, msg: Message) -> None:
        by = _admin(peer)
        d = msg.data
        await chat.store.write(roster.add, d["name"], float(d["from"]), float(d["to"]), by, chat.clock.now())
        await _to_all_staff(roster_frame, peer)

    async def roster_remove(peer: Peer, msg: Message) -> None:
        _admin(peer)
        await chat.store.write(roster.remove, msg.data["shift"])
        await _to_all_staff(roster_frame, peer)

    async def _to_all_staff(make: FrameMaker, asker: Peer) -> None:
        """The asker gets the new list as its reply; every other staff socket gets it too."""
        frame = await make()
        await asker.reply(frame)
        await chat._send_all([p for peers in chat.staff.values() for p in peers if p is not asker], frame)

    app[HANDLERS].update({
        "call.start": start, "call.request": request, "call.resume": resume, "call.answer": answer,
        "call.to_chat": to_chat, "call.hangup": hangup, "call.accept": accept, "call.decline": decline,
        "call.link": link, "callback.start": callback, "handover.add": handover_add, "handover.list": handover_list,
        "handover.delete": handover_delete, "roster.get": roster_get, "roster.add": roster_add,
        "roster.remove": roster_remove,
    })
