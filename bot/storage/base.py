"""What every store shares: one connection, one lock, the vault, and time formats.

The repository (bot/storage/repository.py) is these stores combined; only the stores call
crypto/ for data at rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite

from bot.events import Address
from bot.hours import WeeklyHours, parse_hours
from bot.storage import db
from bot.storage.membercache import ChangeWatch, MemberCache
from crypto import Vault

log = logging.getLogger(__name__)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def day_stamp(moment: datetime) -> str:
    """A moment kept to the day only (UTC): when someone joined, not the second they did."""
    return moment.astimezone(UTC).date().isoformat()


def week_of(moment: datetime) -> date:
    """The Monday of the (UTC) week a moment falls in: the finest time a metric keeps."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


# Sealed JSON records are padded to a multiple of this, so a ciphertext's length does not say
# which of its fields are set (a cool-down, a block list).
SEALED_BLOCK = 256


def moment_or_none(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def day_or_none(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def hours_or_none(text: str | None) -> WeeklyHours | None:
    return parse_hours(text) if text else None


class StoreLock:
    """The lock every statement of a store takes (one connection, shared by every coroutine).
    A task that takes it again while holding it (a statement or transaction nested in a
    transaction) is refused at once, where a plain lock would wait on itself for ever."""

    __slots__ = ("_holder", "_lock")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise RuntimeError("the store's lock is already held by this task")
        await self._lock.acquire()
        self._holder = task

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._holder = None
        self._lock.release()


class StoreBase:
    def __init__(self, conn: aiosqlite.Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault
        # One connection is shared by every coroutine: statements are serialized so that none
        # lands inside another's transaction.
        self._lock = StoreLock()
        # Member numbers already reported as failing their integrity check (logged once each).
        self._refused: set[int] = set()
        # A delete that shreds or withdraws (or an accept) has happened and the WAL may still
        # hold the old rows: fold it in at the next chance (see fold_wal).
        self._checkpoint_due = False
        self._busy_reported = False
        self._tags_missing_reported = False
        # Verified members served again while nothing is committed (see membercache.py).
        self._members: MemberCache | None = None

    def remember_members(self, path: Path) -> None:
        """Serve member look-ups from memory while the database at `path` is unchanged."""
        if self._members is None:
            self._members = MemberCache(ChangeWatch(path))

    def active_lists_kept(self) -> tuple[int, int]:
        """Of the active-member lists asked for so far, how many were served from memory, and
        how many were asked for in all (0, 0 without the member cache)."""
        if self._members is None:
            return 0, 0
        hits, misses = self._members.list_hits, self._members.list_misses
        return hits, hits + misses

    def checkpoint_due(self) -> bool:
        return self._checkpoint_due

    async def fold_wal(self) -> bool:
        """Checkpoint (TRUNCATE) now, in one attempt that never waits, so rows just deleted
        or rewritten leave the WAL. While another connection reads, it stays due and the
        clock tick tries again (`fold_wal_if_due`); no lock is held between attempts."""
        self._checkpoint_due = True
        async with self._lock:
            folded = await db.checkpoint(self._conn)
        if folded:
            self._checkpoint_due = False
            self._busy_reported = False
        elif not self._busy_reported:
            self._busy_reported = True
            log.warning("WAL checkpoint busy (another reader is open); retried on the clock tick")
        return folded

    async def fold_wal_if_due(self) -> bool:
        return await self.fold_wal() if self._checkpoint_due else True

    def address_hash(self, address: Address) -> bytes:
        value = f"{address.platform.value}:{address.chat_id}".encode()
        return self._vault.lookup_hash(value, purpose="address")

    def agency_hash(self, agency: str) -> bytes:
        return self._vault.lookup_hash(agency.strip().casefold().encode(), purpose="agency")

    def seal_message_id(self, message_id: str | None, *, table: str, row: str) -> bytes | None:
        """The platform id of a message sent to someone (to edit it later), sealed to its row."""
        if message_id is None:
            return None
        return self._vault.seal_text(message_id, table=table, column="message", row=row)

    def open_message_id(self, sealed: bytes | None, *, table: str, row: str) -> str | None:
        if sealed is None:
            return None
        return self._vault.open_text(sealed, table=table, column="message", row=row)

    def seal_record(self, body: dict[str, Any], *, table: str, column: str, row: str) -> bytes:
        plain = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        size = max(SEALED_BLOCK, -(-len(plain) // SEALED_BLOCK) * SEALED_BLOCK)
        return self._vault.seal(plain.ljust(size), table=table, column=column, row=row)

    def open_record(
        self, sealed: bytes | None, *, table: str, column: str, row: str
    ) -> dict[str, Any]:
        if sealed is None:
            return {}
        body = json.loads(self._vault.open(sealed, table=table, column=column, row=row))
        return body if isinstance(body, dict) else {}

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[db.Transaction]:
        """The lock and one write transaction (`db.write_transaction`) around the block."""
        async with self._lock, db.write_transaction(self._conn) as transaction:
            yield transaction

    async def _one(self, sql: str, params: tuple[Any, ...] = ()) -> aiosqlite.Row | None:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[aiosqlite.Row]:
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one write; returns the number of rows it changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def _fetch_locked(self, sql: str, params: tuple[Any, ...]) -> aiosqlite.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _fetch_all_locked(
        self, sql: str, params: tuple[Any, ...] = ()
    ) -> list[aiosqlite.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())
