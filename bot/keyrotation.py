"""`peerline rotate-key`: move the database to a new master key, safe against a crash anywhere.

The steps, and what an interruption leaves:

1. A new key is written beside the old one as KEY.new (mode 0600, fsynced). Killed here: the
   database is untouched, under the old key.
2. Every sealed identifier, wrapped thread key, lookup hash, MAC and the key check value are
   rewritten under the new key in ONE SQLite transaction (bot/storage/rekey.py). Killed before
   the commit: SQLite rolls it back; the database is still wholly under the old key.
3. KEY.new replaces KEY (an atomic rename). Killed between the commit and the rename: the
   database is under the new key, which is in KEY.new.

So an interruption is always resumed, never rolled back half-way: running `peerline rotate-key`
again finishes it (re-using KEY.new, or only renaming it if the database already moved), and
`peerline rotate-key --abort` discards KEY.new as long as the database has not moved. `peerline
check` and the start-up refusal say which of these states the files are in.

Invite codes are stored only as keyed hashes, which cannot be recomputed without the codes:
a rotation voids every unused code (the count is printed) and the operator issues new ones.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.config import Config
from bot.filemodes import UnsafeFileError, require_private_database
from bot.runlock import DatabaseBusyError, RunLock
from bot.storage import db, integrity
from bot.storage.rekey import RekeyCounts, RekeyRefusedError
from bot.storage.repository import Repository
from crypto import KeyFileError, MasterKey, Vault, generate_key_file, load_master_key

PENDING_SUFFIX = ".new"
# Fault injection for the crash tests: the rotation stops at this step and waits to be killed.
PAUSE_ENV = "PEERLINE_ROTATE_PAUSE_AT"
BUSY = "Peerline is running on this database (or another rotation is); stop it first"


class RotationError(Exception):
    """A rotation cannot start or go on; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class RotationResult:
    counts: RekeyCounts | None  # None: only the last step (the rename) was left to do
    key_file: Path


def pending_key_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + PENDING_SUFFIX)


def _key_file(config: Config) -> Path:
    if config.crypto.key_text or config.crypto.key_file is None:
        raise RotationError(
            "rotate-key works on [crypto] key_file (the new key is written beside it);"
            " unset PEERLINE_MASTER_KEY and point key_file at the key"
        )
    return config.crypto.key_file


