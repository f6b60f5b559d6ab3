"""Online encrypted backup, and restore into an empty data directory."""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from crypto import backup as container
from crypto.storekey import KEY_BYTES, StoreKey, database_name, write_key_file
from crypto.wrapping import Argon2Params
from node.datadir import DataDir, DataDirError, DirLock
from node.store import check_integrity, connect, export_database, remove_database_files, schema_version


def write_backup(data: DataDir, key: StoreKey, out: Path, passphrase: str | None = None,
                 params: Argon2Params | None = None) -> int:
    """Write an encrypted, consistent copy of the store to ``out`` while the node may run.

    The copy is a SQLCipher export under a fresh backup key, sealed in the backup container.
    Returns the schema version it holds.
    """
    backup_key = secrets.token_bytes(KEY_BYTES)
    out = out.resolve()
    with tempfile.TemporaryDirectory(dir=data.root, prefix=".backup-") as tmp:
        inner = Path(tmp) / "snapshot.db"
        conn = connect(data.database(key), key.key)
        try:
            version = schema_version(conn)
            export_database(conn, inner, backup_key)
        finally:
            conn.close()
        partial = out.with_name(out.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as sink, open(inner, "rb") as source:
            container.seal(source, sink, backup_key, key.key, version, passphrase, params)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(partial, out)
    return version


def restore_backup(data: DataDir, backup: Path, *, old_key: StoreKey | None, passphrase: str | None,
                   new_passphrase: str | None = None) -> int:
    """Restore ``backup`` into an empty data directory; returns the schema version restored.

    The backup opens with the old node's key file (``old_key``) or the backup passphrase. The
    restored store gets a fresh key, kept in a key file (wrapped with ``new_passphrase`` if given).
    """
    data.ensure()
    if not data.is_empty():
        raise DataDirError(f"{data.root} is not empty; restore only into an empty data directory")
    with DirLock(data) as lock:
        lock.acquire("restoring")
        new_key = secrets.token_bytes(KEY_BYTES)
        target = data.root / database_name(1)
        with tempfile.TemporaryDirectory(dir=data.root, prefix=".restore-") as tmp:
            inner = Path(tmp) / "snapshot.db"
            with open(backup, "rb") as source, open(inner, "wb") as sink:
                header = container.open_sealed(source, sink, old_key.key if old_key else None, passphrase)
            backup_key = container.backup_key_for_restore(backup, old_key.key if old_key else None,
                                                          passphrase)
            conn = connect(inner, backup_key)
            try:
                if not check_integrity(conn):
                    raise container.BackupError("the database inside the backup fails its integrity check")
                try:
                    export_database(conn, target, new_key)
                except BaseException:
                    remove_database_files(target)
                    raise
            finally:
                conn.close()
        write_key_file(data.key_file, new_key, target.name, new_passphrase)
    return header.schema_version
