"""Members: sealed addresses and agencies, availability, hours, and an officer's private list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

import aiosqlite

from bot.events import Address, Platform
from bot.hours import WeeklyHours
from bot.model import (
    Category,
    Member,
    MemberId,
    OfficerPrivate,
    Role,
)
from bot.storage.base import StoreBase, day_or_none, hours_or_none, moment_or_none, stamp

# A helper's routing times, sealed together in members.timing_ct (no clear column dates a
# match or an absence): Member field -> key in the sealed record.
_TIMING_KEYS = {
    "last_assigned_at": "assigned",
    "last_offered_at": "offered",
    "cooldown_until": "cooldown",
    "away_until": "away",
}


def _private(body: dict[str, Any]) -> OfficerPrivate:
    again = body.get("again")
    return OfficerPrivate(
        blocked=frozenset(MemberId(m) for m in body.get("blocked", [])),
        again=MemberId(again) if again is not None else None,
        again_until=day_or_none(body.get("again_until")),
        stable_alias=bool(body.get("stable_alias", False)),
    )


def _private_body(private: OfficerPrivate) -> dict[str, Any]:
    return {
        "blocked": sorted(private.blocked),
        "again": private.again,
        "again_until": private.again_until.isoformat() if private.again_until else None,
        "stable_alias": private.stable_alias,
    }


class MemberStore(StoreBase):
    def _timing(self, row: aiosqlite.Row) -> dict[str, datetime | None]:
        body = self.open_record(
            row["timing_ct"], table="members", column="timing", row=str(row["id"])
        )
        return {field: moment_or_none(body.get(key)) for field, key in _TIMING_KEYS.items()}

    async def _set_timing(self, member_id: MemberId, **moments: datetime | None) -> None:
        """Change some of a member's sealed routing times (read, change, seal, write)."""
        async with self._lock:
            row = await self._fetch_locked(
                "SELECT id, timing_ct FROM members WHERE id = ?", (member_id,)
            )
            if row is None:
                return
            body = self.open_record(
                row["timing_ct"], table="members", column="timing", row=str(member_id)
            )
            for field, value in moments.items():
                body[_TIMING_KEYS[field]] = stamp(value) if value is not None else None
            sealed = self.seal_record(body, table="members", column="timing", row=str(member_id))
            await self._conn.execute(
                "UPDATE members SET timing_ct = ? WHERE id = ?", (sealed, member_id)
            )

    async def seal_missing_records(self) -> None:
        """Every member carries a sealed timing and private record from the start, so their
        presence says nothing (members from before v10 get empty ones)."""
        rows = await self._all(
            "SELECT id FROM members WHERE timing_ct IS NULL OR private_ct IS NULL"
        )
        for row in rows:
            member_id = str(row["id"])
            await self._exec(
                "UPDATE members SET"
                " timing_ct = coalesce(timing_ct, ?), private_ct = coalesce(private_ct, ?)"
                " WHERE id = ?",
                (
                    self.seal_record({}, table="members", column="timing", row=member_id),
                    self.seal_record({}, table="members", column="private", row=member_id),
                    row["id"],
                ),
            )

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
            certified_until=day_or_none(row["certified_until"]),
            active=bool(row["active"]),
            joined_at=datetime.combine(date.fromisoformat(row["joined_at"][:10]), time(), UTC),
            timezone=row["timezone"],
            on_call=hours_or_none(row["on_call"]),
            ignored_offers=row["ignored_offers"],
            topics=frozenset(Category(t) for t in row["topics"].split(",") if t),
            identity_hold=bool(row["identity_hold"]),
            coordinator=bool(row["coordinator"]),
            **self._timing(row),
            language=row["language"],
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
        """Revoke (or restore) a member. Revoked, no sealed record keeps a link to them: their
        own private list goes, and they leave everyone else's."""
        changed = await self._exec(
            "UPDATE members SET active = ?, available = 0 WHERE id = ?", (int(active), member_id)
        )
        if changed == 1 and not active:
            await self.forget_links(today=datetime.now(UTC).date(), gone=member_id)
        return changed == 1

    async def set_coordinator(self, member_id: MemberId, coordinator: bool) -> bool:
        changed = await self._exec(
            "UPDATE members SET coordinator = ? WHERE id = ?", (int(coordinator), member_id)
        )
        return changed == 1

    async def set_certified_until(self, member_id: MemberId, until: date) -> bool:
        changed = await self._exec(
            "UPDATE members SET certified_until = ? WHERE id = ?", (until.isoformat(), member_id)
        )
        return changed == 1

    async def coordinators(self) -> list[Member]:
        """Active members with coordinator rights, by role or by `roster coordinator on`."""
        rows = await self._all(
            "SELECT * FROM members WHERE active = 1 AND (role = 'coordinator' OR coordinator = 1)"
            " ORDER BY id"
        )
        return [self._member(row) for row in rows]

    async def supervision_pairs(self) -> list[tuple[MemberId, MemberId]]:
        """(supervisor, report) for every recorded relation, for the roster export."""
        rows = await self._all(
            "SELECT supervisor_id, report_id FROM supervision ORDER BY report_id, supervisor_id"
        )
        return [(MemberId(row[0]), MemberId(row[1])) for row in rows]

    async def set_available(self, member_id: MemberId, available: bool) -> None:
        await self._exec(
            "UPDATE members SET available = ? WHERE id = ?", (int(available), member_id)
        )

    async def set_display_name(self, member_id: MemberId, name: str) -> None:
        await self._exec("UPDATE members SET display_name = ? WHERE id = ?", (name, member_id))

    async def set_language(self, member_id: MemberId, language: str | None) -> None:
        await self._exec("UPDATE members SET language = ? WHERE id = ?", (language, member_id))

    async def mark_assigned(self, member_id: MemberId, now: datetime) -> None:
        await self._set_timing(member_id, last_assigned_at=now)

    async def mark_offered(self, member_id: MemberId, now: datetime) -> None:
        await self._set_timing(member_id, last_offered_at=now)

    async def set_hours(
        self, member_id: MemberId, hours: WeeklyHours | None, timezone: str | None
    ) -> None:
        await self._exec(
            "UPDATE members SET on_call = ?, timezone = ? WHERE id = ?",
            (str(hours) if hours else None, timezone, member_id),
        )

    async def set_away(self, member_id: MemberId, away_until: datetime | None) -> None:
        """Not available, and (inside on-call hours) away until `away_until`."""
        await self._exec("UPDATE members SET available = 0 WHERE id = ?", (member_id,))
        await self._set_timing(member_id, away_until=away_until)

    async def set_identity_hold(self, member_id: MemberId, hold: bool) -> bool:
        """Hold (no offers, not available) or release a member after a safety-number change."""
        changed = await self._exec(
            "UPDATE members SET identity_hold = ?, available = available * ? WHERE id = ?",
            (int(hold), int(not hold), member_id),
        )
        return changed == 1

    async def set_cooldown(self, member_id: MemberId, until: datetime) -> None:
        await self._set_timing(member_id, cooldown_until=until)

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
        if row is None:
            return OfficerPrivate()
        body = self.open_record(row[0], table="members", column="private", row=str(member_id))
        return _private(body)

    async def save_officer_private(self, member_id: MemberId, private: OfficerPrivate) -> None:
        sealed = self.seal_record(
            _private_body(private), table="members", column="private", row=str(member_id)
        )
        await self._exec("UPDATE members SET private_ct = ? WHERE id = ?", (sealed, member_id))

    async def forget_links(self, *, today: date, gone: MemberId | None = None) -> int:
        """Rewrite every sealed private record that keeps a link it should not: a "same person
        next time" past its date, or (a member revoked) anything naming `gone`; the revoked
        member's own record is emptied. Records from before v10 ("last helper") go too.
        Returns how many were rewritten; the WAL is folded after."""
        rows = await self._all("SELECT id, private_ct FROM members WHERE private_ct IS NOT NULL")
        changed = 0
        for row in rows:
            member_id = MemberId(row["id"])
            body = self.open_record(
                row["private_ct"], table="members", column="private", row=str(member_id)
            )
            private = _private(body)
            kept = private
            if member_id == gone:
                kept = OfficerPrivate()
            elif private.again is not None and (
                private.again == gone or private.wanted_again(today) is None
            ):
                kept = replace(kept, again=None, again_until=None)
            if gone is not None and gone in kept.blocked:
                kept = replace(kept, blocked=kept.blocked - {gone})
            if kept != private or "last_helper" in body:
                await self.save_officer_private(member_id, kept)
                changed += 1
        if changed:
            await self.fold_wal()
        return changed

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
