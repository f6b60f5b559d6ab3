"""The encrypted store: one SQLCipher database, opened with a raw key, worked by one thread.

Every statement runs on a single dedicated thread, so the event loop never blocks and SQLite sees
one writer. ``PRAGMA rekey`` breaks other open connections, so rekeying exports to a new file under
the new key instead (see :func:`rekey_database`).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlcipher3

from crypto.storekey import raw_key_pragma
from node.migrations import LATEST, MIGRATIONS

T = TypeVar("T")
Connection = sqlcipher3.Connection


class StoreError(RuntimeError):
    """The store cannot be opened or used."""


class WrongKeyError(StoreError):
    """The key does not open this database (or the file is not a database)."""


def connect(path: Path, key: bytes, *, create: bool = False) -> Connection:
    """Open ``path`` with a raw key and the node's pragmas; refuse a wrong key without writing."""
    if not create and not path.exists():
        raise StoreError(f"no database at {path}")
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(raw_key_pragma(key))
        conn.execute("PRAGMA cipher_compatibility = 4")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            raise WrongKeyError("the key does not open this database; nothing was changed") from exc
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA cache_size = -32000")
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: Connection) -> int:
    """The last migration applied."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: Connection) -> int:
    """Apply pending migrations in order, each in its own transaction."""
    current = schema_version(conn)
    if current > LATEST:
        raise StoreError(f"database schema {current} is newer than this fristed ({LATEST}); upgrade first")
    for version, sql in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return schema_version(conn)


def transaction(conn: Connection, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(conn, *args, **kwargs)`` inside one write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args, **kwargs)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def export_database(conn: Connection, target: Path, key: bytes) -> None:
    """Write a consistent copy of ``conn``'s database to ``target`` under ``key`` and fsync it."""
    if target.exists():
        raise StoreError(f"{target} already exists")
    version = schema_version(conn)
    conn.execute(f"ATTACH DATABASE ? AS export KEY \"x'{key.hex()}'\"", (str(target),))
    try:
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT sqlcipher_export('export')")
            conn.execute(f"PRAGMA export.user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("DETACH DATABASE export")
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_integrity(conn: Connection) -> bool:
    """SQLite's integrity check plus SQLCipher's page HMAC check."""
    ok = conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return ok and not conn.execute("PRAGMA cipher_integrity_check").fetchall()


def remove_database_files(path: Path) -> None:
    """Remove a database file and its WAL and shared-memory companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


class Store:
    """The node's single connection, used only from its own thread."""

    def __init__(self, conn: Connection, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: Path, key: bytes) -> "Store":
        """Open (creating if new) and migrate the database on the store thread."""
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="fristed-store")
        loop = asyncio.get_running_loop()

        def _open() -> Connection:
            conn = connect(path, key, create=True)
            try:
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = await loop.run_in_executor(executor, _open)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor)

    async def _submit(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in a write transaction on the store thread."""
        return await self._submit(functools.partial(transaction, self._conn, fn, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(conn, *args, **kwargs)`` on the store thread without opening a write transaction."""
        return await self._submit(functools.partial(fn, self._conn, *args, **kwargs))

    async def healthy(self, timeout: float = 2.0) -> bool:
        """True when a trivial query answers in time."""
        try:
            row = await asyncio.wait_for(self.read(lambda c: c.execute("SELECT 1").fetchone()), timeout)
        except (asyncio.TimeoutError, StoreError, sqlcipher3.Error):
            return False
        return row == (1,)

    async def checkpoint(self) -> None:
        """Fold the WAL back into the database and truncate it (after purges)."""
        await self.read(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())

    async def close(self) -> None:
        """Checkpoint, close the connection and stop the thread."""
        if self._closed:
            return
        try:
            await self.checkpoint()
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.close)
            self._closed = True
            self._executor.shutdown(wait=True)
