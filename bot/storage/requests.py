"""Open requests and their offers: the contact clock's state, deleted when a request resolves."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.model import (
    Category,
    MemberId,
    RequestId,
    ThreadId,
    Wanted,
)
from bot.storage.asks import OFFERS, AskStore
from bot.storage.base import moment_or_none, stamp


@dataclass(frozen=True, slots=True)
class RequestRecord:
    id: RequestId
    officer_id: MemberId
    category: Category
    wanted: Wanted
    outside_agency: bool
    urgent: bool
    created_at: datetime
    preferred_helper: MemberId | None = None
    widened: bool = False
    paged_at: datetime | None = None
    gave_up_at: datetime | None = None
    first_status_at: datetime | None = None
    first_offer_at: datetime | None = None
    transfer_thread: ThreadId | None = None


class OfferState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class OfferRecord:
    request_id: RequestId
    helper_id: MemberId
    state: OfferState
    sent_at: datetime
    expires_at: datetime
    message_id: str | None  # the offer message in the helper's chat, for editing it later
    involved: bool = False  # declined because they were involved in the incident


def new_request_id() -> RequestId:
    return RequestId("r" + secrets.token_hex(8))


class RequestStore(AskStore):
    async def create_request(self, record: RequestRecord) -> None:
        officer_ct = self._vault.seal_text(
            str(record.officer_id), table="requests", column="officer", row=record.id
        )
        await self._exec(
            "INSERT INTO requests (id, officer_ct, category, wanted, outside_agency, urgent,"
            " created_at, preferred_helper, transfer_thread) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                officer_ct,
                record.category.value,
                record.wanted.value,
                int(record.outside_agency),
                int(record.urgent),
                stamp(record.created_at),
                record.preferred_helper,
                record.transfer_thread,
            ),
        )

    def _request(self, row: aiosqlite.Row) -> RequestRecord:
        officer = self._vault.open_text(
            row["officer_ct"], table="requests", column="officer", row=row["id"]
        )
        return RequestRecord(
            id=RequestId(row["id"]),
            officer_id=MemberId(int(officer)),
            category=Category(row["category"]),
            wanted=Wanted(row["wanted"]),
            outside_agency=bool(row["outside_agency"]),
            urgent=bool(row["urgent"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            preferred_helper=row["preferred_helper"],
            widened=bool(row["widened"]),
            paged_at=moment_or_none(row["paged_at"]),
            gave_up_at=moment_or_none(row["gave_up_at"]),
            first_status_at=moment_or_none(row["first_status_at"]),
            first_offer_at=moment_or_none(row["first_offer_at"]),
            transfer_thread=row["transfer_thread"],
        )

    async def request(self, request_id: RequestId) -> RequestRecord | None:
        row = await self._one("SELECT * FROM requests WHERE id = ?", (request_id,))
        return self._request(row) if row else None

    async def open_requests(self) -> list[RequestRecord]:
        rows = await self._all("SELECT * FROM requests ORDER BY created_at")
        return [self._request(row) for row in rows]

    async def delete_request(self, request_id: RequestId) -> bool:
        """Remove a request (and its offers). True if it was still there: the caller won it.
        The caller folds the WAL once its follow-up writes are done (or the clock tick does)."""
        deleted = await self._exec("DELETE FROM requests WHERE id = ?", (request_id,)) == 1
        self._checkpoint_due = self._checkpoint_due or deleted
        return deleted

    async def mark_request(self, request_id: RequestId, **moments: datetime | bool) -> None:
        """Record clock steps: widened, paged_at, gave_up_at, first_status_at, first_offer_at.
        A moment already recorded is kept (the first one counts)."""
        allowed = {"widened", "paged_at", "gave_up_at", "first_status_at", "first_offer_at"}
        for column, value in moments.items():
            if column not in allowed:
                raise ValueError(f"not a clock column: {column}")
            if isinstance(value, bool):
                await self._exec(
                    f"UPDATE requests SET {column} = ? WHERE id = ?",  # noqa: S608 - allow-listed
                    (int(value), request_id),
                )
            else:
                await self._exec(
                    f"UPDATE requests SET {column} = coalesce({column}, ?) WHERE id = ?",  # noqa: S608
                    (stamp(value), request_id),
                )

    async def clear_transfer(self, request_id: RequestId) -> None:
        """The thread being handed over has ended: the request becomes an ordinary one."""
        await self._exec("UPDATE requests SET transfer_thread = NULL WHERE id = ?", (request_id,))

    async def add_offer(
        self,
        request_id: RequestId,
        helper_id: MemberId,
        now: datetime,
        expires_at: datetime,
        message_id: str | None,
    ) -> None:
        await self._add_ask(
            OFFERS, request_id, helper_id, now=now, expires_at=expires_at, message_id=message_id
        )

    async def offers(self, request_id: RequestId) -> list[OfferRecord]:
        return [
            OfferRecord(
                request_id=request_id,
                helper_id=ask.helper_id,
                state=OfferState(ask.state),
                sent_at=ask.sent_at,
                expires_at=ask.expires_at,
                message_id=ask.message_id,
                involved=bool(ask.row["involved"]),
            )
            for ask in await self._asks(OFFERS, request_id)
        ]

    async def set_offer_state(
        self,
        request_id: RequestId,
        helper_id: MemberId,
        state: OfferState,
        *,
        involved: bool = False,
    ) -> bool:
        """Move a pending offer to `state`. False if it was not pending any more. Declaring
        involvement also counts on an offer that timed out: it must never come back to them."""
        return await self._move_ask(
            OFFERS, request_id, helper_id, state.value, or_expired=involved, involved=involved
        )
