"""Retention: transcripts are deleted on schedule; anonymous registrations stay for statistics."""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from node import handover, roster, sessions
from node.centre import load as load_centre
from node.clock import Clock
from node.store import Connection, Store

log = logging.getLogger("fristed.retention")
INTERVAL = 60.0


def purge(conn: Connection, now: float, session_policy: sessions.SessionPolicy) -> int:
    """Delete ended chats, calls and letters older than the centre's retention period, expired
    blocks, sessions and handover notes, and shifts that ended over a week ago. Messages and notes go with their conversation (ON DELETE CASCADE)."""
    cutoff = now - load_centre(conn).retention_days * 86400
    deleted = conn.execute(
        "DELETE FROM conversations WHERE (ended IS NOT NULL AND ended < ?) "
        "OR (kind = 'letter' AND coalesce(last_activity, created) < ?)", (cutoff, cutoff)).rowcount
    conn.execute("DELETE FROM blocks WHERE until < ?", (now,))
    sessions.purge_expired(conn, now, session_policy)
    deleted += handover.purge(conn, now) + roster.purge(conn, now)
    return deleted


async def run_once(store: Store, clock: Clock, session_policy: sessions.SessionPolicy) -> int:
    """One retention pass; the WAL is truncated afterwards so freed pages leave the log too."""
    deleted = await store.write(purge, clock.now(), session_policy)
    if deleted:
        await store.checkpoint()
        log.info("retention deleted transcripts", extra={"event": "retention", "count": deleted})
    return deleted


async def loop(store: Store, clock: Clock, session_policy: sessions.SessionPolicy,
               also: Callable[[], Awaitable[None]] | None = None, interval: float = INTERVAL) -> None:
    """Run retention (and ``also``, the chat sweep) every ``interval`` seconds until cancelled."""
    while True:
        try:
            await run_once(store, clock, session_policy)
            if also is not None:
                await also()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention pass failed", extra={"event": "retention_error"})
        await asyncio.sleep(interval)
