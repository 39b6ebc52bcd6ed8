"""Who has spilled updates in hand (see bot.delivery.HandledLedger): a sealed address per
person, so that a stop that cuts them off can be told to them. Written once per spill, never
per message; no content, no time."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection

from bot.events import Address, Platform
from bot.storage.base import StoreBase
from crypto import DecryptionError

log = logging.getLogger(__name__)

_TABLE = "spilled_chats"
_PADDED = 96  # every sealed address the same length, whatever the platform's id


class SpillStore(StoreBase):
    def _seal_address(self, address: Address, row: str) -> bytes:
        plain = f"{address.platform.value}:{address.chat_id}".ljust(_PADDED)
        return self._vault.seal_text(plain, table=_TABLE, column="address", row=row)

    async def record_spilled(self, platform: str, chat_ids: Collection[str]) -> dict[str, str]:
        """One row per chat, in one statement; returns chat id -> row id."""
        rows = {chat: secrets.token_hex(8) for chat in chat_ids}
        if not rows:
            return rows
        where = Platform(platform)
        values: list[object] = []
        for chat, row in rows.items():
            values += [row, self._seal_address(Address(where, chat), row)]
        marks = ", ".join("(?, ?)" for _ in rows)
        # One statement: all the rows or none, and one commit.
        await self._exec(f"INSERT INTO {_TABLE} (id, address_ct) VALUES {marks}", tuple(values))  # noqa: S608 - placeholders only
        return rows

    async def forget_spilled(self, rows: Collection[str]) -> None:
        if not rows:
            return
        marks = ", ".join("?" for _ in rows)
        await self._exec(f"DELETE FROM {_TABLE} WHERE id IN ({marks})", tuple(rows))  # noqa: S608 - placeholders only

    async def spilled_chats(self) -> list[tuple[str, Address]]:
        """Every row left (row id, address). A row that does not open (moved, altered) is
        skipped and logged by count: nobody to tell."""
        found: list[tuple[str, Address]] = []
        unreadable = 0
        for row_id, sealed in await self._all(f"SELECT id, address_ct FROM {_TABLE}"):  # noqa: S608
            try:
                plain = self._vault.open_text(
                    bytes(sealed), table=_TABLE, column="address", row=row_id
                )
                platform, _, chat = plain.rstrip().partition(":")
                found.append((str(row_id), Address(Platform(platform), chat)))
            except (DecryptionError, ValueError):
                unreadable += 1
        if unreadable:
            log.warning("%d spilled-chat row(s) could not be opened", unreadable)
        return found
