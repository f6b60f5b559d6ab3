"""The live chat service: who is connected, who is on duty, and who must hear about each change.

Everything stored goes through ``node.conversations`` on the store thread first; only then are
acknowledgements and broadcasts sent, so an acknowledged message is on disk.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Awaitable, Callable, Iterable

from node import audit, calls as call_db, conversations as conv_db
from node.accounts import find as find_account
from node.centre import Centre, load as load_centre
from node.clock import Clock
from node.conversations import ChatError, Conversation
from node.queue import estimate_minutes
from node.store import Connection, Store
from node.ws import Peer

log = logging.getLogger("fristed.chat")
STAFF_ROLES = frozenset({"staff", "admin"})
LOST_GRACE = 15 * 60          # a waiting citizen keeps their place this long after losing connection
STAFF_GRACE = 60.0            # an on-duty person counts as present this long after a disconnect
IDLE_END = 12 * 3600          # an active chat with no activity this long is ended
CITIZEN_NAME_MAX = 40


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())
    if not name:
        return None
    if len(name) > CITIZEN_NAME_MAX or not all(ch.isalnum() or ch in " .-'" for ch in name):
        raise ChatError("bad_name", "a name may hold letters, digits, spaces, dots and dashes (max 40)")
    return name


class ChatService:
    """Plain class behind the chat messages; tests can drive it without HTTP."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.citizens: dict[str, Peer] = {}
        self.watchers: "weakref.WeakSet[Peer]" = weakref.WeakSet()  # every open citizen page
        self.staff: dict[int, set[Peer]] = {}
        self.names: dict[int, str] = {}
        self.roles: dict[int, str] = {}
        self.on_duty: set[int] = set()
        self.staff_gone: dict[int, float] = {}
        self.lost_since: dict[str, float] = {}
        self.centre = Centre()
        self._tasks: set[asyncio.Task[None]] = set()
        self.callback_ringing: dict[str, float] = {}  # call-backs ringing the citizen's page, since when
        self.end_room: Callable[[str], Awaitable[None]] | None = None  # closes an answered call's room

    async def load(self) -> None:
        """Read duty state and settings at start."""
        def _load(conn: Connection) -> tuple[set[int], Centre, dict[int, tuple[str, str]]]:
            ids = conv_db.on_duty_ids(conn)
            people = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, name, role FROM accounts")}
            return ids, load_centre(conn), people
        self.on_duty, self.centre, people = await self.store.read(_load)
        for account_id, (name, role) in people.items():
            self.names[account_id], self.roles[account_id] = name, role

    # ---------------------------------------------------------------- presence

    def present(self, account_id: int) -> bool:
        """Connected now, or only just disconnected (a reconnect is probably under way)."""
        if self.staff.get(account_id):
            return True
        gone = self.staff_gone.get(account_id)
        return gone is not None and self.clock.now() - gone < STAFF_GRACE

    def available(self) -> list[int]:
        """On-duty people who are present."""
        return sorted(a for a in self.on_duty if self.present(a))

    @property
    def open(self) -> bool:
        return bool(self.available())

    async def connected(self, peer: Peer) -> None:
        if peer.account_id is None:
            self.watchers.add(peer)
            await peer.send({"type": "status", "open": self.open})
            return
        account = peer.session.account  # type: ignore[union-attr]
        self.names[account.id], self.roles[account.id] = account.name, account.role
        self.staff.setdefault(account.id, set()).add(peer)
        self.staff_gone.pop(account.id, None)
        await peer.send({"type": "duty", "on": account.id in self.on_duty})
        await self._send_mine(account.id, [peer])
        await self.queue_changed(only=[peer])

    async def disconnected(self, peer: Peer) -> None:
        if peer.account_id is not None:
            peers = self.staff.get(peer.account_id, set())
            peers.discard(peer)
            if not peers:
                self.staff.pop(peer.account_id, None)
                self.staff_gone[peer.account_id] = self.clock.now()
            return
        cid = peer.conversation
        if cid is None or self.citizens.get(cid) is not peer:
            return
        del self.citizens[cid]
        conv = await self.store.read(conv_db.get, cid)
        if conv is None or conv.state == "ended":
            return
        self.lost_since[cid] = self.clock.now()
        await self._to_staff_of(conv, {"type": "chat.presence", "conversation": cid, "citizen": "lost"})
        if conv.state == "waiting":
            await self.queue_changed()

    # ---------------------------------------------------------------- sending

    def _staff_peers(self, account_ids: Iterable[int | None]) -> list[Peer]:
        return [p for a in account_ids if a is not None for p in self.staff.get(a, ())]

    async def _send_all(self, peers: Iterable[Peer], frame: dict[str, Any]) -> None:
        for peer in list(peers):
            await peer.send(frame)

    async def _to_staff_of(self, conv: Conversation, frame: dict[str, Any]) -> None:
        await self._send_all(self._staff_peers({conv.owner, conv.helper}), frame)

    async def _to_citizen(self, cid: str, frame: dict[str, Any]) -> None:
        peer = self.citizens.get(cid)
        if peer is not None:
            await peer.send(frame)

    async def _release_citizen(self, cid: str, reason: str, kind: str = "chat") -> None:
        """Tell the citizen the chat (or call) ended and free their connection for a new one."""
        citizen = self.citizens.pop(cid, None)
        self.lost_since.pop(cid, None)
        self.callback_ringing.pop(cid, None)
        if citizen is not None:
            citizen.conversation = None
            await citizen.send({"type": "chat.ended" if kind == "chat" else "call.ended", "reason": reason})

    async def _alert(self, account_ids: Iterable[int], kind: str, conv: Conversation, by: str | None = None,
                     note: str | None = None) -> None:
        frame = {"type": "alert", "kind": kind, "conversation": conv.id, "risk": conv.risk, "from": by,
                 "note": note}
        await self._send_all(self._staff_peers(account_ids), frame)

    async def _send_mine(self, account_id: int, peers: list[Peer] | None = None) -> None:
        mine = await self.store.read(conv_db.open_for, account_id)
        items = [{**c.summary(), "role": "owner" if c.owner == account_id else "helper"} for c in mine]
        await self._send_all(peers if peers is not None else self._staff_peers([account_id]),
                             {"type": "mine", "conversations": items})

    def _presence(self, conv: Conversation) -> str:
        if conv.state == "ended" and conv.end_reason in ("left", "quick_exit"):
            return "left"
        return "connected" if conv.id in self.citizens else "lost"

    def _citizen_present(self, cid: str) -> str:
        return "connected" if cid in self.citizens else "lost"

    async def queue_changed(self, only: list[Peer] | None = None) -> None:
        """Send the queue (chats, calls and call-backs) to staff, and each waiting citizen their place."""
        def _snapshot(conn: Connection) -> tuple[list[Conversation], dict[str, int], int, list[int],
                                                 list[Conversation]]:
            queue = conv_db.waiting(conn)
            counts = {c.id: conv_db.count_messages(conn, c.id) for c in queue}
            letters = len(conv_db.letters_waiting(conn))
            return queue, counts, letters, conv_db.recent_durations(conn), call_db.callbacks(conn)
        queue, counts, letters, durations, callbacks = await self.store.read(_snapshot)
        now = self.clock.now()
        available = self.available()
        frame = {"type": "queue", "letters": letters, "in_hours": self.centre.hours_now().in_hours(now),
                 "on_duty": [self.names.get(a, "?") for a in available],
                 "items": [{**c.summary(), "waiting_s": round(now - (c.queued_at or c.created)),
                            "messages": counts.get(c.id, 0), "citizen": self._citizen_present(c.id)}
                           for c in queue],
                 "callbacks": [{**c.summary(), "window": c.window, "citizen": self._citizen_present(c.id),
                                "tries": c.tries, "ringing": c.id in self.callback_ringing} for c in callbacks]}
        if only is not None:
            await self._send_all(only, frame)
            return
        await self._send_all([p for peers in self.staff.values() for p in peers], frame)
        for position, c in enumerate(queue, start=1):
            place = {"position": position, "ahead": position - 1, "open": bool(available),
                     "estimate": estimate_minutes(position, len(available), durations)}
            if c.kind == "chat":
                await self._to_citizen(c.id, {"type": "chat.state", "state": "waiting", **place})
            else:
                await self._to_citizen(c.id, self._call_state(c, "waiting", place, now))
        for c in callbacks:
            state = "ringing" if c.id in self.callback_ringing else "scheduled"
            await self._to_citizen(c.id, self._call_state(c, state, {"position": None, "ahead": 0,
                                                                     "open": bool(available), "estimate": None}, now))

    def _call_state(self, conv: Conversation, state: str, place: dict[str, Any], now: float) -> dict[str, Any]:
        """A caller's ``call.state``; after ``letterbox_after_min`` it offers the letterbox and emergency card."""
        waited = now - (conv.queued_at or conv.created)
        letterbox = conv.kind == "call" and waited >= self.centre.letterbox_after_min * 60
        return {"type": "call.state", "state": state, **place, "waited_s": round(waited), "letterbox": letterbox,
                "emergency": self.centre.emergency, "window": conv.window}

    async def status(self) -> dict[str, Any]:
        """The public status for the citizen page."""
        def _read(conn: Connection) -> tuple[int, list[int]]:
            return len(conv_db.waiting(conn)), conv_db.recent_durations(conn)
        waiting, durations = await self.store.read(_read)
        available = self.available()
        estimate = estimate_minutes(waiting + 1, len(available), durations)
        hours, now = self.centre.hours_now(), self.clock.now()
        in_hours = hours.in_hours(now)
        return {"open": bool(available), "on_duty": len(available), "waiting": waiting, "estimate": estimate,
                "hours": self.centre.hours, "topics": self.centre.topics, "emergency": self.centre.emergency,
                "retention_days": self.centre.retention_days, "languages": ["da", "en"],
                "in_hours": in_hours, "next_open": None if in_hours else hours.next_open(now),
                "out_of_hours": self.centre.out_of_hours, "calls": self.centre.calls, "call_estimate": estimate}

    async def _broadcast_open_state(self) -> None:
        frame = {"type": "status", "open": self.open}
        await self._send_all(self.watchers, frame)

    # ---------------------------------------------------------------- citizen side

    def _citizen_conversation(self, peer: Peer) -> str:
        if peer.conversation is None or self.citizens.get(peer.conversation) is not peer:
            raise ChatError("not_in_chat", "start or resume a chat first")
        return peer.conversation

    async def begin(self, peer: Peer, name: str | None, topic: str | None, danger: bool, lang: str,
                    previous: str | None, *, kind: str = "chat", media: str | None = None,
                    window: tuple[float, float] | None = None) -> tuple[Conversation, str]:
        """Check and store a new chat, call or call-back request, and attach the citizen's socket to it."""
        if peer.conversation is not None and self.citizens.get(peer.conversation) is peer:
            raise ChatError("already_in_chat", "this connection has a chat already")
        if topic is not None and topic not in self.centre.topics:
            raise ChatError("bad_topic", "choose one of the topics")
        if lang not in ("da", "en"):
            raise ChatError("bad_language", "language must be da or en")
        clean = _clean_name(name)
        if kind != "callback" and not self.open:
            hours = self.centre.hours_now()
            if not hours.in_hours(self.clock.now()):
                raise ChatError("closed", self.centre.out_of_hours)
            raise ChatError("closed", "nobody is on duty right now; leave a message in the letterbox")
        now = self.clock.now()
        if await self.store.read(conv_db.blocked_until, previous, now):
            raise ChatError("blocked", "you cannot start a chat right now")
        conv, resume = await self.store.write(conv_db.start, clean, topic, danger, lang, now, kind=kind,
                                              media=media, window=window)
        peer.conversation = conv.id
        self.citizens[conv.id] = peer
        return conv, resume

    async def start(self, peer: Peer, name: str | None, topic: str | None, danger: bool, lang: str,
                    previous: str | None) -> None:
        conv, resume = await self.begin(peer, name, topic, danger, lang, previous)
        await peer.reply({"type": "chat.started", "conversation": conv.id, "resume": resume,
                         "pseudonym": conv.pseudonym, "state": conv.state})
        await self.queue_changed()
        await self._alert(self.available(), "new", conv)

    async def attach(self, peer: Peer, token: str, kinds: tuple[str, ...]) -> Conversation:
        """Re-attach a citizen's socket to their conversation by resume token (after a reload)."""
        now = self.clock.now()
        conv = await self.store.read(conv_db.by_resume, token)
        if conv is None or conv.kind not in kinds:
            raise ChatError("unknown_resume", "that conversation has ended or is not known")
        if await self.store.read(conv_db.blocked_until, token, now):
            raise ChatError("blocked", "you cannot start a chat right now")
        old = self.citizens.get(conv.id)
        if old is not None and old is not peer:
            old.conversation = None
            await old.ws.close(code=4000, message=b"resumed elsewhere")
        peer.conversation = conv.id
        self.citizens[conv.id] = peer
        self.lost_since.pop(conv.id, None)
        return conv

    async def resume(self, peer: Peer, token: str) -> None:
        conv = await self.attach(peer, token, ("chat",))
        history = await self.store.read(conv_db.messages, conv.id)
        staff = self.names.get(conv.owner) if conv.owner is not None and conv.state == "active" else None
        await peer.reply({"type": "chat.resumed", "conversation": conv.id, "pseudonym": conv.pseudonym,
                         "state": conv.state, "messages": history, "staff": staff})
        if conv.state == "ended":
            await peer.send({"type": "chat.ended", "reason": conv.end_reason or "ended"})
            return
        await self._to_staff_of(conv, {"type": "chat.presence", "conversation": conv.id, "citizen": "connected"})
        if conv.state == "waiting":
            await self.queue_changed()
        else:
            await peer.send({"type": "chat.state", "state": "active", "position": None, "ahead": 0,
                             "estimate": None, "open": self.open})

    async def citizen_send(self, peer: Peer, text: str, client_id: str) -> None:
        cid = self._citizen_conversation(peer)
        conv, message, new = await self.store.write(conv_db.post, cid, "citizen", None, text, client_id,
                                                    self.clock.now())
        await peer.reply({"type": "chat.ack", "client_id": client_id, "message": message})
        if not new:
            return
        if conv.state == "active":
            await self._to_staff_of(conv, {"type": "chat.message", "conversation": cid, "message": message})
        else:
            await self.queue_changed()

    async def citizen_typing(self, peer: Peer, active: bool) -> None:
        cid = self._citizen_conversation(peer)
        conv = await self.store.read(conv_db.get, cid)
        if conv is not None and conv.state == "active":
            await self._to_staff_of(conv, {"type": "chat.typing", "conversation": cid, "active": active})

    async def citizen_delete(self, peer: Peer, message_id: int) -> None:
        cid = self._citizen_conversation(peer)
        if not await self.store.write(conv_db.delete_own_message, cid, message_id):
            raise ChatError("unknown_message", "you can only delete your own messages")
        conv = await self.store.read(conv_db.get, cid)
        frame = {"type": "chat.deleted", "message": message_id}
        await peer.reply(frame)
        if conv is not None:
            await self._to_staff_of(conv, {**frame, "conversation": cid})

    async def citizen_leave(self, peer: Peer, reason: str) -> None:
        """``left`` or ``quick_exit``: ends the chat and forgets the resume token."""
        cid = self._citizen_conversation(peer)
        conv = await self.store.write(conv_db.end, cid, reason, self.clock.now(), forget_resume=True)
        self.citizens.pop(cid, None)
        self.lost_since.pop(cid, None)
        peer.conversation = None
        await peer.reply({"type": "chat.ended", "reason": reason})
        await self._to_staff_of(conv, {"type": "chat.presence", "conversation": cid, "citizen": "left"})
        if conv.owner is None:
            await self.queue_changed()

    async def leave_letter(self, peer: Peer, text: str, topic: str | None, lang: str) -> None:
        if topic is not None and topic not in self.centre.topics:
            raise ChatError("bad_topic", "choose one of the topics")
        cid, code = await self.store.write(conv_db.leave_letter, text, topic, lang, self.clock.now())
        await peer.reply({"type": "letter.stored", "code": code})
        conv = await self.store.read(conv_db.get, cid)
        assert conv is not None
        await self._alert(self.on_duty, "letter", conv)
        await self.queue_changed()

    async def read_letter(self, peer: Peer, code: str) -> None:
        status, history = await self.store.write(conv_db.read_letter, code, self.clock.now())
        await peer.reply({"type": "letter.answer", "status": status, "messages": history})

    # ---------------------------------------------------------------- staff side

    def _account(self, peer: Peer) -> tuple[int, str]:
        assert peer.session is not None
        return peer.session.account.id, peer.session.account.name

    async def _participant(self, peer: Peer, cid: str) -> Conversation:
        account_id, _ = self._account(peer)
        conv = await self.store.read(conv_db.require, cid)
        if account_id not in (conv.owner, conv.helper):
            raise ChatError("not_yours", "this conversation is not yours")
        return conv

    async def _opened(self, conv: Conversation, account_id: int, reader: str) -> dict[str, Any]:
        """The ``chat.opened`` frame; reading a stored conversation is audited."""
        def _read(conn: Connection) -> tuple[Conversation, list[dict[str, Any]], list[dict[str, Any]]]:
            audit.record(conn, self.clock.now(), reader, "conversation_read", "conversation", conv.id,
                         conv.pseudonym)
            fresh = conv_db.get(conn, conv.id)  # the citizen may have left since ``conv`` was read
            return fresh or conv, conv_db.messages(conn, conv.id), conv_db.notes(conn, conv.id)
        fresh, history, notes = await self.store.write(_read)
        return {"type": "chat.opened", **fresh.summary(), "messages": history, "notes": notes,
                "role": "owner" if fresh.owner == account_id else "helper", "citizen": self._presence(fresh)}

    async def set_duty(self, peer: Peer, on: bool, open_chats: str | None, to: str | None) -> None:
        account_id, name = self._account(peer)
        if not on:
            mine = [c for c in await self.store.read(conv_db.open_for, account_id)
                    if c.state == "active" and c.owner == account_id]
            if mine and open_chats is None:
                raise _OpenChats([c.id for c in mine])
            if open_chats != "transfer" and any(c.kind != "chat" for c in mine):
                raise ChatError("not_a_chat", "an answered call cannot go back to the queue; hand it on or end it")
            for conv in mine:
                if open_chats == "transfer":
                    await self.transfer(peer, conv.id, to, "Overdraget ved vagtskifte")
                else:
                    await self.transfer(peer, conv.id, None, "Sendt tilbage i køen ved vagtskifte")
        await self.store.write(conv_db.set_duty, account_id, on)
        if on:
            self.on_duty.add(account_id)
        else:
            self.on_duty.discard(account_id)
        await self._send_all(self._staff_peers([account_id]), {"type": "duty", "on": on})
        log.info("duty changed", extra={"event": "duty", "count": len(self.on_duty)})
        await self.queue_changed()
        await self._broadcast_open_state()

    async def take(self, peer: Peer, cid: str | None) -> None:
        account_id, name = self._account(peer)
        if account_id not in self.on_duty:
            raise ChatError("not_on_duty", "go on duty first")
        conv = await self.store.write(conv_db.take, cid, account_id, self.clock.now())
        opened = await self._opened(conv, account_id, name)
        await peer.reply(opened)
        await self._send_all([p for p in self._staff_peers([account_id]) if p is not peer], opened)
        await self._to_citizen(conv.id, {"type": "chat.joined", "name": name})
        await self._to_citizen(conv.id, {"type": "chat.state", "state": "active", "position": None, "ahead": 0,
                                         "estimate": None, "open": self.open})
        await self._send_mine(account_id)
        await self.queue_changed()

    async def staff_send(self, peer: Peer, cid: str, text: str, client_id: str) -> None:
        account_id, name = self._account(peer)
        conv, message, new = await self.store.write(conv_db.post, cid, "staff", name, text, client_id,
                                                    self.clock.now(), account_id)
        await peer.reply({"type": "chat.ack", "client_id": client_id, "conversation": cid, "message": message})
        if new:
            others = [p for p in self._staff_peers({conv.owner, conv.helper}) if p is not peer]
            await self._send_all(others, {"type": "chat.message", "conversation": cid, "message": message})
            await self._to_citizen(cid, {"type": "chat.message", "message": message})

    async def staff_typing(self, peer: Peer, cid: str, active: bool) -> None:
        conv = await self._participant(peer, cid)
        if conv.state == "active":
            await self._to_citizen(cid, {"type": "chat.typing", "active": active})

    async def add_note(self, peer: Peer, cid: str, text: str) -> None:
        _, name = self._account(peer)
        conv = await self._participant(peer, cid)
        note = await self.store.write(conv_db.add_note, cid, name, text, self.clock.now())
        await self._to_staff_of(conv, {"type": "note.added", "conversation": cid, "note": note})

    async def transfer(self, peer: Peer, cid: str, to: str | None, note: str) -> None:
        account_id, name = self._account(peer)
        conv = await self._participant(peer, cid)
        if conv.owner != account_id:
            raise ChatError("not_yours", "only the person who has the conversation can hand it on")
        if conv.state != "active":
            raise ChatError("chat_ended", "this chat has ended")
        now = self.clock.now()
        if to is None and conv.kind != "chat":
            raise ChatError("not_a_chat", "an answered call cannot go back to the queue; hand it on or end it")
        if to is None:
            def _requeue(conn: Connection) -> None:
                conv_db.requeue(conn, cid, now)
                conv_db.add_note(conn, cid, name, f"Sendt tilbage i køen. {note}".strip(), now)
            await self.store.write(_requeue)
            await self._send_all(self._staff_peers({conv.owner, conv.helper}),
                                 {"type": "chat.closed", "conversation": cid, "reason": "requeued"})
            for account in {conv.owner, conv.helper} - {None}:
                await self._send_mine(account)  # type: ignore[arg-type]
            await self.queue_changed()
            requeued = await self.store.read(conv_db.get, cid)
            assert requeued is not None
            await self._alert(self.available(), "new", requeued, name, note or None)
            return
        target = await self.store.read(find_account, to)
        if target is None or target.state != "active" or target.id not in self.available():
            raise ChatError("not_on_duty", f"{to} is not on duty")
        if target.id == conv.owner:
            raise ChatError("already_taken", "that person has this conversation already")
        def _assign(conn: Connection) -> None:
            conv_db.assign(conn, cid, target.id, now)
            if conv.room_id is not None:  # the call's room goes with the call
                conn.execute("UPDATE rooms SET created_by = ? WHERE id = ?", (target.id, conv.room_id))
            conv_db.add_note(conn, cid, name, f"Overdraget til {target.name}. {note}".strip(), now)
        await self.store.write(_assign)
        moved = await self.store.read(conv_db.get, cid)
        assert moved is not None
        await self._send_all(self._staff_peers([conv.owner]),
                             {"type": "chat.closed", "conversation": cid, "reason": "transferred"})
        await self._send_all(self._staff_peers([target.id]), await self._opened(moved, target.id, target.name))
        await self._alert([target.id], "transfer", moved, name, note or None)
        await self._to_citizen(cid, {"type": "chat.joined", "name": target.name})
        for account in {conv.owner, target.id}:
            await self._send_mine(account)  # type: ignore[arg-type]

    async def escalate(self, peer: Peer, cid: str, note: str | None) -> None:
        account_id, name = self._account(peer)
        conv = await self._participant(peer, cid)
        def _escalate(conn: Connection) -> dict[str, Any]:
            conv_db.mark_escalated(conn, cid)
            return conv_db.add_note(conn, cid, name, f"Bad om hjælp. {note or ''}".strip(), self.clock.now())
        stored = await self.store.write(_escalate)
        # a crisis rings every connected staff or admin console, on duty or not
        ring = [a for a, role in self.roles.items() if role in STAFF_ROLES and a != account_id and self.staff.get(a)]
        await self._alert(ring, "escalation", conv, name, note)
        await self._to_staff_of(conv, {"type": "note.added", "conversation": cid, "note": stored})

    async def join(self, peer: Peer, cid: str) -> None:
        account_id, name = self._account(peer)
        if peer.role not in STAFF_ROLES:
            raise ChatError("forbidden", "only staff can join a conversation")
        conv = await self.store.read(conv_db.require, cid)
        if conv.state != "active":
            raise ChatError("chat_ended", "this chat is not active")
        if account_id in (conv.owner, conv.helper):
            raise ChatError("already_taken", "you are in this conversation already")
        def _join(conn: Connection) -> dict[str, Any]:
            conv_db.set_helper(conn, cid, account_id)
            return conv_db.add_note(conn, cid, name, f"{name} er med nu.", self.clock.now())
        stored = await self.store.write(_join)
        joined = await self.store.read(conv_db.get, cid)
        assert joined is not None
        opened = await self._opened(joined, account_id, name)
        await peer.reply(opened)
        await self._send_all([p for p in self._staff_peers([account_id]) if p is not peer], opened)
        await self._send_all(self._staff_peers([conv.owner, conv.helper]),
                             {"type": "note.added", "conversation": cid, "note": stored})
        await self._to_citizen(cid, {"type": "chat.joined", "name": name})
        await self._send_mine(account_id)

    async def reopen(self, peer: Peer, cid: str) -> None:
        """Show one of your own conversations again (after a reconnect or on a second device)."""
        account_id, name = self._account(peer)
        conv = await self._participant(peer, cid)
        await peer.reply(await self._opened(conv, account_id, name))

    async def end(self, peer: Peer, cid: str, topic: str, outcome: str | None) -> None:
        account_id, _ = self._account(peer)
        if topic not in self.centre.topics and topic != "Andet":
            raise ChatError("bad_topic", "choose one of the topics")
        conv = await self._participant(peer, cid)
        now = self.clock.now()
        def _end(conn: Connection) -> Conversation:
            ended = conv_db.end(conn, cid, "ended", now, forget_resume=False)
            conv_db.register(conn, ended, topic, outcome, now)
            return ended
        ended = await self.store.write(_end)
        await self._close_call_room(ended)
        await self._release_citizen(cid, ended.end_reason or "ended", ended.kind)
        await self._to_staff_of(conv, {"type": "chat.closed", "conversation": cid, "reason": "ended"})
        for account in {conv.owner, conv.helper} - {None}:
            await self._send_mine(account)  # type: ignore[arg-type]

    async def block(self, peer: Peer, cid: str, hours: int, reason: str) -> None:
        _, name = self._account(peer)
        conv = await self._participant(peer, cid)
        now = self.clock.now()
        def _block(conn: Connection) -> None:
            conv_db.block(conn, conv, hours, reason, name, now)
            ended = conv_db.end(conn, cid, "blocked", now, forget_resume=True)
            conv_db.register(conn, ended, conv.topic or "Andet", "blocked", now)
        await self.store.write(_block)
        await self._close_call_room(conv)
        await self._release_citizen(cid, "blocked", conv.kind)
        await self._to_staff_of(conv, {"type": "chat.closed", "conversation": cid, "reason": "blocked"})
        for account in {conv.owner, conv.helper} - {None}:
            await self._send_mine(account)  # type: ignore[arg-type]

    async def _close_call_room(self, conv: Conversation) -> None:
        if conv.room_id is not None and self.end_room is not None:
            await self.end_room(conv.room_id)

    async def list_letters(self, peer: Peer) -> None:
        _, name = self._account(peer)
        def _read(conn: Connection) -> list[dict[str, Any]]:
            items = conv_db.letters_waiting(conn)
            for item in items:
                audit.record(conn, self.clock.now(), name, "conversation_read", "letter", item["conversation"],
                             item["pseudonym"])
            return items
        items = await self.store.write(_read)
        await peer.reply({"type": "letters", "items": [{k: v for k, v in i.items() if k != "pseudonym"}
                                                      for i in items]})

    async def reply_letter(self, peer: Peer, cid: str, text: str) -> None:
        _, name = self._account(peer)
        await self.store.write(conv_db.reply_letter, cid, name, text, self.clock.now())
        await self.list_letters(peer)
        await self.queue_changed()

    # ---------------------------------------------------------------- housekeeping

    async def sweep(self) -> None:
        """End chats whose citizen has been gone too long, and idle ones; tell everyone concerned."""
        now = self.clock.now()
        gone = [cid for cid, since in self.lost_since.items() if now - since >= LOST_GRACE]
        idle = await self.store.read(lambda c: [r[0] for r in c.execute(
            "SELECT id FROM conversations WHERE (kind IN ('chat', 'call') AND state IN ('waiting', 'active') "
            "OR kind = 'callback' AND state = 'active') AND last_activity < ?", (now - IDLE_END,))])
        changed = False
        for cid in dict.fromkeys(gone + idle):
            conv = await self.store.read(conv_db.get, cid)
            self.lost_since.pop(cid, None)
            if conv is None or conv.state == "ended" or cid in self.citizens and cid not in idle:
                continue
            if conv.kind == "callback" and cid not in idle:  # a call-back waits for its window, page or not
                continue
            reason = "lost" if cid in gone else "timeout"
            await self.store.write(conv_db.end, cid, reason, now, forget_resume=True)
            await self._close_call_room(conv)
            await self._release_citizen(cid, reason, conv.kind)
            await self._to_staff_of(conv, {"type": "chat.presence", "conversation": cid, "citizen": "left"})
            changed = True
        if changed:
            await self.queue_changed()


class _OpenChats(ChatError):
    """Going off duty with open chats: the client must choose what happens to them."""

    def __init__(self, conversations: list[str]) -> None:
        super().__init__("has_open_chats", "you have open chats: return them to the queue or transfer them")
        self.extra = {"conversations": conversations}
