"""Handled update ids above a transport's confirm point (see bot.delivery.HandledLedger).

Written only while some chat is stuck, so the relay hot path makes no disk write; holds ids
only: no content, no chat, no time.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.storage.base import StoreBase


class UpdateStore(StoreBase):
    async def handled_updates(self, platform: str) -> set[int]:
        rows = await self._all(
            "SELECT update_id FROM handled_updates WHERE platform = ?", (platform,)
        )
        return {int(row[0]) for row in rows}

    async def keep_handled_updates(self, platform: str, ids: Collection[int]) -> None:
        async with self._writing():
            await self._conn.execute("DELETE FROM handled_updates WHERE platform = ?", (platform,))
            await self._conn.executemany(
                "INSERT INTO handled_updates (platform, update_id) VALUES (?, ?)",
                [(platform, update_id) for update_id in sorted(ids)],
            )
