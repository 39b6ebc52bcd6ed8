"""The repository: every read and write of the database goes through here.

Only this module calls crypto/ for data at rest. Platform ids are sealed (AEAD bound to table,
column and row) with a keyed hash beside them for lookup; nothing here can hold message content.
"""

from __future__ import annotations

import asyncio
import enum
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.events import Address, Platform
from bot.hours import WeeklyHours, parse_hours
from bot.model import (
    Category,
    Member,
    MemberId,
    OfficerPrivate,
    RequestId,
    Role,
    Thread,
    ThreadId,
    Wanted,
)
from bot.storage import db
from crypto import Vault


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _hours(text: str | None) -> WeeklyHours | None:
    return parse_hours(text) if text else None


class InviteProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    ALREADY_MEMBER = "already_member"


@dataclass(frozen=True, slots=True)
class InviteSpec:
    role: Role
    agency: str | None
    expires_at: datetime
    certified_until: date | None = None


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


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    """The contact clock of one request, as numbers only."""

    day: date
    category: Category
    urgent: bool
    outcome: str  # "matched" or "cancelled"
    secs_to_status: float | None
    secs_to_first_offer: float | None
    secs_to_accept: float | None
    met_goal: bool


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


def new_thread_id() -> ThreadId:
    return ThreadId("t" + secrets.token_hex(8))


