"""The roster as a whole: a checked import applied in one transaction (all rows or none)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.model import Category, MemberId, Role, topic_tokens
from bot.storage.integrity import address_row
from bot.storage.invites import InviteSpec, InviteStore


class RosterIntegrityError(Exception):
    """The import touches a member record that fails its integrity check; nothing applied."""


@dataclass(frozen=True, slots=True)
class MemberChange:
    """What one import row changes on an existing member; None leaves a value as it is."""

    member_id: MemberId
    display_name: str | None = None
    agency: str | None = None
    certified_until: date | None = None
    topics: frozenset[Category] | None = None
    serves: frozenset[Role] | None = None  # with topics: the cell replaces both
    supervisors: frozenset[MemberId] = frozenset()  # added; an import never removes one
    active: bool | None = None


class RosterStore(InviteStore):
    async def apply_roster(
        self,
        changes: list[MemberChange],
        invites: list[tuple[str, InviteSpec]],
        now: datetime,
    ) -> None:
        """Apply checked changes and store new invites (normalized code, spec) atomically."""
        statements: list[tuple[str, tuple[object, ...]]] = []
        for change in changes:
            statements += await self._change_statements(change)
        for code, spec in invites:
            statements += self._invite_insert(code, spec, now)
        # Every member whose guarded columns or links change: intact now, signed again after.
        touched = tuple(
            sorted({c.member_id for c in changes} | {s for c in changes for s in c.supervisors})
        )
        async with self._writing():
            await self._require_intact_locked(touched)
            for sql, params in statements:
                await self._conn.execute(sql, params)
            await self._renew_macs_locked(touched)

    async def _require_intact_locked(self, member_ids: tuple[int, ...]) -> None:
        for member_id in member_ids:
            if not await self._intact_locked((member_id,)):
                raise RosterIntegrityError(
                    f"member record {member_id} fails its integrity check (changed without"
                    " the key); erase it with `roster revoke N --purge` first"
                )

    async def _change_statements(
        self, change: MemberChange
    ) -> list[tuple[str, tuple[object, ...]]]:
        member_id = change.member_id
        out: list[tuple[str, tuple[object, ...]]] = []
        if change.display_name is not None:
            out.append(
                (
                    "UPDATE members SET display_name = ? WHERE id = ?",
                    (change.display_name, member_id),
                )
            )
        if change.agency is not None:
            row = await self._one("SELECT address_hash FROM members WHERE id = ?", (member_id,))
            if row is None:
                raise LookupError(f"no member number {member_id}")
            sealed = self._vault.seal_text(
                change.agency,
                table="members",
                column="agency",
                row=address_row(member_id, row[0]),
            )
            out.append(
                (
                    "UPDATE members SET agency_hash = ?, agency_ct = ? WHERE id = ?",
                    (self.agency_hash(change.agency), sealed, member_id),
                )
            )
        if change.certified_until is not None:
            out.append(
                (
                    "UPDATE members SET certified_until = ? WHERE id = ?",
                    (change.certified_until.isoformat(), member_id),
                )
            )
        if change.topics is not None or change.serves is not None:
            chosen = topic_tokens(change.topics or frozenset(), change.serves or frozenset())
            out.append(
                (
                    "UPDATE members SET topics = ? WHERE id = ?",
                    (chosen, member_id),
                )
            )
        out += [
            (
                "INSERT OR IGNORE INTO supervision (supervisor_id, report_id) VALUES (?, ?)",
                (supervisor, member_id),
            )
            for supervisor in sorted(change.supervisors)
        ]
        if change.active is not None:
            out.append(
                (
                    "UPDATE members SET active = ?, available = 0 WHERE id = ?",
                    (int(change.active), member_id),
                )
            )
        return out
