"""The duty roster: planned shifts in the store, beside who is on duty right now."""
from __future__ import annotations

from typing import Any

from node.accounts import find as find_account
from node.conversations import ChatError
from node.store import Connection

SHIFT_MAX = 24 * 3600
SHOW_AHEAD = 7 * 24 * 3600
PAST_KEEP = 7 * 24 * 3600  # ended shifts are deleted after a week


def add(conn: Connection, name: str, starts: float, ends: float, by: str, now: float) -> int:
    """Plan a shift for an active account: up to 24 hours, ending in the future."""
    account = find_account(conn, name)
    if account is None or account.state != "active":
        raise ChatError("unknown_account", f"there is no active account called {name[:40]}")
    if not (ends > starts and ends - starts <= SHIFT_MAX and ends > now and starts < now + 366 * 24 * 3600):
        raise ChatError("bad_shift", "a shift lasts up to 24 hours and ends in the future")
    cur = conn.execute("INSERT INTO shifts (account_id, starts, ends, created_by) VALUES (?, ?, ?, ?)",
                       (account.id, starts, ends, by))
    return int(cur.lastrowid or 0)


def remove(conn: Connection, shift_id: int) -> None:
    if conn.execute("DELETE FROM shifts WHERE id = ?", (shift_id,)).rowcount != 1:
        raise ChatError("unknown_shift", "that shift does not exist")


def upcoming(conn: Connection, now: float) -> list[dict[str, Any]]:
    """Shifts running now or starting within a week, soonest first."""
    rows = conn.execute("SELECT s.id, a.name, a.role, s.starts, s.ends FROM shifts s JOIN accounts a "
                        "ON a.id = s.account_id WHERE s.ends > ? AND s.starts < ? ORDER BY s.starts, s.id",
                        (now, now + SHOW_AHEAD)).fetchall()
    return [{"id": sid, "name": name, "role": role, "from": starts, "to": ends}
            for sid, name, role, starts, ends in rows]


def purge(conn: Connection, now: float) -> int:
    return conn.execute("DELETE FROM shifts WHERE ends <= ?", (now - PAST_KEEP,)).rowcount
