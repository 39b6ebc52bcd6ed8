"""What offers and incident pages share: a helper asked about something, one row each.

Each row names what the helper is asked about (a request, an incident) and the helper, with its
state, when it was sent, when it expires and the platform id of the message that asked (to edit
it later), sealed to its row. RequestStore and IncidentStore keep their own names and rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.model import MemberId
from bot.storage.base import StoreBase, stamp


@dataclass(frozen=True, slots=True)
class AskTable:
    name: str
    about: str  # the column naming what the helper is asked about

    def row_key(self, about_id: str, helper_id: int) -> str:
        """The row a message id is sealed to."""
        return f"{about_id}/{helper_id}"


OFFERS = AskTable("offers", about="request_id")
PAGES = AskTable("incident_pages", about="incident_id")


@dataclass(frozen=True, slots=True)
class AskRow:
    helper_id: MemberId
    state: str
    sent_at: datetime
    expires_at: datetime
    message_id: str | None
    row: aiosqlite.Row  # for the columns only one of the tables has


class AskStore(StoreBase):
    async def _add_ask(
        self,
        table: AskTable,
        about_id: str,
        helper_id: MemberId,
        *,
        now: datetime,
        expires_at: datetime,
        message_id: str | None,
    ) -> None:
        """A new pending ask (replacing an earlier one to the same helper)."""
        message_ct = self.seal_message_id(
            message_id, table=table.name, row=table.row_key(about_id, helper_id)
        )
        await self._exec(
            f"INSERT OR REPLACE INTO {table.name} ({table.about}, helper_id, state, sent_at,"  # noqa: S608 - names from the AskTable constants
            " expires_at, message_ct) VALUES (?, ?, 'pending', ?, ?, ?)",
            (about_id, helper_id, stamp(now), stamp(expires_at), message_ct),
        )

    async def _asks(self, table: AskTable, about_id: str) -> list[AskRow]:
        """Every ask about `about_id`, the earliest sent first."""
        rows = await self._all(
            f"SELECT * FROM {table.name} WHERE {table.about} = ?"  # noqa: S608 - names from the AskTable constants
            " ORDER BY sent_at, helper_id",
            (about_id,),
        )
        return [
            AskRow(
                helper_id=MemberId(row["helper_id"]),
                state=row["state"],
                sent_at=datetime.fromisoformat(row["sent_at"]),
                expires_at=datetime.fromisoformat(row["expires_at"]),
                message_id=self.open_message_id(
                    row["message_ct"],
                    table=table.name,
                    row=table.row_key(row[table.about], row["helper_id"]),
                ),
                row=row,
            )
            for row in rows
        ]

    async def _move_ask(
        self,
        table: AskTable,
        about_id: str,
        helper_id: MemberId,
        state: str,
        *,
        or_expired: bool,
        involved: bool | None = None,
    ) -> bool:
        """Move a pending ask (or, with `or_expired`, one that timed out) to `state`; False if
        it was in neither. `involved` is recorded too where given (offers keep it)."""
        also, values = (", involved = ?", (int(involved),)) if involved is not None else ("", ())
        changed = await self._exec(
            f"UPDATE {table.name} SET state = ?{also} WHERE {table.about} = ? AND helper_id = ?"  # noqa: S608 - names from the AskTable constants
            " AND (state = 'pending' OR (? AND state = 'expired'))",
            (state, *values, about_id, helper_id, int(or_expired)),
        )
        return changed == 1
