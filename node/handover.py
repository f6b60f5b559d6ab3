"""Handover notes between shifts: free text that expires, never linked to a citizen.

The node attaches no conversation, pseudonym or citizen to a note; only what the writer typed,
their name and the times are stored. Expired notes are deleted by the retention sweep.
"""
from __future__ import annotations

from typing import Any

from node.conversations import ChatError
from node.store import Connection

TEXT_MAX = 2000
HOURS_MAX = 168


def add(conn: Connection, author_id: int, author: str, text: str, hours: int, now: float) -> int:
    if not 1 <= hours <= HOURS_MAX:
        raise ChatError("bad_field", f"a handover note lives 1-{HOURS_MAX} hours")
    cur = conn.execute("INSERT INTO handover_notes (ts, author_id, author, body, expires) VALUES (?, ?, ?, ?, ?)",
                       (now, author_id, author, text, now + hours * 3600))
    return int(cur.lastrowid or 0)


def live(conn: Connection, now: float) -> list[dict[str, Any]]:
    """Notes that have not expired, newest first."""
    rows = conn.execute("SELECT id, ts, author, body, expires FROM handover_notes WHERE expires > ? "
                        "ORDER BY ts DESC, id DESC", (now,)).fetchall()
    return [{"id": nid, "ts": ts, "author": author, "text": body, "expires": expires}
            for nid, ts, author, body, expires in rows]


def delete(conn: Connection, note_id: int, account_id: int, is_admin: bool, now: float) -> None:
    """The author, or an admin, deletes a live note."""
    row = conn.execute("SELECT author_id FROM handover_notes WHERE id = ? AND expires > ?",
                       (note_id, now)).fetchone()
    if row is None:
        raise ChatError("unknown_note", "that note does not exist or has expired")
    if row[0] != account_id and not is_admin:
        raise ChatError("forbidden", "only the writer or an administrator can delete a note")
    conn.execute("DELETE FROM handover_notes WHERE id = ?", (note_id,))


def purge(conn: Connection, now: float) -> int:
    return conn.execute("DELETE FROM handover_notes WHERE expires <= ?", (now,)).rowcount
