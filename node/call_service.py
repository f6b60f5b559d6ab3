"""Calls: "Ring op" and "Ring mig op", ringing and escalation, and the hand-off into a support room.

A call is a conversation in the chat queue (``node.chat``), so place, estimate, resume, notes,
transfer and registration work as for chats. This service adds what only calls have:

- **Ringing.** A waiting call rings every on-duty person who is present (level 0). Every
  ``ring_escalate_s`` seconds it is unanswered, the next role of ``ring_roles`` is rung too: every
  connected person with that role, on duty or not. :meth:`tick` (once a second) derives who should
  ring from the stored call and the clock, so a restart or a reconnecting console rings again.
- **Answering** makes a support room in the same transaction that claims the call (exactly one
  person wins). The citizen gets a one-time room pass; the staff member enters from the web page,
  or gets a one-time host link for a tablet (console).
- **Call-backs** wait for their window; a staff member rings the citizen's open page, and the
  citizen's answer makes the room the same way.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from node import calls as call_db, conversations as conv_db, rooms
from node.chat import ChatService
from node.conversations import ChatError, Conversation
from node.room_service import RoomService
from node.store import Connection
from node.ws import Peer

log = logging.getLogger("fristed.calls")
CALL_LOST_GRACE = 120.0       # a waiting caller whose connection dropped keeps ringing this long
CALLBACK_RING_S = 60.0        # a call-back rings the citizen's page this long
CALLBACK_TRIES = 3            # ... this many times before it ends as unanswered
CALLBACK_LATE = 15 * 60       # a call-back nobody made ends this long after its window
PASS_MIN_TTL = 10 * 60        # the citizen's room pass lives at least this long


@dataclass
class Ringing:
    """A call-back ringing a citizen's page: who rings, from which device choice, and since when."""

    account_id: int
    device: str
    since: float
    peer: Peer


@dataclass(frozen=True)
class Answered:
    """What an accepted call gives the staff member: the room, and a host link when asked for."""

    conv: Conversation
    room: rooms.Room
    link: str | None


def _room_info(room: rooms.Room) -> dict[str, Any]:
    return {"room": room.id, "kind": room.kind, "title": room.title}


