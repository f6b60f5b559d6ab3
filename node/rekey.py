"""Change the store key by export-and-swap, never by ``PRAGMA rekey`` on a shared database."""
from __future__ import annotations

from crypto.storekey import StoreKey, generate_key, next_database_name, write_key_file
from node.datadir import DataDir, DirLock
from node.store import check_integrity, connect, export_database, remove_database_files


def rekey(data: DataDir, current: StoreKey, new_passphrase: str | None) -> StoreKey:
    """Export the store under a new random key, then swap the key file atomically.

    The node must be stopped: the data directory lock is taken for the whole operation. A crash
    before the key file is replaced leaves the old key and database in force; after, the new ones.
    """
    with DirLock(data) as lock:
        lock.acquire("rekeying")
        new_key = generate_key()
        old_path = data.database(current)
        new_name = next_database_name(current.database)
        new_path = data.root / new_name
        remove_database_files(new_path)  # a leftover from an interrupted rekey
        conn = connect(old_path, current.key)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            export_database(conn, new_path, new_key)
        finally:
            conn.close()
        check = connect(new_path, new_key)
        try:
            if not check_integrity(check):
                raise RuntimeError("the rekeyed copy failed its integrity check; the old key stays")
        finally:
            check.close()
        write_key_file(data.key_file, new_key, new_name, new_passphrase)
        remove_database_files(old_path)
        return StoreKey(new_key, new_name, "passphrase" if new_passphrase else "file")