def _install(pending: Path, key_file: Path) -> None:
    """KEY.new becomes KEY in one rename, made durable."""
    pending.replace(key_file)
    directory = os.open(key_file.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def _opens_with(path: Path, key: MasterKey) -> bool:
    """True if `key` is the database's key; reads only."""
    conn = await aiosqlite.connect(str(path))
    try:
        await integrity.verify_key(conn, Vault(key), await db.schema_version(conn))
    except integrity.KeyMismatchError:
        return False
    finally:
        await conn.close()
    return True


async def rotate(config: Config, *, pause: Callable[[str], None]) -> RotationResult:
    key_file = _key_file(config)
    path = config.storage.path
    if not path.exists():
        raise RotationError(f"no database at {path}: nothing to rotate")
    require_private_database(path)
    lock = RunLock(path)
    lock.acquire(exclusive=True, busy_message=BUSY)
    try:
        current = load_master_key(key_file)
        pending = pending_key_path(key_file)
        if not await _opens_with(path, current):
            if pending.exists() and await _opens_with(path, load_master_key(pending)):
                _install(pending, key_file)  # the database moved; only the rename was left
                return RotationResult(None, key_file)
            raise RotationError(f"the key in {key_file} does not open this database")
        new = _pending_key(pending)
        pause("new-key")
        repo = await Repository.open(path, Vault(current))
        try:
            counts = await repo.rekey(Vault(new), pause)
        finally:
            await repo.close()
        pause("committed")
        _install(pending, key_file)
        return RotationResult(counts, key_file)
    finally:
        lock.release()


def _pending_key(pending: Path) -> MasterKey:
    """KEY.new from an interrupted run, or a fresh one. The database is under the old key here,
    so a KEY.new cut short by a crash is worthless and replaced."""
    if pending.exists():
        try:
            return load_master_key(pending)
        except KeyFileError:
            pending.unlink()
    generate_key_file(pending)
    return load_master_key(pending)


async def abort_rotation(config: Config) -> str:
    """Discard KEY.new, if the database has not moved to it."""
    key_file = _key_file(config)
    pending = pending_key_path(key_file)
    if not pending.exists():
        return "no key rotation to abort"
    lock = RunLock(config.storage.path)
    lock.acquire(exclusive=True, busy_message=BUSY)
    try:
        if config.storage.path.exists() and not await _opens_with(
            config.storage.path, load_master_key(key_file)
        ):
            raise RotationError(
                "the database already uses the new key; run `peerline rotate-key` to finish"
            )
        pending.unlink()
    finally:
        lock.release()
    return f"removed {pending}; the database stays under {key_file}"


async def mismatch_hint(config: Config) -> str:
    """Why the configured key does not open the database, in one line."""
    key_file = config.crypto.key_file
    if not config.crypto.key_text and key_file is not None:
        pending = pending_key_path(key_file)
        try:
            moved = pending.exists() and await _opens_with(
                config.storage.path, load_master_key(pending)
            )
        except KeyFileError:
            moved = False
        if moved:
            return (
                "a key rotation was interrupted after the database moved to the new key:"
                " run `peerline rotate-key` to finish it"
            )
    return "the master key does not open this database (wrong key?)"


async def inspect(config: Config, key: MasterKey, *, with_key: bool = True) -> list[str]:
    """What `peerline check` finds wrong with the database and its key, one line each.
    `with_key=False` leaves the key itself to `check --live`, which tests it its own way."""
    path = config.storage.path
    if not path.exists():
        return []
    try:
        require_private_database(path)
    except UnsafeFileError as exc:
        return [str(exc)]
    try:
        return await _inspect_contents(config, key, with_key=with_key)
    except sqlite3.Error as exc:
        return [f"{path} cannot be read as a database ({type(exc).__name__})"]


async def _inspect_contents(config: Config, key: MasterKey, *, with_key: bool) -> list[str]:
    path = config.storage.path
    conn = await aiosqlite.connect(str(path))
    try:
        version = await db.schema_version(conn)
        await integrity.verify_key(conn, Vault(key), version)
    except integrity.KeyMismatchError:
        return [await mismatch_hint(config)] if with_key else []
    except (integrity.KeyCheckMissingError, db.SchemaTooNewError) as exc:
        return [str(exc)] if with_key else []
    finally:
        await conn.close()
    problems = []
    key_file = config.crypto.key_file
    if not config.crypto.key_text and key_file and pending_key_path(key_file).exists():
        problems.append(
            f"an unfinished key rotation left {pending_key_path(key_file)}: run `peerline"
            " rotate-key` to finish it or `peerline rotate-key --abort` to discard it"
        )
    if version == len(db.migrations()):
        repo = await Repository.open(path, Vault(key))
        try:
            refused = [m for m, _, state in await repo.unusable_members() if state == "refused"]
        finally:
            await repo.close()
        if refused:
            problems.append(
                f"member record(s) {', '.join(map(str, refused))} fail their integrity check"
                " (changed without the key) and are refused; erase them with"
                " `peerline roster revoke N --purge`"
            )
    return problems


def _pause_from_environment(step: str) -> None:
    if os.environ.get(PAUSE_ENV) == step:
        print(f"paused at {step}", flush=True)
        time.sleep(3600)  # until the test kills this process


def command(config: Config, *, abort: bool = False) -> int:
    """`peerline rotate-key [--abort]`: prints what it did; 0 on success."""
    try:
        if abort:
            print(asyncio.run(abort_rotation(config)))
            return 0
        result = asyncio.run(rotate(config, pause=_pause_from_environment))
    except (
        RotationError,
        RekeyRefusedError,
        KeyFileError,
        UnsafeFileError,
        DatabaseBusyError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.counts is None:
        print(f"finished an interrupted rotation: {result.key_file} now holds the new key")
    else:
        counts = result.counts
        print(
            f"re-sealed {counts.members} member(s), {counts.requests} open request(s),"
            f" {counts.offers} offer(s), {counts.followups} follow-up(s) and {counts.threads}"
            f" live thread key(s) under the new key in {result.key_file}"
        )
        if counts.invites_voided:
            print(
                f"{counts.invites_voided} unused invite code(s) were voided (codes are kept only"
                " as keyed hashes, which the new key cannot recompute): create new ones"
            )
    print(
        "The database no longer opens with the old key. Back up the new key now, apart from the"
        " database. Backups taken before now still need the old key."
    )
    return 0
