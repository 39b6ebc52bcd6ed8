"""Looking at a database file without changing it, and copying it safely while it is in use.

Plain sqlite3 here: these run from the CLI beside a running bot, open their own connection,
and never migrate. `inspect_database` only reads; `backup_database` checkpoints (folds the WAL
into the main file, which changes no data) and writes a compacted, consistent copy.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bot.storage.db import migrations
from bot.storage.integrity import KEY_CHECK_VERSION
from crypto import DecryptionError, Vault

BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    schema_version: int
    latest_version: int
    integrity: str  # "ok", or SQLite's first complaint
    key_opens_data: bool | None  # None: nothing sealed yet to try the key on
    members: int


def _read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def inspect_database(path: Path, vault: Vault) -> DatabaseHealth:
    """Schema version, integrity_check, and whether the key opens what is sealed in it.
    Raises FileNotFoundError when there is no database file, sqlite3.Error when it is not one."""
    if not path.is_file():
        raise FileNotFoundError(path)
    with closing(_read_only(path)) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
        members = int(conn.execute("SELECT count(*) FROM members").fetchone()[0])
        check = None
        if version >= KEY_CHECK_VERSION:
            found = conn.execute("SELECT value FROM key_check WHERE id = 1").fetchone()
            check = bytes(found[0]) if found else b""
        sealed = conn.execute(
            "SELECT address_hash, address_ct FROM members ORDER BY id LIMIT 1"
        ).fetchone()
    key_ok: bool | None = None
    if check is not None:
        # The key check value (schema v12 on): a missing one is as bad as a wrong key.
        key_ok = vault.key_check_matches(check)
    elif sealed is not None:
        try:
            vault.open_text(
                sealed[1], table="members", column="address", row=bytes(sealed[0]).hex()
            )
            key_ok = True
        except DecryptionError:
            key_ok = False
    return DatabaseHealth(
        schema_version=version,
        latest_version=len(migrations()),
        integrity="; ".join(problems),
        key_opens_data=key_ok,
        members=members,
    )


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    schema_version: int


def backup_database(source: Path, target: Path) -> BackupResult:
    """An online, consistent copy of `source` at `target` (mode 0600, never overwritten).

    A passive checkpoint first folds committed WAL frames into the main file; VACUUM INTO then
    writes one read transaction's snapshot, compacted, so no free page of deleted rows comes
    along. The copy is checked with integrity_check before it is kept."""
    if not source.is_file():
        raise FileNotFoundError(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # VACUUM INTO wants a new or empty file; creating it first keeps it private from the start.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        version = _copy(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return BackupResult(path=target, size=target.stat().st_size, schema_version=version)


def _copy(source: Path, target: Path) -> int:
    with closing(sqlite3.connect(source, isolation_level=None)) as conn:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        conn.execute("VACUUM INTO ?", (str(target),))
    with closing(sqlite3.connect(target, isolation_level=None)) as copy:
        # A single self-contained file: no WAL beside it to forget when it is moved.
        copy.execute("PRAGMA journal_mode = DELETE").fetchone()
        check = copy.execute("PRAGMA integrity_check(1)").fetchone()[0]
        version = int(copy.execute("PRAGMA user_version").fetchone()[0])
    if check != "ok":
        raise sqlite3.DatabaseError(f"the copy failed integrity_check: {check}")
    with target.open("rb") as written:
        os.fsync(written.fileno())
    return version
