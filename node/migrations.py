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
    (2, """
    ALTER TABLE conversations ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat';
    ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'waiting';
    ALTER TABLE conversations ADD COLUMN topic TEXT;
    ALTER TABLE conversations ADD COLUMN risk INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN lang TEXT NOT NULL DEFAULT 'da';
    ALTER TABLE conversations ADD COLUMN resume_digest TEXT;
    ALTER TABLE conversations ADD COLUMN letter_digest TEXT;
    ALTER TABLE conversations ADD COLUMN owner INTEGER;
    ALTER TABLE conversations ADD COLUMN helper INTEGER;
    ALTER TABLE conversations ADD COLUMN queued_at REAL;
    ALTER TABLE conversations ADD COLUMN taken_at REAL;
    ALTER TABLE conversations ADD COLUMN end_reason TEXT;
    ALTER TABLE conversations ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversations ADD COLUMN last_activity REAL;
    ALTER TABLE conversations ADD COLUMN registered INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX conversations_state ON conversations(state, kind);
    CREATE UNIQUE INDEX conversations_resume ON conversations(resume_digest) WHERE resume_digest IS NOT NULL;
    CREATE UNIQUE INDEX conversations_letter ON conversations(letter_digest) WHERE letter_digest IS NOT NULL;
    ALTER TABLE messages ADD COLUMN author TEXT;
    ALTER TABLE messages ADD COLUMN client_id TEXT;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE notes (
        id INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        ts REAL NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX notes_conversation ON notes(conversation_id);
    CREATE TABLE registrations (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        topic TEXT NOT NULL,
        duration_s INTEGER NOT NULL,
        risk INTEGER NOT NULL,
        outcome TEXT
    );
    CREATE TABLE blocks (
        digest TEXT PRIMARY KEY,
        until REAL NOT NULL,
        reason TEXT NOT NULL,
        created REAL NOT NULL,
        created_by TEXT NOT NULL
    );
    ALTER TABLE accounts ADD COLUMN on_duty INTEGER NOT NULL DEFAULT 0
    """),
    (3, """
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('support', 'group')),
        title TEXT NOT NULL,
        created_by INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
        created REAL NOT NULL,
        max_video INTEGER NOT NULL DEFAULT 6 CHECK (max_video >= 1),
        max_cameras INTEGER NOT NULL CHECK (max_cameras >= max_video),
        max_participants INTEGER NOT NULL CHECK (max_participants >= max_cameras),
        closed INTEGER NOT NULL DEFAULT 0,
        closed_at REAL
    );
    CREATE INDEX rooms_open ON rooms(closed, created);
    CREATE TABLE invites (
        digest TEXT PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('guest', 'host')),
        single_use INTEGER NOT NULL DEFAULT 1,
        expires REAL NOT NULL,
        created REAL NOT NULL,
        created_by INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
        used_at REAL,
        uses INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX invites_room ON invites(room_id);
    CREATE INDEX invites_expires ON invites(expires)
    """),
    (4, """
    ALTER TABLE conversations ADD COLUMN media TEXT;
    ALTER TABLE conversations ADD COLUMN window_start REAL;
    ALTER TABLE conversations ADD COLUMN window_end REAL;
    ALTER TABLE conversations ADD COLUMN room_id TEXT;
    ALTER TABLE conversations ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE handover_notes (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        author_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE INDEX handover_expires ON handover_notes(expires);
    CREATE TABLE shifts (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        starts REAL NOT NULL,
        ends REAL NOT NULL CHECK (ends > starts),
        created_by TEXT NOT NULL
    );
    CREATE INDEX shifts_ends ON shifts(ends)
    """),
]

LATEST = MIGRATIONS[-1][0]
