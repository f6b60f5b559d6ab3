"""Chat conversations in the store: queue, messages, notes, letters, blocks and registrations.

Functions take an open connection and run inside the caller's transaction on the store thread;
that single thread is what makes ``take`` atomic (exactly one taker wins).
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from crypto.tokens import new_token, token_digest
from node.protocol import ProtocolRefusal
from node.store import Connection

ADJECTIVES = ["Blå", "Grøn", "Rolig", "Stille", "Varm", "Lys", "Modig", "Venlig", "Gylden", "Sølv", "Blid", "Klar"]
ANIMALS = ["Ugle", "Ræv", "Egern", "Pindsvin", "Måge", "Sæl", "Hjort", "Svane", "Odder", "Spurv", "Hare", "Bjørn"]
MESSAGE_COLUMNS = "id, ts, sender, author, body, deleted"
KINDS = ("chat", "call", "callback")  # conversations staff handle; "letter" is the letterbox


class ChatError(ProtocolRefusal):
    """A chat request cannot be carried out; ``code`` and ``reason`` go back to the sender."""


@dataclass(frozen=True)
class Conversation:
    """One row of ``conversations``."""

    id: str
    kind: str
    state: str
    pseudonym: str
    topic: str | None
    risk: bool
    lang: str
    owner: int | None
    helper: int | None
    queued_at: float | None
    taken_at: float | None
    created: float
    ended: float | None
    end_reason: str | None
    escalated: bool
    resume_digest: str | None
    media: str | None = None           # calls: "video" or "audio"
    window_start: float | None = None  # call-backs: the window the citizen chose
    window_end: float | None = None
    room_id: str | None = None         # an answered call's support room
    tries: int = 0                     # call-backs: times the citizen's page was rung

    def summary(self) -> dict[str, Any]:
        out = {"conversation": self.id, "pseudonym": self.pseudonym, "topic": self.topic, "risk": self.risk,
               "kind": self.kind}
        if self.kind != "chat":
            out["media"], out["room"] = self.media, self.room_id
        return out

    @property
    def window(self) -> list[float] | None:
        if self.window_start is None or self.window_end is None:
            return None
        return [self.window_start, self.window_end]


_COLUMNS = ("id, kind, state, pseudonym, topic, risk, lang, owner, helper, queued_at, taken_at, created, "
            "ended, end_reason, escalated, resume_digest, media, window_start, window_end, room_id, tries")


def _row(row: tuple[Any, ...] | None) -> Conversation | None:
    if row is None:
        return None
    values = list(row)
    values[5] = bool(values[5])
    values[14] = bool(values[14])
    return Conversation(*values)


def pseudonym() -> str:
    """A friendly random name such as "Rolig Odder 12"."""
    return f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(90) + 10}"


def message_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """A message object as the protocol describes it."""
    mid, ts, sender, author, body, deleted = row
    return {"id": mid, "ts": ts, "from": sender, "author": author if sender == "staff" else None,
            "text": "" if deleted else body, "deleted": bool(deleted)}


def get(conn: Connection, conversation_id: str) -> Conversation | None:
    return _row(conn.execute(f"SELECT {_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)).fetchone())


def require(conn: Connection, conversation_id: str) -> Conversation:
    conv = get(conn, conversation_id)
    if conv is None or conv.kind not in KINDS:
        raise ChatError("unknown_conversation", "no such conversation")
    return conv


def by_resume(conn: Connection, token: str) -> Conversation | None:
    return _row(conn.execute(f"SELECT {_COLUMNS} FROM conversations WHERE resume_digest = ?",
                             (token_digest(token),)).fetchone())


def blocked_until(conn: Connection, token: str | None, now: float) -> float | None:
    """When a block on this resume token ends, if it is blocked now."""
    if not token:
        return None
    row = conn.execute("SELECT until FROM blocks WHERE digest = ? AND until > ?",
                       (token_digest(token), now)).fetchone()
    return row[0] if row else None


def start(conn: Connection, name: str | None, topic: str | None, risk: bool, lang: str,
          now: float, *, kind: str = "chat", media: str | None = None,
          window: tuple[float, float] | None = None) -> tuple[Conversation, str]:
    """Queue a new chat, call or call-back request; returns it and its resume token."""
    cid, resume = new_token(16), new_token()
    start_at, end_at = window if window is not None else (None, None)
    conn.execute("INSERT INTO conversations (id, pseudonym, created, kind, state, topic, risk, lang, resume_digest, "
                 "queued_at, last_activity, media, window_start, window_end) "
                 "VALUES (?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (cid, name or pseudonym(), now, kind, topic, int(risk), lang, token_digest(resume), now, now,
                  media, start_at, end_at))
    conv = get(conn, cid)
    assert conv is not None
    return conv, resume


def add_message(conn: Connection, conversation_id: str, sender: str, author: str | None, text: str,
                client_id: str | None, now: float) -> tuple[dict[str, Any], bool]:
    """Persist a message; a repeated ``client_id`` returns the stored one. Returns (message, is_new)."""
    if client_id is not None:
        row = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND sender = ? "
                           "AND client_id = ?", (conversation_id, sender, client_id)).fetchone()
        if row is not None:
            return message_json(row), False
    cur = conn.execute("INSERT INTO messages (conversation_id, ts, sender, author, body, client_id) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (conversation_id, now, sender, author, text, client_id))
    conn.execute("UPDATE conversations SET last_activity = ? WHERE id = ?", (now, conversation_id))
    return {"id": cur.lastrowid, "ts": now, "from": sender, "author": author if sender == "staff" else None,
            "text": text, "deleted": False}, True


def post(conn: Connection, conversation_id: str, sender: str, author: str | None, text: str, client_id: str,
         now: float, account_id: int | None = None) -> tuple[Conversation, dict[str, Any], bool]:
    """Check that the chat is open (and, for staff, theirs) and persist a message, in one transaction."""
    conv = require(conn, conversation_id)
    if conv.kind != "chat":
        raise ChatError("not_a_chat", "this is a call; use the room's text chat")
    if account_id is not None and account_id not in (conv.owner, conv.helper):
        raise ChatError("not_yours", "this conversation is not yours")
    if conv.state == "ended" or (account_id is not None and conv.state != "active"):
        raise ChatError("chat_ended", "this chat has ended")
    message, new = add_message(conn, conversation_id, sender, author, text, client_id, now)
    return conv, message, new


def messages(conn: Connection, conversation_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                        (conversation_id,)).fetchall()
    return [message_json(r) for r in rows]


def count_messages(conn: Connection, conversation_id: str) -> int:
    return int(conn.execute("SELECT count(*) FROM messages WHERE conversation_id = ? AND sender = 'citizen'",
                            (conversation_id,)).fetchone()[0])


def delete_own_message(conn: Connection, conversation_id: str, message_id: int) -> bool:
    """Blank a citizen's own message (secure_delete overwrites the old text on disk)."""
    cur = conn.execute("UPDATE messages SET body = '', deleted = 1 WHERE id = ? AND conversation_id = ? "
                       "AND sender = 'citizen' AND deleted = 0", (message_id, conversation_id))
    return cur.rowcount == 1


