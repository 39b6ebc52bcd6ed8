"""Opening the SQLite database: pragmas and numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import re
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNewError(Exception):
    """The database was written by a newer Peerline; refusing to run on it."""


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


async def connect(path: Path | str) -> aiosqlite.Connection:
    """Open the database with WAL and secure_delete, and bring its schema up to date."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        # Deleted rows (wrapped thread keys, redeemed invites) are overwritten, not left as
        # free pages that a copy of the file would still carry.
        await conn.execute("PRAGMA secure_delete = ON")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection) -> None:
    current = await schema_version(conn)
    steps = migrations()
    latest = steps[-1][0] if steps else 0
    if current > latest:
        raise SchemaTooNewError(
            f"database schema v{current} is newer than this Peerline (v{latest}); upgrade it"
        )
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
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.rollback()
            raise
        finally:
            await conn.execute("PRAGMA foreign_keys = ON")


async def _check_foreign_keys(conn: aiosqlite.Connection, version: int) -> None:
    async with conn.execute("PRAGMA foreign_key_check") as cursor:
        if await cursor.fetchone() is not None:
            raise RuntimeError(f"migration v{version} would break a foreign key")


async def checkpoint(conn: aiosqlite.Connection, *, tries: int = 5) -> bool:
    """Fold the WAL into the main file and truncate it, so shredded bytes leave the WAL too.

    Another connection's open read (the CLI, a backup) makes SQLite answer "busy" and keep the
    old frames; retried a few times, then reported. False: the WAL still holds old frames
    (the next checkpoint, at the next shred or at close, takes them)."""
    for attempt in range(tries):
        async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] == 0:
            return True
        await asyncio.sleep(0.05 * 2**attempt)
    log.warning("WAL checkpoint stayed busy; shredded rows leave the WAL at the next one")
    return False
