"""Opening the SQLite database: pragmas and numbered migrations."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.filemodes import create_private

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# How long a write waits for another process's write lock (the CLI's short transactions).
# Short, so that nothing the bot does can stall for long behind another connection.
BUSY_TIMEOUT_SECONDS = 1.0
# Pages in the WAL before SQLite folds it into the main file by itself: a small WAL holds
# little history between the explicit checkpoints that follow every shred and every accept.
WAL_AUTOCHECKPOINT_PAGES = 32


class SchemaTooNewError(Exception):
    """The database was written by a newer Peerline; refusing to run on it."""


class Transaction:
    """An open write transaction (see `write_transaction`)."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False

    def abandon(self) -> None:
        """End with a rollback instead of a commit: nothing written in the block stays."""
        self.abandoned = True


@contextlib.asynccontextmanager
async def write_transaction(conn: aiosqlite.Connection) -> AsyncIterator[Transaction]:
    """One write transaction around the block: committed when the block ends, rolled back if
    it raises (or was abandoned). BEGIN IMMEDIATE takes the write lock at once, so another
    connection's write cannot slip in between this block's reads and its writes."""
    if conn.in_transaction:
        raise RuntimeError("a transaction is already open on this connection")
    await conn.execute("BEGIN IMMEDIATE")
    transaction = Transaction()
    try:
        yield transaction
        await conn.execute("ROLLBACK" if transaction.abandoned else "COMMIT")
    except BaseException:
        await _roll_back_if_open(conn)
        raise


async def _roll_back_if_open(conn: aiosqlite.Connection) -> None:
    # A function of its own: after the check before BEGIN, mypy would take `in_transaction`
    # as still false in the caller.
    if conn.in_transaction:
        await conn.execute("ROLLBACK")


def migrations() -> list[tuple[int, str]]:
    """All bundled migrations as (version, sql), in order. Versions must be 1, 2, 3, ..."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    expected = list(range(1, len(found) + 1))
    if [version for version, _ in found] != expected:
        raise RuntimeError("migration files must be numbered 0001, 0002, ... without gaps")
    return found


Check = Callable[[aiosqlite.Connection, int], Awaitable[None]]
Hook = Callable[[aiosqlite.Connection], Awaitable[None]]


async def connect(
    path: Path | str,
    *,
    before_migrate: Check | None = None,
    inside_step: Mapping[int, Hook] | None = None,
) -> aiosqlite.Connection:
    """Open the database with WAL and secure_delete, and bring its schema up to date.

    `before_migrate(conn, version)` may refuse the database before anything is written;
    `inside_step[v]` runs inside migration v's transaction, before it commits."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite gives the -wal and -shm files the main file's mode, so 0600 here covers them.
        create_private(path)
    conn = await aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        conn.row_factory = aiosqlite.Row
        if before_migrate is not None:
            # Before the first write: switching to WAL rewrites an older file's header.
            version = await schema_version(conn)
            _refuse_newer(version)
            await before_migrate(conn, version)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        # Deleted rows (wrapped thread keys, redeemed invites) are overwritten, not left as
        # free pages that a copy of the file would still carry.
        await conn.execute("PRAGMA secure_delete = ON")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await migrate(conn, inside_step or {})
        # Whatever an earlier run (or a migration) left in the WAL is folded in now if it can be.
        await checkpoint(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(
    conn: aiosqlite.Connection, inside_step: Mapping[int, Hook] | None = None
) -> None:
    current = await schema_version(conn)
    _refuse_newer(current)
    steps = migrations()
    for version, sql in steps:
        if version <= current:
            continue
        log.info("applying schema migration v%d", version)
        # One transaction per step: a failed step leaves the previous version intact.
        # executescript would commit an open transaction first, so BEGIN is part of the script.
        # Foreign keys are off while a step runs (SQLite's procedure for rebuilding a table:
        # dropping the old one would otherwise cascade-delete its children) and checked before
        # the step commits. The pragma has no effect inside a transaction, so it is set outside.
        await conn.execute("PRAGMA foreign_keys = OFF")
        try:
            await conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};")
            await _check_foreign_keys(conn, version)
            hook = (inside_step or {}).get(version)
            if hook is not None:
                await hook(conn)
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise
        finally:
            await conn.execute("PRAGMA foreign_keys = ON")


def _refuse_newer(version: int) -> None:
    latest = len(migrations())
    if version > latest:
        raise SchemaTooNewError(
            f"database schema v{version} is newer than this Peerline (v{latest}); upgrade it"
        )


async def _check_foreign_keys(conn: aiosqlite.Connection, version: int) -> None:
    async with conn.execute("PRAGMA foreign_key_check") as cursor:
        if await cursor.fetchone() is not None:
            raise RuntimeError(f"migration v{version} would break a foreign key")


async def checkpoint(conn: aiosqlite.Connection) -> bool:
    """Fold the WAL into the main file and truncate it, so shredded bytes leave the WAL too.

    One attempt that never waits: another connection's open read (the CLI, a backup) makes
    SQLite answer "busy" and keep the frames it still needs. False: the WAL still holds old
    frames; the caller retries later (the clock tick), never while holding a lock in a loop."""
    ms = int(BUSY_TIMEOUT_SECONDS * 1000)
    await conn.execute("PRAGMA busy_timeout = 0")
    try:
        async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            row = await cursor.fetchone()
    finally:
        await conn.execute(f"PRAGMA busy_timeout = {ms}")
    return row is None or row[0] == 0