def waiting(conn: Connection) -> list[Conversation]:
    """The queue of chats and calls: risk first, then the longest wait."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM conversations WHERE kind IN ('chat', 'call') AND state = 'waiting' "
                        "ORDER BY risk DESC, queued_at ASC, id").fetchall()
    return [c for c in map(_row, rows) if c is not None]


def open_for(conn: Connection, account_id: int) -> list[Conversation]:
    """Chats the account is owner or helper of: active ones, and ones the citizen ended that still
    need the owner's registration."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM conversations WHERE kind IN ('chat', 'call', 'callback') AND ("
                        "(state = 'active' AND (owner = ? OR helper = ?)) OR "
                        "(state = 'ended' AND registered = 0 AND owner = ?)) ORDER BY taken_at",
                        (account_id, account_id, account_id)).fetchall()
    return [c for c in map(_row, rows) if c is not None]


def take(conn: Connection, conversation_id: str | None, account_id: int, now: float) -> Conversation:
    """Assign a waiting chat (or the next one) to ``account_id``; only one caller can win."""
    if conversation_id is None:
        queue = [c for c in waiting(conn) if c.kind == "chat"]
        if not queue:
            raise ChatError("queue_empty", "nobody is waiting to chat")
        conversation_id = queue[0].id
    cur = conn.execute("UPDATE conversations SET state = 'active', owner = ?, taken_at = coalesce(taken_at, ?), "
                       "last_activity = ? WHERE id = ? AND kind = 'chat' AND state = 'waiting'",
                       (account_id, now, now, conversation_id))
    if cur.rowcount != 1:
        conv = get(conn, conversation_id)
        if conv is None or conv.kind not in KINDS:
            raise ChatError("unknown_conversation", "no such conversation")
        if conv.kind != "chat":
            raise ChatError("not_a_chat", "this is a call; answer it with call.accept")
        raise ChatError("already_taken", "someone else has taken this conversation")
    conv = get(conn, conversation_id)
    assert conv is not None
    return conv