class Repository:
    def __init__(self, conn: aiosqlite.Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault
        # One connection is shared by every coroutine: statements are serialized so that none
        # lands inside another's transaction.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, vault: Vault) -> Repository:
        return cls(await db.connect(path), vault)

    async def close(self) -> None:
        async with self._lock:
            await db.checkpoint(self._conn)
            await self._conn.close()

    @property
    def total_changes(self) -> int:
        """Rows changed since the connection opened (to prove a path writes nothing)."""
        return int(self._conn.total_changes)

    # -- helpers ---------------------------------------------------------------------------

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

    # -- invites ---------------------------------------------------------------------------

    async def create_invite(self, normalized_code: str, spec: InviteSpec, now: datetime) -> None:
        code_hash = self._vault.invite_hash(normalized_code)
        agency_hash = agency_ct = None
        if spec.agency:
            agency_hash = self.agency_hash(spec.agency)
            agency_ct = self._vault.seal_text(
                spec.agency, table="invites", column="agency", row=code_hash.hex()
            )
        await self._exec(
            "INSERT INTO invites (code_hash, role, agency_hash, agency_ct, certified_until,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                code_hash,
                spec.role.value,
                agency_hash,
                agency_ct,
                spec.certified_until.isoformat() if spec.certified_until else None,
                _ts(now),
                _ts(spec.expires_at),
            ),
        )

    async def redeem_invite(
        self, normalized_code: str, address: Address, now: datetime
    ) -> Member | InviteProblem:
        """Use an invite once, making `address` a member. All or nothing."""
        code_hash = self._vault.invite_hash(normalized_code)
        address_hash = self.address_hash(address)
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                invite = await self._fetch_locked(
                    "SELECT * FROM invites WHERE code_hash = ?", (code_hash,)
                )
                problem: InviteProblem | None = None
                if invite is None:
                    problem = InviteProblem.UNKNOWN
                elif invite["redeemed_at"] is not None:
                    problem = InviteProblem.USED
                elif datetime.fromisoformat(invite["expires_at"]) <= now:
                    problem = InviteProblem.EXPIRED
                elif await self._fetch_locked(
                    "SELECT 1 FROM members WHERE address_hash = ?", (address_hash,)
                ):
                    problem = InviteProblem.ALREADY_MEMBER
                if problem is not None or invite is None:
                    await self._conn.execute("ROLLBACK")
                    return problem or InviteProblem.UNKNOWN
                agency_ct = None
                if invite["agency_ct"] is not None:
                    agency = self._vault.open_text(
                        invite["agency_ct"], table="invites", column="agency", row=code_hash.hex()
                    )
                    agency_ct = self._vault.seal_text(
                        agency, table="members", column="agency", row=address_hash.hex()
                    )
                address_ct = self._vault.seal_text(
                    address.chat_id, table="members", column="address", row=address_hash.hex()
                )
                cursor = await self._conn.execute(
                    "INSERT INTO members (platform, address_hash, address_ct, role, agency_hash,"
                    " agency_ct, certified_until, joined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        address.platform.value,
                        address_hash,
                        address_ct,
                        invite["role"],
                        invite["agency_hash"],
                        agency_ct,
                        invite["certified_until"],
                        _ts(now),
                    ),
                )
                member_id = cursor.lastrowid
                # Single use: the row stays only to say "already used"; the agency name goes.
                await self._conn.execute(
                    "UPDATE invites SET redeemed_at = ?, agency_ct = NULL WHERE code_hash = ?",
                    (_ts(now), code_hash),
                )
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
        member = await self.member(MemberId(int(member_id or 0)))
        assert member is not None  # noqa: S101 - inserted just above
        return member

    # -- members ---------------------------------------------------------------------------

    def _member(self, row: aiosqlite.Row) -> Member:
        row_key = bytes(row["address_hash"]).hex()
        chat_id = self._vault.open_text(
            row["address_ct"], table="members", column="address", row=row_key
        )
        return Member(
            id=MemberId(row["id"]),
            role=Role(row["role"]),
            address=Address(Platform(row["platform"]), chat_id),
            agency_hash=row["agency_hash"],
            display_name=row["display_name"],
            available=bool(row["available"]),
            certified_until=_day(row["certified_until"]),
            active=bool(row["active"]),
            joined_at=datetime.fromisoformat(row["joined_at"]),
            last_assigned_at=_dt(row["last_assigned_at"]),
            timezone=row["timezone"],
            on_call=_hours(row["on_call"]),
            away_until=_dt(row["away_until"]),
            cooldown_until=_dt(row["cooldown_until"]),
            ignored_offers=row["ignored_offers"],
            topics=frozenset(Category(t) for t in row["topics"].split(",") if t),
            last_offered_at=_dt(row["last_offered_at"]),
        )

    async def member(self, member_id: MemberId) -> Member | None:
        row = await self._one("SELECT * FROM members WHERE id = ?", (member_id,))
        return self._member(row) if row else None

    async def member_by_address(self, address: Address) -> Member | None:
        row = await self._one(
            "SELECT * FROM members WHERE address_hash = ?", (self.address_hash(address),)
        )
        return self._member(row) if row else None

    async def members(self, *, roles: frozenset[Role] | None = None) -> list[Member]:
        rows = await self._all("SELECT * FROM members WHERE active = 1 ORDER BY id")
        found = [self._member(row) for row in rows]
        return [m for m in found if roles is None or m.role in roles]

    async def member_agency(self, member_id: MemberId) -> str | None:
        """The agency's name, for the coordinator's roster only."""
        row = await self._one(
            "SELECT address_hash, agency_ct FROM members WHERE id = ?", (member_id,)
        )
        if row is None or row["agency_ct"] is None:
            return None
        return self._vault.open_text(
            row["agency_ct"], table="members", column="agency", row=bytes(row[0]).hex()
        )

    async def all_members(self) -> list[Member]:
        """Everyone, revoked included (for the roster)."""
        return [self._member(row) for row in await self._all("SELECT * FROM members ORDER BY id")]

    async def set_active(self, member_id: MemberId, active: bool) -> bool:
        changed = await self._exec(
            "UPDATE members SET active = ?, available = 0 WHERE id = ?", (int(active), member_id)
        )
        return changed == 1

    async def set_available(self, member_id: MemberId, available: bool) -> None:
        await self._exec(
            "UPDATE members SET available = ? WHERE id = ?", (int(available), member_id)
        )

    async def set_display_name(self, member_id: MemberId, name: str) -> None:
        await self._exec("UPDATE members SET display_name = ? WHERE id = ?", (name, member_id))

    async def mark_assigned(self, member_id: MemberId, now: datetime) -> None:
        await self._exec(
            "UPDATE members SET last_assigned_at = ? WHERE id = ?", (_ts(now), member_id)
        )

    async def set_hours(
        self, member_id: MemberId, hours: WeeklyHours | None, timezone: str | None
    ) -> None:
        await self._exec(
            "UPDATE members SET on_call = ?, timezone = ? WHERE id = ?",
            (str(hours) if hours else None, timezone, member_id),
        )

    async def set_away(self, member_id: MemberId, away_until: datetime | None) -> None:
        """Not available, and (inside on-call hours) away until `away_until`."""
        await self._exec(
            "UPDATE members SET available = 0, away_until = ? WHERE id = ?",
            (_ts(away_until) if away_until else None, member_id),
        )

    async def set_cooldown(self, member_id: MemberId, until: datetime) -> None:
        await self._exec(
            "UPDATE members SET cooldown_until = ? WHERE id = ?", (_ts(until), member_id)
        )

    async def count_ignored_offer(self, member_id: MemberId) -> int:
        """One more offer left to time out; returns how many in a row."""
        await self._exec(
            "UPDATE members SET ignored_offers = ignored_offers + 1 WHERE id = ?", (member_id,)
        )
        row = await self._one("SELECT ignored_offers FROM members WHERE id = ?", (member_id,))
        return int(row[0]) if row else 0

    async def reset_ignored_offers(self, member_id: MemberId) -> None:
        await self._exec("UPDATE members SET ignored_offers = 0 WHERE id = ?", (member_id,))

    async def set_topics(self, member_id: MemberId, topics: frozenset[Category]) -> None:
        value = ",".join(sorted(t.value for t in topics))
        await self._exec("UPDATE members SET topics = ? WHERE id = ?", (value, member_id))

    async def officer_private(self, member_id: MemberId) -> OfficerPrivate:
        row = await self._one("SELECT private_ct FROM members WHERE id = ?", (member_id,))
        if row is None or row[0] is None:
            return OfficerPrivate()
        body = json.loads(
            self._vault.open(row[0], table="members", column="private", row=str(member_id))
        )
        last = body.get("last_helper")
        return OfficerPrivate(
            blocked=frozenset(MemberId(m) for m in body.get("blocked", [])),
            last_helper=MemberId(last) if last is not None else None,
            stable_alias=bool(body.get("stable_alias", False)),
        )

    async def save_officer_private(self, member_id: MemberId, private: OfficerPrivate) -> None:
        body = json.dumps(
            {
                "blocked": sorted(private.blocked),
                "last_helper": private.last_helper,
                "stable_alias": private.stable_alias,
            }
        ).encode()
        sealed = self._vault.seal(body, table="members", column="private", row=str(member_id))
        await self._exec("UPDATE members SET private_ct = ? WHERE id = ?", (sealed, member_id))

    async def add_supervision(self, supervisor: MemberId, report: MemberId) -> None:
        await self._exec(
            "INSERT OR IGNORE INTO supervision (supervisor_id, report_id) VALUES (?, ?)",
            (supervisor, report),
        )

    async def chain_of_command(self, member_id: MemberId) -> frozenset[MemberId]:
        """Everyone the member supervises or reports to, as the roster records it."""
        rows = await self._all(
            "SELECT report_id FROM supervision WHERE supervisor_id = ?"
            " UNION SELECT supervisor_id FROM supervision WHERE report_id = ?",
            (member_id, member_id),
        )
        return frozenset(MemberId(row[0]) for row in rows)

    # -- requests and offers ---------------------------------------------------------------

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
                _ts(record.created_at),
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
            paged_at=_dt(row["paged_at"]),
            gave_up_at=_dt(row["gave_up_at"]),
            first_status_at=_dt(row["first_status_at"]),
            first_offer_at=_dt(row["first_offer_at"]),
            transfer_thread=row["transfer_thread"],
        )

    async def request(self, request_id: RequestId) -> RequestRecord | None:
        row = await self._one("SELECT * FROM requests WHERE id = ?", (request_id,))
        return self._request(row) if row else None

    async def open_requests(self) -> list[RequestRecord]:
        rows = await self._all("SELECT * FROM requests ORDER BY created_at")
        return [self._request(row) for row in rows]

    async def delete_request(self, request_id: RequestId) -> bool:
        """Remove a request (and its offers). True if it was still there: the caller won it."""
        return await self._exec("DELETE FROM requests WHERE id = ?", (request_id,)) == 1

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
                    (_ts(value), request_id),
                )

    async def clear_transfer(self, request_id: RequestId) -> None:
        """The thread being handed over has ended: the request becomes an ordinary one."""
        await self._exec("UPDATE requests SET transfer_thread = NULL WHERE id = ?", (request_id,))

    async def record_metrics(self, metrics: RequestMetrics) -> None:
        await self._exec(
            "INSERT INTO request_metrics (day, category, urgent, outcome, secs_to_status,"
            " secs_to_first_offer, secs_to_accept, met_goal) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                metrics.day.isoformat(),
                metrics.category.value,
                int(metrics.urgent),
                metrics.outcome,
                metrics.secs_to_status,
                metrics.secs_to_first_offer,
                metrics.secs_to_accept,
                int(metrics.met_goal),
            ),
        )

    async def add_rating(self, score: int | None, helped: str | None) -> int:
        """A new anonymous rating row; returns its number so 'helped' can be added to it."""
        async with self._lock:
            cursor = await self._conn.execute(
                "INSERT INTO ratings (score, helped) VALUES (?, ?)", (score, helped)
            )
            return int(cursor.lastrowid or 0)

    async def set_rating_helped(self, rating_id: int, helped: str) -> None:
        await self._exec(
            "UPDATE ratings SET helped = ? WHERE id = ? AND helped IS NULL", (helped, rating_id)
        )

    async def ratings(self) -> list[tuple[int | None, str | None]]:
        rows = await self._all("SELECT score, helped FROM ratings ORDER BY id")
        return [(row[0], row[1]) for row in rows]

    async def metrics(self) -> list[RequestMetrics]:
        rows = await self._all("SELECT * FROM request_metrics ORDER BY id")
        return [
            RequestMetrics(
                day=date.fromisoformat(row["day"]),
                category=Category(row["category"]),
                urgent=bool(row["urgent"]),
                outcome=row["outcome"],
                secs_to_status=row["secs_to_status"],
                secs_to_first_offer=row["secs_to_first_offer"],
                secs_to_accept=row["secs_to_accept"],
                met_goal=bool(row["met_goal"]),
            )
            for row in rows
        ]

    async def add_offer(
        self,
        request_id: RequestId,
        helper_id: MemberId,
        now: datetime,
        expires_at: datetime,
        message_id: str | None,
    ) -> None:
        message_ct = None
        await self._exec(
            "UPDATE members SET last_offered_at = ? WHERE id = ?", (_ts(now), helper_id)
        )
        if message_id is not None:
            message_ct = self._vault.seal_text(
                message_id, table="offers", column="message", row=f"{request_id}/{helper_id}"
            )
        await self._exec(
            "INSERT OR REPLACE INTO offers (request_id, helper_id, state, sent_at, expires_at,"
            " message_ct) VALUES (?, ?, 'pending', ?, ?, ?)",
            (request_id, helper_id, _ts(now), _ts(expires_at), message_ct),
        )

    async def offers(self, request_id: RequestId) -> list[OfferRecord]:
        rows = await self._all(
            "SELECT * FROM offers WHERE request_id = ? ORDER BY sent_at, helper_id", (request_id,)
        )
        found = []
        for row in rows:
            message_id = None
            if row["message_ct"] is not None:
                message_id = self._vault.open_text(
                    row["message_ct"],
                    table="offers",
                    column="message",
                    row=f"{row['request_id']}/{row['helper_id']}",
                )
            found.append(
                OfferRecord(
                    request_id=RequestId(row["request_id"]),
                    helper_id=MemberId(row["helper_id"]),
                    state=OfferState(row["state"]),
                    sent_at=datetime.fromisoformat(row["sent_at"]),
                    expires_at=datetime.fromisoformat(row["expires_at"]),
                    message_id=message_id,
                    involved=bool(row["involved"]),
                )
            )
        return found

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
        changed = await self._exec(
            "UPDATE offers SET state = ?, involved = ? WHERE request_id = ? AND helper_id = ?"
            " AND (state = 'pending' OR (? AND state = 'expired'))",
            (state.value, int(involved), request_id, helper_id, int(involved)),
        )
        return changed == 1

    # -- threads ---------------------------------------------------------------------------

    def _thread_row(self, record: Thread) -> tuple[str, bytes, bytes, str]:
        """A thread as stored: everything but its id sealed under its own fresh key."""
        key = self._vault.new_thread_key()
        body = json.dumps(
            {
                "tag": record.tag,
                "officer": record.officer_id,
                "helper": record.helper_id,
                "alias": record.officer_alias,
                "category": record.category.value,
                "urgent": record.urgent,
                "outside": record.outside_agency,
            }
        ).encode()
        return (
            record.id,
            self._vault.wrap_thread_key(key, record.id),
            key.seal(body, record.id.encode()),
            _ts(record.opened_at),
        )

    async def save_thread(self, record: Thread) -> None:
        await self._exec(
            "INSERT INTO threads (id, wrapped_key, sealed, opened_at) VALUES (?, ?, ?, ?)",
            self._thread_row(record),
        )

    async def claim_request(
        self, request_id: RequestId, thread: Thread, replaces: ThreadId | None = None
    ) -> bool:
        """The accept, all or nothing: the request (and its offers) go, the new thread is
        stored, and a thread being handed over is shredded. False when someone else claimed
        the request first (nothing changes)."""
        row = self._thread_row(thread)
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = await self._conn.execute(
                    "DELETE FROM requests WHERE id = ?", (request_id,)
                )
                if cursor.rowcount != 1:
                    await self._conn.execute("ROLLBACK")
                    return False
                await self._conn.execute(
                    "INSERT INTO threads (id, wrapped_key, sealed, opened_at) VALUES (?, ?, ?, ?)",
                    row,
                )
                if replaces is not None:
                    await self._conn.execute("DELETE FROM threads WHERE id = ?", (replaces,))
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
            if replaces is not None:
                await db.checkpoint(self._conn)
        return True

    async def live_threads(self) -> list[Thread]:
        found = []
        for row in await self._all("SELECT * FROM threads ORDER BY opened_at"):
            thread_id = ThreadId(row["id"])
            key = self._vault.unwrap_thread_key(row["wrapped_key"], thread_id)
            body = json.loads(key.open(row["sealed"], thread_id.encode()))
            found.append(
                Thread(
                    id=thread_id,
                    tag=body["tag"],
                    officer_id=MemberId(body["officer"]),
                    helper_id=MemberId(body["helper"]),
                    officer_alias=body["alias"],
                    category=Category(body["category"]),
                    urgent=bool(body["urgent"]),
                    opened_at=datetime.fromisoformat(row["opened_at"]),
                    outside_agency=bool(body.get("outside", False)),
                )
            )
        return found

    async def shred_thread(self, thread_id: ThreadId) -> None:
        """Destroy a thread's key and sealed record, then push the deletion out of the WAL."""
        await self._exec("DELETE FROM threads WHERE id = ?", (thread_id,))
        async with self._lock:
            await db.checkpoint(self._conn)
