"""Critical incidents: an agency's incident while it is open, and the pages sent for it.

Everything that names the agency or a helper's part in it (involved, may be named) is sealed in
one record per incident. Pages are like offers. When the incident closes both are deleted and
only a row of numbers stays (the week, pages sent, pages accepted), so a closed incident leaves
no link between an agency and a helper.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, NewType

import aiosqlite

from bot.model import MemberId
from bot.storage.asks import PAGES, AskStore
from bot.storage.base import day_stamp

IncidentId = NewType("IncidentId", str)


class PageState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Incident:
    id: IncidentId
    agency: str  # as the coordinator typed it (sealed)
    agency_hash: bytes  # the same keyed hash as members.agency_hash (sealed here)
    opened_on: date
    wanted: int  # how many helpers the coordinator wants on call
    chaplains: bool  # page chaplains as well as peers
    opened_by: MemberId | None  # the coordinator who opened it in the chat; None: the CLI
    involved: frozenset[MemberId] = field(default_factory=frozenset)
    named: frozenset[MemberId] = field(default_factory=frozenset)  # may be named to coordinators
    closing: bool = False  # closed from the CLI: the running bot tells the helpers, then deletes

    def closes_on(self, days: int) -> date:
        """The day it closes by itself, open `days` ([incidents] auto_close_days) by then."""
        return self.opened_on + timedelta(days=days)


@dataclass(frozen=True, slots=True)
class PageRecord:
    incident_id: IncidentId
    helper_id: MemberId
    state: PageState
    sent_at: datetime
    expires_at: datetime
    message_id: str | None


@dataclass(frozen=True, slots=True)
class IncidentMetrics:
    week: date
    pages_sent: int
    pages_accepted: int


def new_incident_id() -> IncidentId:
    return IncidentId(secrets.token_hex(3))  # short enough to type after `incident close`


def _body(incident: Incident) -> dict[str, Any]:
    return {
        "agency": incident.agency,
        "agency_hash": incident.agency_hash.hex(),
        "opened": incident.opened_on.isoformat(),
        "wanted": incident.wanted,
        "chaplains": incident.chaplains,
        "by": incident.opened_by,
        "involved": sorted(incident.involved),
        "named": sorted(incident.named),
        "closing": incident.closing,
    }


class IncidentStore(AskStore):
    def _seal_incident(self, incident: Incident) -> bytes:
        return self.seal_record(
            _body(incident), table="incidents", column="record", row=incident.id
        )

    def _incident(self, row: aiosqlite.Row) -> Incident:
        body = self.open_record(
            row["record_ct"], table="incidents", column="record", row=row["id"]
        )
        by = body.get("by")
        return Incident(
            id=IncidentId(row["id"]),
            agency=str(body["agency"]),
            agency_hash=bytes.fromhex(body["agency_hash"]),
            opened_on=date.fromisoformat(body["opened"]),
            wanted=int(body["wanted"]),
            chaplains=bool(body["chaplains"]),
            opened_by=MemberId(int(by)) if by is not None else None,
            involved=frozenset(MemberId(m) for m in body.get("involved", [])),
            named=frozenset(MemberId(m) for m in body.get("named", [])),
            closing=bool(body.get("closing", False)),
        )

    async def open_incident(
        self,
        agency: str,
        *,
        wanted: int,
        chaplains: bool,
        opened_by: MemberId | None,
        now: datetime,
    ) -> Incident | None:
        """A new incident, or None if one is already open for this agency."""
        agency_hash = self.agency_hash(agency)
        if await self.incident_for_agency(agency_hash) is not None:
            return None
        incident = Incident(
            id=new_incident_id(),
            agency=" ".join(agency.split()),
            agency_hash=agency_hash,
            opened_on=date.fromisoformat(day_stamp(now)),
            wanted=wanted,
            chaplains=chaplains,
            opened_by=opened_by,
        )
        await self._exec(
            "INSERT INTO incidents (id, record_ct) VALUES (?, ?)",
            (incident.id, self._seal_incident(incident)),
        )
        return incident

    async def incidents(self) -> list[Incident]:
        """Every incident not yet deleted, the oldest first."""
        rows = await self._all("SELECT id, record_ct FROM incidents")
        return sorted((self._incident(row) for row in rows), key=lambda i: (i.opened_on, i.id))

    async def incident(self, incident_id: IncidentId) -> Incident | None:
        row = await self._one("SELECT id, record_ct FROM incidents WHERE id = ?", (incident_id,))
        return self._incident(row) if row else None

    async def incident_for_agency(self, agency_hash: bytes | None) -> Incident | None:
        """The open incident of an agency (there are few: each record is opened to compare)."""
        if agency_hash is None:
            return None
        for incident in await self.incidents():
            if incident.agency_hash == agency_hash and not incident.closing:
                return incident
        return None

    async def _change_incident(
        self,
        incident_id: IncidentId,
        *,
        involved: MemberId | None = None,
        named: MemberId | None = None,
        closing: bool = False,
    ) -> Incident | None:
        """Read, change and seal again in one write transaction: the CLI may write beside the
        bot, and a read outside it could write back a record from before the CLI's change."""
        async with self._writing():
            row = await self._fetch_locked(
                "SELECT id, record_ct FROM incidents WHERE id = ?", (incident_id,)
            )
            if row is None:
                return None
            incident = self._incident(row)
            if involved is not None:
                incident = replace(incident, involved=incident.involved | {involved})
            if named is not None:
                incident = replace(incident, named=incident.named | {named})
            if closing:
                incident = replace(incident, closing=True)
            await self._conn.execute(
                "UPDATE incidents SET record_ct = ? WHERE id = ?",
                (self._seal_incident(incident), incident_id),
            )
        return incident

    async def note_involved(self, incident_id: IncidentId, helper_id: MemberId) -> bool:
        return await self._change_incident(incident_id, involved=helper_id) is not None

    async def note_named(self, incident_id: IncidentId, helper_id: MemberId) -> bool:
        return await self._change_incident(incident_id, named=helper_id) is not None

    async def mark_closing(self, incident_id: IncidentId) -> bool:
        return await self._change_incident(incident_id, closing=True) is not None

    async def add_page(
        self,
        incident_id: IncidentId,
        helper_id: MemberId,
        now: datetime,
        expires_at: datetime,
        message_id: str | None,
    ) -> None:
        await self._add_ask(
            PAGES, incident_id, helper_id, now=now, expires_at=expires_at, message_id=message_id
        )

    async def pages(self, incident_id: IncidentId) -> list[PageRecord]:
        return [
            PageRecord(
                incident_id=incident_id,
                helper_id=ask.helper_id,
                state=PageState(ask.state),
                sent_at=ask.sent_at,
                expires_at=ask.expires_at,
                message_id=ask.message_id,
            )
            for ask in await self._asks(PAGES, incident_id)
        ]

    async def set_page_state(
        self,
        incident_id: IncidentId,
        helper_id: MemberId,
        state: PageState,
        *,
        or_expired: bool = False,
    ) -> bool:
        """Move a pending page (or, with `or_expired`, one that timed out: it can still be
        answered) to `state`; False if it was in neither."""
        return await self._move_ask(
            PAGES, incident_id, helper_id, state.value, or_expired=or_expired
        )

    async def close_incident(self, incident_id: IncidentId) -> IncidentMetrics | None:
        """Fold the incident into a row of numbers and delete it with its pages, in one
        transaction. None if it was already gone. The caller folds the WAL."""
        async with self._writing() as transaction:
            row = await self._fetch_locked(
                "SELECT id, record_ct FROM incidents WHERE id = ?", (incident_id,)
            )
            if row is None:
                transaction.abandon()
                return None
            counts = await self._fetch_locked(
                "SELECT count(*), coalesce(sum(state = 'accepted'), 0) FROM incident_pages"
                " WHERE incident_id = ?",
                (incident_id,),
            )
            sent, accepted = (int(counts[0]), int(counts[1])) if counts else (0, 0)
            opened = self._incident(row).opened_on
            week = opened - timedelta(days=opened.weekday())
            await self._conn.execute(
                "INSERT INTO incident_metrics (week, pages_sent, pages_accepted) VALUES (?, ?, ?)",
                (week.isoformat(), sent, accepted),
            )
            await self._conn.execute("DELETE FROM incidents WHERE id = ?", (incident_id,))
        self._checkpoint_due = True
        return IncidentMetrics(week, sent, accepted)

    async def incident_metrics(self) -> list[IncidentMetrics]:
        rows = await self._all(
            "SELECT week, pages_sent, pages_accepted FROM incident_metrics ORDER BY id"
        )
        return [
            IncidentMetrics(date.fromisoformat(row[0]), int(row[1]), int(row[2])) for row in rows
        ]
