"""Calls and call-back requests in the store (conversations of kind ``call`` and ``callback``).

Like ``node.conversations``, functions run inside the caller's transaction on the store thread;
:func:`answer` is a conditional ``UPDATE``, so exactly one of several people accepting wins.
"""
from __future__ import annotations

from node.conversations import ChatError, Conversation, get, waiting
from node.store import Connection

CALL_KINDS = ("call", "callback")
MEDIA = ("video", "audio")
WINDOW_MIN = 15 * 60            # a call-back window is at least a quarter of an hour
WINDOW_AHEAD = 7 * 24 * 3600    # ... and ends within a week
WINDOW_SLACK = 60               # a window may start up to a minute in the past (clock skew)


def check_media(media: object) -> str:
    if media not in MEDIA:
        raise ChatError("bad_media", "a call is 'video' or 'audio'")
    return str(media)


def check_window(start: float, end: float, now: float) -> tuple[float, float]:
    """A call-back window the node can keep: 15 minutes or longer, from now, within a week."""
    if start < now - WINDOW_SLACK or end - start < WINDOW_MIN or end > now + WINDOW_AHEAD:
        raise ChatError("bad_window", "choose a time from now and within a week, at least 15 minutes long")
    return start, end


def require_call(conn: Connection, conversation_id: str) -> Conversation:
    conv = get(conn, conversation_id)
    if conv is None or conv.kind not in CALL_KINDS:
        raise ChatError("not_a_call", "there is no such call")
    return conv


def ringing(conn: Connection) -> list[Conversation]:
    """Calls waiting for an answer, in queue order."""
    return [c for c in waiting(conn) if c.kind == "call"]


def callbacks(conn: Connection) -> list[Conversation]:
    """Call-back requests not yet answered, the earliest window first."""
    rows = conn.execute("SELECT id FROM conversations WHERE kind = 'callback' AND state = 'waiting' "
                        "ORDER BY window_start, queued_at, id").fetchall()
    return [c for (cid,) in rows if (c := get(conn, cid)) is not None]


def answer(conn: Connection, conversation_id: str, account_id: int, room_id: str, now: float) -> Conversation:
    """Give a waiting call to ``account_id`` with its room; only one caller can win."""
    cur = conn.execute("UPDATE conversations SET state = 'active', owner = ?, room_id = ?, "
                       "taken_at = coalesce(taken_at, ?), last_activity = ? "
                       "WHERE id = ? AND kind IN ('call', 'callback') AND state = 'waiting'",
                       (account_id, room_id, now, now, conversation_id))
    if cur.rowcount != 1:
        conv = require_call(conn, conversation_id)
        if conv.state == "ended":
            raise ChatError("chat_ended", "the caller has hung up")
        raise ChatError("already_taken", "someone else has answered this call")
    conv = get(conn, conversation_id)
    assert conv is not None
    return conv


def end_waiting(conn: Connection, conversation_id: str, reason: str, now: float) -> Conversation:
    """End a call or call-back nobody has answered yet; refused once it is answered or ended."""
    cur = conn.execute("UPDATE conversations SET state = 'ended', ended = ?, end_reason = ?, last_activity = ?, "
                       "resume_digest = NULL WHERE id = ? AND kind IN ('call', 'callback') AND state = 'waiting'",
                       (now, reason, now, conversation_id))
    if cur.rowcount != 1:
        raise ChatError("already_taken", "this call has been answered or has ended")
    conv = get(conn, conversation_id)
    assert conv is not None
    return conv


def to_chat(conn: Connection, conversation_id: str, now: float) -> Conversation:
    """A waiting call becomes a chat in the same place in the queue."""
    cur = conn.execute("UPDATE conversations SET kind = 'chat', media = NULL, window_start = NULL, "
                       "window_end = NULL, last_activity = ? WHERE id = ? AND kind IN ('call', 'callback') "
                       "AND state = 'waiting'", (now, conversation_id))
    if cur.rowcount != 1:
        raise ChatError("already_taken", "this call has been answered or has ended")
    conv = get(conn, conversation_id)
    assert conv is not None
    return conv


def count_try(conn: Connection, conversation_id: str) -> int:
    """One more time the citizen's page was rung for a call-back; returns the count."""
    conn.execute("UPDATE conversations SET tries = tries + 1 WHERE id = ?", (conversation_id,))
    return int(conn.execute("SELECT tries FROM conversations WHERE id = ?", (conversation_id,)).fetchone()[0])
