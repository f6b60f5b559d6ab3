"""What the console knows, built only from the node's frames (docs/chat-protocol.md).

Plain classes, no Textual: :meth:`ConsoleState.apply` takes one frame and returns the changes the
screens must show. Malformed fields are tolerated (shown as blanks), never fatal.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tui import fields
from tui.calls import Callback, CallLink, Ring
from tui.shifts import HandoverNote, Roster

ROLES_DA = {"volunteer": "frivillig", "staff": "medarbejder", "admin": "administrator", "citizen": "borger"}

ERRORS_DA = {
    "already_taken": "En anden tog samtalen først.",
    "queue_empty": "Der er ingen i køen lige nu.",
    "not_yours": "Samtalen er ikke din.",
    "not_on_duty": "Du skal være på vagt for at tage samtaler. Tryk o.",
    "has_open_chats": "Du har åbne samtaler. Vælg hvad der skal ske med dem.",
    "unknown_conversation": "Samtalen findes ikke længere.",
    "chat_ended": "Samtalen er slut.",
    "not_in_chat": "Du er ikke med i samtalen.",
    "rate_limited": "Du sender for hurtigt. Vent et øjeblik.",
    "bad_field": "Noden afviste beskeden.",
    "forbidden": "Din rolle må ikke gøre det.",
    "internal": "Noden kunne ikke gøre det. Intet blev ændret.",
    "bad_topic": "Vælg et af emnerne.",
    "closed": "Ingen er på vagt lige nu.",
    "calls_off": "Centret har slået opkald fra.",
    "not_a_call": "Det er ikke et opkald.",
    "not_a_chat": "Det er et opkald, ikke en chat. Tryk c for at tage opkaldet.",
    "not_ringing": "Opkaldet ringer ikke længere.",
    "citizen_away": "Borgeren har ikke siden åben lige nu. Prøv igen senere.",
    "unknown_note": "Noten findes ikke længere.",
    "unknown_shift": "Vagten findes ikke længere.",
    "bad_shift": "Vagten kunne ikke gemmes: den skal være til en aktiv konto, højst vare 24 timer "
                 "og slutte ude i fremtiden.",
    "bad_media": "Noden afviste opkaldet.",
}

PRESENCE_DA = {"connected": "forbundet", "lost": "forbindelsen er tabt (kan komme igen)",
               "left": "har forladt samtalen"}

CLOSED_DA = {"ended": "afsluttet", "transferred": "overdraget", "requeued": "sat tilbage i køen",
             "left": "borgeren gik", "quick_exit": "borgeren gik", "blocked": "blokeret",
             "lost": "borgeren var væk for længe", "timeout": "udløbet"}


_s, _opt_s, _b, _f, _conv = fields.text, fields.opt_text, fields.flag, fields.number, fields.conversation


@dataclass
class ChatMessage:
    """A message in a conversation; ``id`` is None while the node has not acknowledged it yet."""

    id: int | None
    ts: float
    sender: str  # citizen, staff, system
    author: str | None
    text: str
    deleted: bool = False
    client_id: str | None = None
    missed: bool = False  # arrived while the console was disconnected
    failed: str | None = None  # the node refused it (the reason, in Danish)

    @classmethod
    def from_frame(cls, data: Any) -> "ChatMessage | None":
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            return None
        return cls(int(data["id"]), _f(data, "ts"), _s(data, "from", "system"), _opt_s(data, "author"),
                   _s(data, "text"), _b(data, "deleted"))


@dataclass
class LocalLine:
    """A line only this console shows, e.g. "Forbindelsen var væk 02:10–02:14"."""

    ts: float
    text: str


@dataclass(frozen=True)
class Note:
    ts: float
    author: str
    text: str

    @classmethod
    def from_frame(cls, data: Any) -> "Note | None":
        if not isinstance(data, dict):
            return None
        return cls(_f(data, "ts"), _s(data, "author"), _s(data, "text"))


@dataclass
class QueueItem:
    conversation: str
    pseudonym: str
    topic: str | None
    risk: bool
    kind: str
    waiting_s: float
    messages: int
    citizen: str
    received: float  # local monotonic time of the frame, so the wait can tick on screen
    media: str | None = None  # calls: "video" or "audio"

    def waited(self, now: float) -> float:
        return self.waiting_s + max(0.0, now - self.received)


@dataclass
class Conversation:
    id: str
    pseudonym: str
    topic: str | None
    risk: bool
    role: str = "owner"
    citizen: str = "connected"
    entries: list[ChatMessage | LocalLine] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    typing: bool = False
    typing_at: float = 0.0
    unread: int = 0
    escalated: bool = False
    kind: str = "chat"  # or "call": no typing to the citizen, the talk happens in the room

    def message(self, message_id: int) -> ChatMessage | None:
        for entry in self.entries:
            if isinstance(entry, ChatMessage) and entry.id == message_id:
                return entry
        return None

    def pending(self, client_id: str) -> ChatMessage | None:
        for entry in self.entries:
            if isinstance(entry, ChatMessage) and entry.client_id == client_id and entry.id is None:
                return entry
        return None


@dataclass(frozen=True)
class Change:
    """Something the screens must show. ``kind`` is usually the frame type."""

    kind: str
    conversation: str | None = None
    data: Any = None


class ConsoleState:
    """The queue, my duty, my conversations, letters, as the node last told us."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.name: str | None = None
        self.role: str | None = None
        self.on_duty = False
        self.queue: list[QueueItem] = []
        self.on_duty_names: list[str] = []
        self.letters_waiting = 0
        self.letters: list[dict[str, Any]] = []
        self.mine: list[dict[str, Any]] = []
        self.conversations: dict[str, Conversation] = {}
        self.active: str | None = None
        self.seen_queue: set[str] = set()
        self.topics: list[str] = []
        self.canned: list[dict[str, str]] = []
        self.decline_messages: list[str] = []
        self.ringing: dict[str, Ring] = {}       # calls ringing this console, in the order they rang
        self.callbacks: list[Callback] = []      # call-back requests, by window start
        self.in_hours: bool | None = None        # None: the node has not said
        self.links: dict[str, CallLink] = {}     # the last host link per answered call
        self.roster: Roster | None = None
        self.handover: list[HandoverNote] = []
        self.calls_seen: dict[str, tuple[str, str]] = {}  # call → (pseudonym, media), kept after it leaves the queue

    # -- helpers for screens

    def open_ids(self) -> list[str]:
        return list(self.conversations)

    def others_on_duty(self) -> list[str]:
        return [n for n in self.on_duty_names if n != self.name]

    def mark_gap(self, end: float, text: str) -> None:
        """Note a connection gap in every open conversation; a later ``chat.opened`` fills in what was missed."""
        for conv in self.conversations.values():
            conv.entries.append(LocalLine(end, text))

    def add_pending(self, conversation: str, client_id: str, text: str, ts: float) -> ChatMessage | None:
        conv = self.conversations.get(conversation)
        if conv is None:
            return None
        msg = ChatMessage(None, ts, "staff", self.name, text, client_id=client_id)
        conv.entries.append(msg)
        return msg

    # -- frames

    def apply(self, frame: dict[str, Any]) -> list[Change]:
        handler = getattr(self, "_on_" + frame.get("type", "").replace(".", "_"), None)
        if handler is None:
            return [Change("unknown", data=frame)]
        result: list[Change] = handler(frame)
        return result

    def _on_welcome(self, f: dict[str, Any]) -> list[Change]:
        self.name, self.role = _opt_s(f, "name"), _opt_s(f, "role")
        return [Change("welcome", data=f)]

    def _on_pong(self, f: dict[str, Any]) -> list[Change]:
        return []

    def _on_error(self, f: dict[str, Any]) -> list[Change]:
        ref = f.get("id")
        if isinstance(ref, str):  # a refused chat.send: its id is its client_id
            for conv in self.conversations.values():
                pending = conv.pending(ref)
                if pending is not None:
                    code = _s(f, "code")
                    pending.failed = ERRORS_DA.get(code) or _s(f, "reason", code)
                    pending.client_id = None
                    return [Change("error", conv.id, f)]
        return [Change("error", _conv(f), f)]

    def _on_queue(self, f: dict[str, Any]) -> list[Change]:
        now = self.now()
        items: list[QueueItem] = []
        for raw in f.get("items") if isinstance(f.get("items"), list) else []:
            if not isinstance(raw, dict) or _conv(raw) is None:
                continue
            items.append(QueueItem(str(_conv(raw)), _s(raw, "pseudonym", "?"), _opt_s(raw, "topic"),
                                   _b(raw, "risk"), _s(raw, "kind", "chat"), _f(raw, "waiting_s"),
                                   int(_f(raw, "messages")), _s(raw, "citizen", "connected"), now,
                                   _opt_s(raw, "media")))
        new = [item for item in items if item.conversation not in self.seen_queue]
        gone = {item.conversation for item in self.queue} - {item.conversation for item in items}
        self.seen_queue.update(item.conversation for item in items)
        self.queue = items
        names = f.get("on_duty")
        self.on_duty_names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        self.letters_waiting = int(_f(f, "letters"))
        self.callbacks = [c for c in (Callback.from_frame(x) for x in fields.dicts(f, "callbacks")) if c is not None]
        for call in [i for i in items if i.kind == "call"] + self.callbacks:
            self.calls_seen[call.conversation] = (call.pseudonym, call.media or "video")
        if isinstance(f.get("in_hours"), bool):
            self.in_hours = f["in_hours"]
        for cid in gone:  # answered or ended: a missed ring_stop must not leave it ringing
            self.ringing.pop(cid, None)
        return [Change("queue", data={"new": new, "gone": gone})]

    def _on_duty(self, f: dict[str, Any]) -> list[Change]:
        was, self.on_duty = self.on_duty, _b(f, "on")
        return [Change("duty", data={"started": self.on_duty and not was})]

    def _on_mine(self, f: dict[str, Any]) -> list[Change]:
        raw = f.get("conversations")
        self.mine = [c for c in raw if isinstance(c, dict) and _conv(c) is not None] if isinstance(raw, list) else []
        ids = {str(_conv(c)) for c in self.mine}
        for c in self.mine:
            conv = self.conversations.get(str(_conv(c)))
            if conv is not None:
                conv.kind = _s(c, "kind", conv.kind)
        missing = [str(_conv(c)) for c in self.mine if str(_conv(c)) not in self.conversations]
        stale = [cid for cid in self.conversations if cid not in ids]
        return [Change("mine", data={"missing": missing, "stale": stale})]

    def _on_chat_opened(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        if cid is None:
            return []
        conv = self.conversations.get(cid)
        reopened = conv is not None
        if conv is None:
            conv = Conversation(cid, _s(f, "pseudonym", "?"), _opt_s(f, "topic"), _b(f, "risk"))
            conv.kind = next((_s(c, "kind", "chat") for c in self.mine if _conv(c) == cid), "chat")
            if cid in self.links:
                conv.kind = "call"
            self.conversations[cid] = conv
        conv.pseudonym = _s(f, "pseudonym", conv.pseudonym)
        conv.topic = _opt_s(f, "topic") or conv.topic
        conv.risk = _b(f, "risk")
        conv.role = _s(f, "role", conv.role)
        conv.citizen = _s(f, "citizen", conv.citizen)
        missed = 0
        for raw in f.get("messages") if isinstance(f.get("messages"), list) else []:
            msg = ChatMessage.from_frame(raw)
            if msg is None:
                continue
            known = conv.message(msg.id) if msg.id is not None else None
            if known is not None:
                known.deleted, known.text = msg.deleted, msg.text
                continue
            if reopened:
                msg.missed = True
                missed += 1
            conv.entries.append(msg)
        notes = [n for n in (Note.from_frame(x) for x in f.get("notes") or []) if n is not None] \
            if isinstance(f.get("notes"), list) else []
        if notes or not reopened:
            conv.notes = notes
        if missed and cid != self.active:
            conv.unread += missed
        return [Change("opened", cid, {"reopened": reopened, "missed": missed})]

    def _on_chat_message(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        msg = ChatMessage.from_frame(f.get("message"))
        if conv is None or msg is None or msg.id is None:
            return []
        if conv.message(msg.id) is not None:
            return []
        conv.entries.append(msg)
        if msg.sender == "citizen":
            conv.typing = False
        own = msg.sender == "staff" and msg.author == self.name
        if cid != self.active and not own:
            conv.unread += 1
        return [Change("message", cid, msg)]

    def _on_chat_ack(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        client_id = _s(f, "client_id")
        if conv is None:
            return []
        acked = ChatMessage.from_frame(f.get("message"))
        pending = conv.pending(client_id)
        if pending is not None:
            if acked is not None:
                pending.id, pending.ts, pending.text = acked.id, acked.ts or pending.ts, acked.text or pending.text
            elif isinstance(f.get("message"), int):
                pending.id = int(f["message"])
            else:
                pending.id = -1
            pending.client_id = None
        return [Change("ack", cid, client_id)]

    def _on_chat_deleted(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        mid = f.get("message")
        if conv is None or not isinstance(mid, int):
            return []
        msg = conv.message(mid)
        if msg is not None:
            msg.deleted, msg.text = True, ""
        return [Change("deleted", cid, mid)]

    def _on_chat_typing(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        if conv is None:
            return []
        conv.typing, conv.typing_at = _b(f, "active"), self.now()
        return [Change("typing", cid)]

    def _on_chat_presence(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        if conv is None:
            return []
        conv.citizen = _s(f, "citizen", conv.citizen)
        if conv.citizen != "connected":
            conv.typing = False
        return [Change("presence", cid, conv.citizen)]

    def _on_chat_closed(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        if cid is None:
            return []
        conv = self.conversations.pop(cid, None)
        if self.active == cid:
            self.active = None
        return [Change("closed", cid, {"reason": _s(f, "reason"), "conversation": conv})]

    def _on_note_added(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        conv = self.conversations.get(cid or "")
        note = Note.from_frame(f.get("note"))
        if conv is None or note is None:
            return []
        if note not in conv.notes:
            conv.notes.append(note)
        return [Change("note", cid, note)]

    def _on_alert(self, f: dict[str, Any]) -> list[Change]:
        if _s(f, "kind") == "escalation" and (cid := _conv(f)) and cid in self.conversations:
            self.conversations[cid].escalated = True
        return [Change("alert", _conv(f), f)]

    def _on_letters(self, f: dict[str, Any]) -> list[Change]:
        raw = f.get("items")
        self.letters = [x for x in raw if isinstance(x, dict) and _conv(x) is not None] if isinstance(raw, list) else []
        return [Change("letters")]

    # -- calls, call-backs, roster and handover (docs/api.md section 9)

    def _on_call_ring(self, f: dict[str, Any]) -> list[Change]:
        ring = Ring.from_frame(f, self.now())
        if ring is None:
            return []
        again = ring.conversation in self.ringing
        self.ringing[ring.conversation] = ring
        self.calls_seen[ring.conversation] = (ring.pseudonym, ring.media)
        return [Change("ring", ring.conversation, {"ring": ring, "again": again})]

    def _on_call_ring_stop(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        if cid is None:
            return []
        ring = self.ringing.pop(cid, None)
        return [Change("ring_stop", cid, {"reason": _s(f, "reason"), "by": _opt_s(f, "by"), "ring": ring})]

    def _on_call_accepted(self, f: dict[str, Any]) -> list[Change]:
        link = CallLink.from_frame(f, self.now())
        if link is None:
            return []
        self.links[link.conversation] = link
        self.ringing.pop(link.conversation, None)
        conv = self.conversations.get(link.conversation)
        if conv is not None:
            conv.kind = "call"
        return [Change("link", link.conversation, link)]

    def _on_call_declined(self, f: dict[str, Any]) -> list[Change]:
        cid = _conv(f)
        if cid is not None:
            self.ringing.pop(cid, None)
        return [Change("declined", cid)]

    def _on_callback_ringing(self, f: dict[str, Any]) -> list[Change]:
        return [Change("callback_ringing", _conv(f))]

    def _on_callback_unanswered(self, f: dict[str, Any]) -> list[Change]:
        return [Change("callback_unanswered", _conv(f), int(_f(f, "tries")))]

    def _on_handover(self, f: dict[str, Any]) -> list[Change]:
        notes = [HandoverNote.from_frame(x) for x in fields.dicts(f, "notes")]
        self.handover = [n for n in notes if n is not None]
        return [Change("handover")]

    def _on_roster(self, f: dict[str, Any]) -> list[Change]:
        self.roster = Roster.from_frame(f)
        if self.roster.in_hours is not None:
            self.in_hours = self.roster.in_hours
        return [Change("roster")]

    def pseudonym_of(self, cid: str) -> str | None:
        """The pseudonym of a conversation from anything the node has said about it."""
        if cid in self.conversations:
            return self.conversations[cid].pseudonym
        for item in self.queue:
            if item.conversation == cid:
                return item.pseudonym
        if cid in self.ringing:
            return self.ringing[cid].pseudonym
        for callback in self.callbacks:
            if callback.conversation == cid:
                return callback.pseudonym
        for mine in self.mine:
            if str(mine.get("conversation")) == cid:
                return str(mine.get("pseudonym", "?"))
        if cid in self.calls_seen:
            return self.calls_seen[cid][0]
        return None

    def media_of(self, cid: str) -> str:
        """'video' or 'audio' for a call the console has seen ('video' if it never has)."""
        return self.calls_seen.get(cid, ("", "video"))[1]
