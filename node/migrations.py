"""Versioned schema migrations; ``PRAGMA user_version`` records the last one applied."""
from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'volunteer')),
        state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'disabled')),
        password_hash TEXT,
        totp_secret BLOB,
        totp_last_step INTEGER,
        enrol_digest TEXT UNIQUE,
        enrol_expires REAL,
        pending_totp BLOB,
        created REAL NOT NULL
    );
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE INDEX sessions_account ON sessions(account_id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        object_type TEXT,
        object_id TEXT,
        subject TEXT
    );
    CREATE INDEX audit_actor ON audit(actor);
    CREATE INDEX audit_subject ON audit(subject);
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        pseudonym TEXT NOT NULL,
        created REAL NOT NULL,
        ended REAL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        ts REAL NOT NULL,
        sender TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """),
]

LATEST = MIGRATIONS[-1][0]
