"""The rooms' WebSocket message types (see docs/api.md section 8) and their handlers."""
from __future__ import annotations

from aiohttp import web

from crypto.invites import MAX_TOKEN
from node.context import CONTEXT
from node.ice import ice_servers
from node.protocol import ANYONE, Field, Message, message_type
from node.room_service import MediaOptions, REASON_MAX, TEXT_MAX, RoomService
from node.rooms import NAME_MAX, RoomError
from node.validation import InvalidInput
from node.ws import HANDLERS, ON_DISCONNECT, Peer

ROOMS: web.AppKey[RoomService] = web.AppKey("rooms", RoomService)

# An aiortc answer costs about 1.3 KB per m-line (measured: 26 KB for a 10-person room, where each
# participant receives 18 m-lines); a full 30-person group room needs about 80 KB, and m-lines of
# people who left are not recycled. JSON escaping of CR LF adds about 5 %.
SDP_MAX = 96 * 1024            # characters of SDP
SDP_FRAME = 112 * 1024         # bytes of frame for the two message types that carry SDP
PID = Field(str, max_len=32)
SDP = Field(str, max_len=SDP_MAX, crlf=True)

message_type("room.knock", ANYONE, invite=Field(str, required=False, max_len=MAX_TOKEN),
             room=Field(str, required=False, max_len=64), name=Field(str, required=False, max_len=NAME_MAX),
             camera=Field(bool, required=False))
message_type("room.resume", ANYONE, resume=Field(str, max_len=128),
             name=Field(str, required=False, max_len=NAME_MAX), camera=Field(bool, required=False),
             keep=Field(bool, required=False))
message_type("room.admit", ANYONE, pid=PID)
message_type("room.decline", ANYONE, pid=PID, reason=Field(str, required=False, max_len=REASON_MAX))
message_type("room.remove", ANYONE, pid=PID, reason=Field(str, required=False, max_len=REASON_MAX))
message_type("room.offer", ANYONE, max_frame=SDP_FRAME, sdp=SDP, recycle=Field(bool, required=False))
message_type("room.answer", ANYONE, max_frame=SDP_FRAME, sdp=SDP)
message_type("room.media", ANYONE, camera=Field(bool), mic=Field(bool))
message_type("room.text", ANYONE, text=Field(str, max_len=TEXT_MAX))
message_type("room.leave", ANYONE)
message_type("devicetest.offer", ANYONE, max_frame=SDP_FRAME, sdp=SDP)
message_type("devicetest.answer", ANYONE, max_frame=SDP_FRAME, sdp=SDP)
message_type("devicetest.stop", ANYONE)
message_type("ice.get", ANYONE)


def _sdp(msg: Message) -> str:
    sdp: str = msg.data["sdp"]
    if not sdp.startswith("v=0"):
        raise RoomError("bad_sdp", "this is not a session description (SDP starts with v=0)")
    return sdp


def install(app: web.Application, service: RoomService | None = None) -> RoomService:
    """Register the room handlers and the disconnect hook on the app."""
    ctx = app[CONTEXT]
    if service is None:
        service = RoomService(ctx.store, ctx.clock,
                              lambda peer: ice_servers(ctx.config.turn, peer.host, ctx.clock.now()),
                              media_options=MediaOptions.from_config(ctx.config))
    app[ROOMS] = service
    app[ON_DISCONNECT].append(service.disconnected)

    async def knock(peer: Peer, msg: Message) -> None:
        d = msg.data
        await service.knock(peer, invite=d.get("invite"), room_id=d.get("room"), name=d.get("name"),
                            camera=d.get("camera", True))

    async def resume(peer: Peer, msg: Message) -> None:
        await service.resume(peer, msg.data["resume"], msg.data.get("camera", True), msg.data.get("keep", False))

    async def admit(peer: Peer, msg: Message) -> None:
        await service.admit(peer, msg.data["pid"])

    async def decline(peer: Peer, msg: Message) -> None:
        await service.decline(peer, msg.data["pid"], msg.data.get("reason"))

    async def remove(peer: Peer, msg: Message) -> None:
        await service.remove(peer, msg.data["pid"], msg.data.get("reason"))

    async def offer(peer: Peer, msg: Message) -> None:
        await service.offer(peer, _sdp(msg), msg.data.get("recycle", False))

    async def answer(peer: Peer, msg: Message) -> None:
        await service.answer(peer, _sdp(msg))

    async def media(peer: Peer, msg: Message) -> None:
        await service.set_media(peer, msg.data["camera"], msg.data["mic"])

    async def text(peer: Peer, msg: Message) -> None:
        if not msg.data["text"].strip():
            raise InvalidInput("field 'text' must not be empty", "bad_field")
        await service.text(peer, msg.data["text"])

    async def leave(peer: Peer, msg: Message) -> None:
        await service.leave(peer)

    async def devicetest_offer(peer: Peer, msg: Message) -> None:
        await service.devicetest_offer(peer, _sdp(msg))

    async def devicetest_answer(peer: Peer, msg: Message) -> None:
        await service.devicetest_answer(peer, _sdp(msg))

    async def devicetest_stop(peer: Peer, msg: Message) -> None:
        await service.devicetest_stop(peer)

    async def ice(peer: Peer, msg: Message) -> None:
        """The ICE servers for a peer connection made before any room (the device test)."""
        await peer.reply({"type": "ice", "iceServers": service.ice_for(peer)})

    app[HANDLERS].update({
        "devicetest.offer": devicetest_offer, "devicetest.answer": devicetest_answer,
        "devicetest.stop": devicetest_stop, "ice.get": ice,
        "room.knock": knock, "room.resume": resume, "room.admit": admit, "room.decline": decline, "room.remove": remove,
        "room.offer": offer, "room.answer": answer, "room.media": media, "room.text": text,
        "room.leave": leave,
    })
    return service
