"""What every store shares: one connection, one lock, the vault, and time formats.

The repository (bot/storage/repository.py) is these stores combined; only the stores call
crypto/ for data at rest.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from bot.events import Address
from bot.hours import WeeklyHours, parse_hours
from crypto import Vault


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def moment_or_none(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def day_or_none(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def hours_or_none(text: str | None) -> WeeklyHours | None:
    return parse_hours(text) if text else None


class StoreBase:
    def __init__(self, conn: aiosqlite.Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault
        # One connection is shared by every coroutine: statements are serialized so that none
        # lands inside another's transaction.
        self._lock = asyncio.Lock()

    def address_hash(self, address: Address) -> bytes:
        value = f"{address.platform.value}:{address.chat_id}".encode()
        return self._vault.lookup_hash(value, purpose="address")

    def agency_hash(self, agency: str) -> bytes:
        return self._vault.lookup_hash(agency.strip().casefold().encode(), purpose="agency")

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