def assign(conn: Connection, conversation_id: str, account_id: int, now: float) -> None:
    conn.execute("UPDATE conversations SET owner = ?, helper = CASE WHEN helper = ? THEN NULL ELSE helper END, "
                 "last_activity = ? WHERE id = ?", (account_id, account_id, now, conversation_id))


def requeue(conn: Connection, conversation_id: str, now: float) -> None:
    """Back to the queue, keeping its original place in time."""
    conn.execute("UPDATE conversations SET state = 'waiting', owner = NULL, helper = NULL, last_activity = ? "
                 "WHERE id = ?", (now, conversation_id))


def set_helper(conn: Connection, conversation_id: str, account_id: int) -> None:
    conn.execute("UPDATE conversations SET helper = ? WHERE id = ?", (account_id, conversation_id))


def mark_escalated(conn: Connection, conversation_id: str) -> None:
    conn.execute("UPDATE conversations SET escalated = 1 WHERE id = ?", (conversation_id,))


def end(conn: Connection, conversation_id: str, reason: str, now: float, *, forget_resume: bool) -> Conversation:
    """End a chat; ``forget_resume`` makes the resume token useless at once."""
    conn.execute("UPDATE conversations SET state = 'ended', ended = coalesce(ended, ?), "
                 "end_reason = coalesce(end_reason, ?), last_activity = ? WHERE id = ?",
                 (now, reason, now, conversation_id))
    if forget_resume:
        conn.execute("UPDATE conversations SET resume_digest = NULL WHERE id = ?", (conversation_id,))
    conv = get(conn, conversation_id)
    assert conv is not None
    return conv


def register(conn: Connection, conv: Conversation, topic: str, outcome: str | None, now: float) -> None:
    """The anonymous registration kept for statistics: day, topic, duration, risk, outcome."""
    began = conv.taken_at or conv.queued_at or conv.created
    conn.execute("UPDATE conversations SET registered = 1 WHERE id = ?", (conv.id,))
    conn.execute("INSERT INTO registrations (day, kind, topic, duration_s, risk, outcome) VALUES (?,?,?,?,?,?)",
                 (time.strftime("%Y-%m-%d", time.gmtime(now)), conv.kind, topic, int(max(0, (conv.ended or now) - began)),
                  int(conv.risk), outcome))


def recent_durations(conn: Connection, limit: int = 20) -> list[int]:
    rows = conn.execute("SELECT duration_s FROM registrations WHERE kind IN ('chat', 'call', 'callback') "
                        "ORDER BY id DESC LIMIT ?",
                        (limit,)).fetchall()
    return [int(r[0]) for r in rows]


