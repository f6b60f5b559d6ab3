"""The append-only audit log of staff access (who, what, when, which object)."""
from __future__ import annotations

from dataclasses import dataclass

from node.store import Connection

ACTIONS = frozenset({"login", "logout", "login_failed", "conversation_read", "enrolled",
                     "account_added", "account_disabled", "account_reset"})


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    ts: float
    actor: str
    action: str
    object_type: str | None
    object_id: str | None
    subject: str | None

    def to_json(self) -> dict[str, object]:
        return {"ts": self.ts, "actor": self.actor, "action": self.action,
                "object_type": self.object_type, "object_id": self.object_id, "subject": self.subject}


def record(conn: Connection, ts: float, actor: str, action: str, object_type: str | None = None,
           object_id: str | None = None, subject: str | None = None) -> None:
    """Append one entry. ``subject`` names the citizen pseudonym or staff member the entry is about."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute("INSERT INTO audit (ts, actor, action, object_type, object_id, subject) VALUES (?,?,?,?,?,?)",
                 (ts, actor, action, object_type, object_id, subject))


def entries_for(conn: Connection, subject: str) -> list[AuditEntry]:
    """Every entry made by, or about, ``subject`` (a staff name or a citizen pseudonym), oldest first."""
    rows = conn.execute(
        "SELECT ts, actor, action, object_type, object_id, subject FROM audit "
        "WHERE actor = ? COLLATE NOCASE OR subject = ? COLLATE NOCASE ORDER BY id", (subject, subject))
    return [AuditEntry(*row) for row in rows.fetchall()]