class CallService:
    """Plain class behind the call messages; tests can drive it without HTTP."""

    def __init__(self, chat: ChatService, room_service: RoomService, scheme: str = "https") -> None:
        self.chat, self.rooms, self.scheme = chat, room_service, scheme
        self.public_base: str | None = None  # the node's own URL, set once it listens (node.server)
        self.store, self.clock = chat.store, chat.clock
        self.rung: dict[str, dict[int, int]] = {}   # call → account → the level it was rung at
        self.ringing: dict[str, Ringing] = {}        # call-backs ringing a citizen
        self.letterbox_sent: set[str] = set()
        chat.end_room = self._end_room

    # ---------------------------------------------------------------- who rings

    def targets(self, conv: Conversation, now: float) -> dict[int, int]:
        """Accounts the call should ring now, each with the escalation level that brought it in."""
        escalate = self.chat.centre.ring_escalate_s
        roles = self.chat.centre.ring_roles
        level = min(len(roles), int(max(0.0, now - (conv.queued_at or conv.created)) // escalate))
        out = {a: 0 for a in self.chat.available()}
        for step, role in enumerate(roles[:level], start=1):
            for account_id, peers in self.chat.staff.items():
                if peers and self.chat.roles.get(account_id) == role and account_id not in out:
                    out[account_id] = step
        return out

    def _ring_frame(self, conv: Conversation, level: int, now: float) -> dict[str, Any]:
        return {"type": "call.ring", **conv.summary(), "level": level,
                "waiting_s": round(now - (conv.queued_at or conv.created))}

    async def ring(self, conv: Conversation) -> None:
        """Ring everyone the call should reach and has not rung yet; on a new level, ring everyone again."""
        now = self.clock.now()
        targets = self.targets(conv, now)
        rung = self.rung.setdefault(conv.id, {})
        level = max(targets.values(), default=0)
        raised = level > max(rung.values(), default=0)
        for account_id, at in targets.items():
            if account_id not in rung or raised:
                await self.chat._send_all(self.chat._staff_peers([account_id]), self._ring_frame(conv, level, now))
            rung[account_id] = max(at, rung.get(account_id, 0))
        for account_id in [a for a in rung if a not in targets]:  # went off duty (or away): stop ringing there
            del rung[account_id]
            await self.chat._send_all(self.chat._staff_peers([account_id]), {
                "type": "call.ring_stop", "conversation": conv.id, "reason": "off_duty", "by": None})

    async def stop_ringing(self, cid: str, reason: str, by: str | None = None) -> None:
        rung = self.rung.pop(cid, {})
        self.letterbox_sent.discard(cid)
        await self.chat._send_all(self.chat._staff_peers(rung),
                                  {"type": "call.ring_stop", "conversation": cid, "reason": reason, "by": by})

    async def connected(self, peer: Peer) -> None:
        """A staff socket opened: ring it for every call that should ring its account."""
        if peer.account_id is None:
            return
        now = self.clock.now()
        for conv in await self.store.read(call_db.ringing):
            level = self.targets(conv, now).get(peer.account_id)
            if level is not None:
                self.rung.setdefault(conv.id, {})[peer.account_id] = level
                await peer.send(self._ring_frame(conv, level, now))

    # ---------------------------------------------------------------- citizen side

    async def start(self, peer: Peer, media: str, name: str | None, topic: str | None, danger: bool, lang: str,
                    previous: str | None) -> None:
        """Call now: into the queue, and ring."""
        if not self.chat.centre.calls:
            raise ChatError("calls_off", "this centre does not take calls; write in the chat instead")
        conv, resume = await self.chat.begin(peer, name, topic, danger, lang, previous, kind="call",
                                             media=call_db.check_media(media))
        await peer.reply(self._started(conv, resume))
        await self.ring(conv)
        await self.chat.queue_changed()

    async def request(self, peer: Peer, media: str, start: float, end: float, name: str | None,
                      topic: str | None, danger: bool, lang: str) -> None:
        """Ring me: a call-back request for a window."""
        if not self.chat.centre.calls:
            raise ChatError("calls_off", "this centre does not take calls; write in the chat instead")
        window = call_db.check_window(start, end, self.clock.now())
        conv, resume = await self.chat.begin(peer, name, topic, danger, lang, None, kind="callback",
                                             media=call_db.check_media(media), window=window)
        await peer.reply(self._started(conv, resume))
        await self.chat.queue_changed()

    def _started(self, conv: Conversation, resume: str) -> dict[str, Any]:
        return {"type": "call.started", "conversation": conv.id, "resume": resume, "pseudonym": conv.pseudonym,
                "state": "scheduled" if conv.kind == "callback" else "waiting", "media": conv.media,
                "window": conv.window}

    def _state_name(self, conv: Conversation) -> str:
        if conv.state in ("active", "ended"):
            return "connected" if conv.state == "active" else "ended"
        if conv.kind == "callback":
            return "ringing" if conv.id in self.ringing else "scheduled"
        return "waiting"

    async def resume(self, peer: Peer, token: str) -> None:
        conv = await self.chat.attach(peer, token, call_db.CALL_KINDS)
        await peer.reply({"type": "call.resumed", "conversation": conv.id, "pseudonym": conv.pseudonym,
                          "state": self._state_name(conv), "media": conv.media, "window": conv.window})
        if conv.state == "ended":
            await self.chat._release_citizen(conv.id, conv.end_reason or "ended", conv.kind)
            return
        await self.chat._to_staff_of(conv, {"type": "chat.presence", "conversation": conv.id,
                                            "citizen": "connected"})
        ringing = self.ringing.get(conv.id)
        if ringing is not None:
            await peer.send({"type": "call.incoming", "name": self.chat.names.get(ringing.account_id, "?"),
                             "media": conv.media})
        await self.chat.queue_changed()

    def _mine(self, peer: Peer) -> str:
        cid = peer.conversation
        if cid is None or self.chat.citizens.get(cid) is not peer:
            raise ChatError("not_in_chat", "start or resume a call first")
        return cid

    async def hangup(self, peer: Peer) -> None:
        """Hang up at once: the call (or request) ends and its resume token stops working."""
        cid = self._mine(peer)
        conv = await self.store.write(conv_db.end, cid, "left", self.clock.now(), forget_resume=True)
        self.chat.citizens.pop(cid, None)
        self.chat.lost_since.pop(cid, None)
        peer.conversation = None
        ringing = self.ringing.pop(cid, None)
        self.chat.callback_ringing.pop(cid, None)
        await peer.reply({"type": "call.ended", "reason": "left"})
        if conv.room_id is not None:  # answered while the hang-up was on its way: nobody is coming
            await self._end_room(conv.room_id)
        await self.stop_ringing(cid, "left")
        if ringing is not None:
            await ringing.peer.send({"type": "call.ring_stop", "conversation": cid, "reason": "left", "by": None})
        await self.chat._to_staff_of(conv, {"type": "chat.presence", "conversation": cid, "citizen": "left"})
        await self.chat.queue_changed()

    async def to_chat(self, peer: Peer) -> None:
        """A waiting caller would rather write: same place in the queue, now as a chat."""
        cid = self._mine(peer)
        if cid in self.ringing:
            raise ChatError("already_taken", "your phone is ringing: answer or hang up first")
        conv = await self.store.write(call_db.to_chat, cid, self.clock.now())
        await peer.reply({"type": "call.switched", "conversation": cid})
        await self.stop_ringing(cid, "chat")
        await self.chat.queue_changed()
        await self.chat._alert(self.chat.available(), "new", conv)

    async def answer(self, peer: Peer) -> None:
        """The citizen picks up a ringing call-back."""
        cid = self._mine(peer)
        ringing = self.ringing.pop(cid, None)
        if ringing is None:
            raise ChatError("not_ringing", "nobody is calling you right now")
        self.chat.callback_ringing.pop(cid, None)
        if not self.chat.staff.get(ringing.account_id):  # the person who rang has no socket left
            await self.chat.queue_changed()
            raise ChatError("not_ringing", "the person who called you has gone; we will call again")
        name = self.chat.names.get(ringing.account_id, "?")
        answered = await self._answer(cid, ringing.account_id, name, ringing.device)
        staff_peer = ringing.peer if not ringing.peer.ws.closed else None
        await self._connected(answered, ringing.account_id, name, ringing.device, staff_peer, direct=False)

    # ---------------------------------------------------------------- staff side

    def _account(self, peer: Peer) -> tuple[int, str]:
        assert peer.session is not None
        return peer.session.account.id, peer.session.account.name

    async def accept(self, peer: Peer, cid: str, device: str) -> None:
        """Answer a ringing call; exactly one person wins."""
        account_id, name = self._account(peer)
        conv = await self.store.read(call_db.require_call, cid)
        if conv.kind != "call":
            raise ChatError("not_a_call", "call a call-back with callback.start")
        if account_id not in self.chat.on_duty and account_id not in self.rung.get(cid, {}):
            raise ChatError("not_on_duty", "go on duty first")
        if conv.state == "waiting" and cid not in self.chat.citizens:
            raise ChatError("citizen_away", "the caller's connection has dropped; wait a moment")
        answered = await self._answer(cid, account_id, name, device)
        await self._connected(answered, account_id, name, device, peer)

    async def _answer(self, cid: str, account_id: int, name: str, device: str) -> Answered:
        """One transaction: make the support room, claim the call, and make the host link if asked for."""
        now, secret = self.clock.now(), self.rooms.secret
        ttl = self.chat.centre.call_link_min * 60.0

        def _tx(conn: Connection) -> Answered:
            conv = call_db.require_call(conn, cid)
            room = rooms.create_room(conn, "support", f"Opkald med {name}"[:rooms.TITLE_MAX], account_id, now)
            conv = call_db.answer(conn, cid, account_id, room.id, now)
            conn.execute("UPDATE conversations SET resume_digest = NULL WHERE id = ?", (cid,))
            link = None
            if device == "link":
                link = rooms.create_invite(conn, secret, room.id, now, role="host", ttl=ttl, single_use=True,
                                           hint=name, created_by=account_id)
            return Answered(conv, room, link)
        return await self.store.write(_tx)

    def link_base(self, host: str) -> str:
        """Where a tablet can open the link: the console's own address for the node, unless that is
        a loopback one (a console over SSH on the node, or through a tunnel), then the node's public URL."""
        try:
            name = urlsplit(f"//{host}").hostname or ""
            loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
        except ValueError:
            loopback = not name
        if self.public_base and loopback:
            return self.public_base
        return f"{self.scheme}://{host}"

    def _accepted_frame(self, answered: Answered, device: str, host: str) -> dict[str, Any]:
        frame = {"type": "call.accepted", "conversation": answered.conv.id, "room": _room_info(answered.room),
                 "device": device}
        if answered.link is not None:
            ttl = self.chat.centre.call_link_min * 60
            frame.update(url=f"{self.link_base(host)}/room#invite={answered.link}", ttl_s=ttl,
                         expires=self.clock.now() + ttl)
        return frame

    async def _connected(self, answered: Answered, account_id: int, name: str, device: str,
                         peer: Peer | None, direct: bool = True) -> None:
        """Tell everyone: the citizen gets a room pass, the staff member the room (and link)."""
        conv, cid = answered.conv, answered.conv.id
        ttl = max(PASS_MIN_TTL, self.chat.centre.call_link_min * 60.0)
        citizen = self.chat.citizens.pop(cid, None)
        self.chat.lost_since.pop(cid, None)
        if citizen is not None:  # the room pass takes over; the call socket is free again
            citizen.conversation = None
            await citizen.send({"type": "call.connect", "room": _room_info(answered.room), "staff": name,
                                "media": conv.media, "pass": self.rooms.issue_pass(answered.room, conv.pseudonym,
                                                                                   ttl)})
        if peer is not None:
            frame = self._accepted_frame(answered, device, peer.host)
            await (peer.reply(frame) if direct else peer.send(frame))
        else:  # the socket that rang a call-back has gone: any of the person's sockets will do
            for target in self.chat._staff_peers([account_id]):
                await target.send(self._accepted_frame(answered, device, target.host))
        opened = await self.chat._opened(conv, account_id, name)
        await self.chat._send_all(self.chat._staff_peers([account_id]), opened)
        await self.stop_ringing(cid, "accepted", name)
        await self.chat._send_mine(account_id)
        await self.chat.queue_changed()
        log.info("call answered", extra={"event": "call_answered", "count": 1})

    async def decline(self, peer: Peer, cid: str, message: str) -> None:
        """End a waiting call with a short message the citizen sees."""
        account_id, name = self._account(peer)
        conv = await self.store.read(call_db.require_call, cid)
        if account_id not in self.chat.on_duty and account_id not in self.rung.get(cid, {}):
            raise ChatError("not_on_duty", "go on duty first")
        if conv.state != "waiting":
            raise ChatError("already_taken", "this call has been answered or has ended")

        def _decline(conn: Connection) -> Conversation:
            ended = call_db.end_waiting(conn, cid, "declined", self.clock.now())
            conv_db.add_note(conn, cid, name, "Afvist.", self.clock.now())
            return ended
        await self.store.write(_decline)
        citizen = self.chat.citizens.pop(cid, None)
        self.chat.lost_since.pop(cid, None)
        ring = self.ringing.pop(cid, None)
        self.chat.callback_ringing.pop(cid, None)
        if ring is not None and ring.peer is not peer:  # a colleague was calling this person back
            await ring.peer.send({"type": "call.ring_stop", "conversation": cid, "reason": "declined", "by": name})
        if citizen is not None:
            citizen.conversation = None
            await citizen.send({"type": "call.declined", "message": message})
        await peer.reply({"type": "call.declined", "conversation": cid})
        await self.stop_ringing(cid, "declined", name)
        await self.chat.queue_changed()

    async def new_link(self, peer: Peer, cid: str) -> None:
        """Another one-time host link for an answered call the asker owns."""
        account_id, name = self._account(peer)
        conv = await self.store.read(call_db.require_call, cid)
        if conv.owner != account_id or conv.state != "active" or conv.room_id is None:
            raise ChatError("not_yours", "this call is not yours, or it is not answered")
        ttl = self.chat.centre.call_link_min * 60.0

        def _tx(conn: Connection) -> Answered:
            room = rooms.require_room(conn, conv.room_id or "")
            link = rooms.create_invite(conn, self.rooms.secret, room.id, self.clock.now(), role="host", ttl=ttl,
                                       single_use=True, hint=name, created_by=account_id)
            return Answered(conv, room, link)
        answered = await self.store.write(_tx)
        await peer.reply(self._accepted_frame(answered, "link", peer.host))

    async def callback(self, peer: Peer, cid: str, device: str) -> None:
        """Call a citizen back: their open page rings."""
        account_id, name = self._account(peer)
        if account_id not in self.chat.on_duty:
            raise ChatError("not_on_duty", "go on duty first")
        conv = await self.store.read(call_db.require_call, cid)
        if conv.kind != "callback" or conv.state != "waiting":
            raise ChatError("not_a_call", "this is not a call-back request that is waiting")
        if cid in self.ringing:
            raise ChatError("already_taken", "someone is calling this person already")
        citizen = self.chat.citizens.get(cid)
        if citizen is None:
            raise ChatError("citizen_away", "the person's page is not open right now; try again later")
        now = self.clock.now()
        self.ringing[cid] = Ringing(account_id, device, now, peer)
        self.chat.callback_ringing[cid] = now
        await self.store.write(call_db.count_try, cid)
        await citizen.send({"type": "call.incoming", "name": name, "media": conv.media})
        await peer.reply({"type": "callback.ringing", "conversation": cid})
        await self.chat.queue_changed()

    # ---------------------------------------------------------------- timers

    async def tick(self) -> None:
        """Once a second: escalate unanswered calls, offer the letterbox, time out rings and lost callers."""
        now = self.clock.now()
        changed = False
        ringing = {c.id: c for c in await self.store.read(call_db.ringing)}
        for cid in [c for c in self.rung if c not in ringing]:  # ended or taken by another path
            await self.stop_ringing(cid, "ended")
        for conv in ringing.values():
            lost = self.chat.lost_since.get(conv.id)
            if lost is not None and now - lost >= CALL_LOST_GRACE:
                await self._end_waiting(conv, "lost")
                changed = True
                continue
            await self.ring(conv)
            if conv.id not in self.letterbox_sent and \
                    now - (conv.queued_at or conv.created) >= self.chat.centre.letterbox_after_min * 60:
                self.letterbox_sent.add(conv.id)
                changed = True
        for cid, ring in list(self.ringing.items()):
            if self.ringing.get(cid) is not ring:  # answered or hung up while earlier timers ran
                continue
            if cid not in self.chat.citizens:  # the page closed or quick-exited while it rang
                del self.ringing[cid]
                self.chat.callback_ringing.pop(cid, None)
                await ring.peer.send({"type": "call.ring_stop", "conversation": cid, "reason": "left", "by": None})
                changed = True
            elif now - ring.since >= CALLBACK_RING_S:
                changed = True
                await self._unanswered(cid, ring)
        for conv in await self.store.read(call_db.callbacks):
            if conv.window_end is not None and now > conv.window_end + CALLBACK_LATE and conv.id not in self.ringing:
                await self._end_waiting(conv, "timeout")
                changed = True
        if changed:
            await self.chat.queue_changed()

    async def _end_waiting(self, conv: Conversation, reason: str) -> None:
        try:
            await self.store.write(call_db.end_waiting, conv.id, reason, self.clock.now())
        except ChatError:  # answered (or ended) since it was read
            return
        await self.chat._release_citizen(conv.id, reason, conv.kind)
        await self.stop_ringing(conv.id, reason)

    async def _unanswered(self, cid: str, ring: Ringing) -> None:
        if self.ringing.get(cid) is not ring:  # answered or hung up while the timers ran
            return
        del self.ringing[cid]
        self.chat.callback_ringing.pop(cid, None)
        conv = await self.store.read(conv_db.get, cid)
        tries = conv.tries if conv is not None else CALLBACK_TRIES
        await self.chat._send_all(self.chat._staff_peers([ring.account_id]),
                                  {"type": "callback.unanswered", "conversation": cid, "tries": tries})
        if conv is not None and conv.state == "waiting" and tries >= CALLBACK_TRIES:
            await self._end_waiting(conv, "unanswered")

    async def _end_room(self, room_id: str) -> None:
        await self.rooms.end(room_id, "the call has ended")