def add_note(conn: Connection, conversation_id: str, author: str, text: str, now: float) -> dict[str, Any]:
    conn.execute("INSERT INTO notes (conversation_id, ts, author, body) VALUES (?, ?, ?, ?)",
                 (conversation_id, now, author, text))
    return {"ts": now, "author": author, "text": text}


def notes(conn: Connection, conversation_id: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT ts, author, body FROM notes WHERE conversation_id = ? ORDER BY id",
                        (conversation_id,)).fetchall()
    return [{"ts": ts, "author": author, "text": body} for ts, author, body in rows]


def block(conn: Connection, conv: Conversation, hours: int, reason: str, by: str, now: float) -> None:
    if conv.resume_digest:
        conn.execute("INSERT INTO blocks (digest, until, reason, created, created_by) VALUES (?,?,?,?,?) "
                     "ON CONFLICT(digest) DO UPDATE SET until = excluded.until, reason = excluded.reason",
                     (conv.resume_digest, now + hours * 3600, reason, now, by))


def leave_letter(conn: Connection, text: str, topic: str | None, lang: str, now: float) -> tuple[str, str]:
    """Store a letterbox message; returns (conversation id, one-time code to read the answer)."""
    cid = new_token(16)
    code = "-".join(secrets.token_hex(2).upper() for _ in range(4))  # 64 bits, easy to write down
    conn.execute("INSERT INTO conversations (id, pseudonym, created, kind, state, topic, lang, letter_digest, "
                 "queued_at, last_activity) VALUES (?, ?, ?, 'letter', 'waiting', ?, ?, ?, ?, ?)",
                 (cid, pseudonym(), now, topic, lang, token_digest(code), now, now))
    add_message(conn, cid, "citizen", None, text, None, now)
    return cid, code


def letters_waiting(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT c.id, c.created, c.topic, c.pseudonym, m.body FROM conversations c JOIN messages m "
                        "ON m.conversation_id = c.id AND m.sender = 'citizen' WHERE c.kind = 'letter' "
                        "AND c.state = 'waiting' ORDER BY c.created").fetchall()
    return [{"conversation": cid, "ts": ts, "topic": topic, "pseudonym": name, "text": body}
            for cid, ts, topic, name, body in rows]


def reply_letter(conn: Connection, conversation_id: str, author: str, text: str, now: float) -> Conversation:
    conv = get(conn, conversation_id)
    if conv is None or conv.kind != "letter":
        raise ChatError("unknown_conversation", "no such letter")
    if conv.state != "waiting":
        raise ChatError("already_taken", "this letter has been answered already")
    add_message(conn, conversation_id, "staff", author, text, None, now)
    conn.execute("UPDATE conversations SET state = 'answered', taken_at = ? WHERE id = ?", (now, conversation_id))
    return conv


def read_letter(conn: Connection, code: str, now: float) -> tuple[str, list[dict[str, Any]]]:
    """The status and messages for a letterbox code; the code is spent once an answer is shown."""
    normalised = code.strip().upper().replace(" ", "")
    if len(normalised) == 16 and "-" not in normalised:
        normalised = "-".join(normalised[i:i + 4] for i in range(0, 16, 4))
    row = conn.execute("SELECT id, state FROM conversations WHERE kind = 'letter' AND letter_digest = ?",
                       (token_digest(normalised),)).fetchone()
    if row is None:
        raise ChatError("unknown_code", "that code is not known, or its answer has been read")
    cid, state = row
    if state == "waiting":
        return "waiting", messages(conn, cid)
    conn.execute("UPDATE conversations SET letter_digest = NULL, state = 'ended', ended = ?, end_reason = 'read' "
                 "WHERE id = ?", (now, cid))
    return "answered", messages(conn, cid)


def set_duty(conn: Connection, account_id: int, on: bool) -> None:
    conn.execute("UPDATE accounts SET on_duty = ? WHERE id = ?", (int(on), account_id))


def on_duty_ids(conn: Connection) -> set[int]:
    return {r[0] for r in conn.execute("SELECT id FROM accounts WHERE on_duty = 1 AND state = 'active'")}
