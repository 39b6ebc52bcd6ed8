"""Follow-ups: the schedule of check-in nudges, sealed but for the due time; quiet hours; counts.

A row is claimed (one UPDATE, atomic across connections) before anything is sent, so two
dispatchers, or a restart during a dispatch, never both send it. Deleting a row ends the
link it held; the WAL is folded after each delete (or, while a reader holds it, on the
next clock tick) so the link leaves the files too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import aiosqlite

from bot.followups import Answer, FollowUp, Kind
from bot.model import Category, MemberId
from bot.storage.base import StoreBase, stamp


def new_followup_id() -> str:
    return "f" + secrets.token_hex(8)


class FollowupStore(StoreBase):
    def _member_key(self, member_id: MemberId) -> bytes:
        return self._vault.lookup_hash(str(member_id).encode(), purpose="followup")

    def _seal_followup(self, followup: FollowUp) -> bytes:
        body = json.dumps(
            {
                "member": followup.member_id,
                "kind": followup.kind.value,
                "plan": followup.plan,
                "anchor": followup.anchor.isoformat(),
                "offsets": list(followup.offsets),
                "step": followup.step,
                "asked": followup.asked,
                "helper": followup.helper_id,
                "alias": followup.alias,
                "category": followup.category.value if followup.category else None,
                "outside": followup.outside_agency,
            }
        ).encode()
        return self._vault.seal(body, table="followups", column="sealed", row=followup.id)

    def _open_followup(self, row: aiosqlite.Row) -> FollowUp:
        body = json.loads(
            self._vault.open(row["sealed"], table="followups", column="sealed", row=row["id"])
        )
        helper = body["helper"]
        category = body["category"]
        return FollowUp(
            id=row["id"],
            member_id=MemberId(body["member"]),
            kind=Kind(body["kind"]),
            plan=body["plan"],
            anchor=date.fromisoformat(body["anchor"]),
            offsets=tuple(int(o) for o in body["offsets"]),
            step=int(body["step"]),
            due_at=datetime.fromisoformat(row["due_at"]),
            asked=body["asked"],
            helper_id=MemberId(helper) if helper is not None else None,
            alias=body.get("alias"),
            category=Category(category) if category else None,
            outside_agency=bool(body["outside"]),
        )

    def _row(self, followup: FollowUp) -> tuple[str, bytes, bytes, str]:
        return (
            followup.id,
            self._member_key(followup.member_id),
            self._seal_followup(followup),
            stamp(followup.due_at),
        )

    async def add_followup(self, followup: FollowUp, *, replacing: Kind | None = None) -> None:
        """Store a follow-up; with `replacing`, the member's follow-ups of that kind go (one
        plan, one wellness check-in per member), in the same transaction."""
        async with self._writing():
            removed = 0
            if replacing is not None:
                removed = await self._delete_kind(followup.member_id, replacing)
            await self._conn.execute(
                "INSERT INTO followups (id, member_hash, sealed, due_at) VALUES (?, ?, ?, ?)",
                self._row(followup),
            )
        if removed:
            await self.fold_wal()

    async def _delete_kind(self, member_id: MemberId, kind: Kind) -> int:
        removed = 0
        for followup in await self._of_member_locked(member_id):
            if followup.kind is kind:
                await self._conn.execute("DELETE FROM followups WHERE id = ?", (followup.id,))
                removed += 1
        return removed

    async def _of_member_locked(self, member_id: MemberId) -> list[FollowUp]:
        async with self._conn.execute(
            "SELECT * FROM followups WHERE member_hash = ? ORDER BY due_at",
            (self._member_key(member_id),),
        ) as cursor:
            return [self._open_followup(row) for row in await cursor.fetchall()]

    async def followups_of(self, member_id: MemberId) -> list[FollowUp]:
        async with self._lock:
            return await self._of_member_locked(member_id)

    async def followup(self, followup_id: str) -> FollowUp | None:
        row = await self._one("SELECT * FROM followups WHERE id = ?", (followup_id,))
        return self._open_followup(row) if row else None

    async def save_followup(self, followup: FollowUp) -> bool:
        """Write a follow-up's new state (and release any claim on it); False if it is gone."""
        changed = await self._exec(
            "UPDATE followups SET sealed = ?, due_at = ?, claim = NULL, lease_until = NULL"
            " WHERE id = ?",
            (self._seal_followup(followup), stamp(followup.due_at), followup.id),
        )
        return changed == 1

    async def delete_followups(self, followup_ids: Iterable[str]) -> int:
        """Delete follow-ups (and the links they hold), then push the deletion out of the WAL."""
        ids = [(followup_id,) for followup_id in followup_ids]
        if not ids:
            return 0
        async with self._lock:
            before = self._conn.total_changes
            await self._conn.executemany("DELETE FROM followups WHERE id = ?", ids)
            removed = self._conn.total_changes - before
        await self.fold_wal()
        return removed

    async def forget_member_followups(self, member_id: MemberId) -> int:
        """Every follow-up of a member, and every helper follow-up naming them as the helper
        (revoked members keep no links). Scans sealed rows: rare, and only at revoke."""
        doomed = []
        for row in await self._all("SELECT * FROM followups"):
            followup = self._open_followup(row)
            if member_id in (followup.member_id, followup.helper_id):
                doomed.append(followup.id)
        return await self.delete_followups(doomed)

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int = 500
    ) -> tuple[str, list[FollowUp]]:
        """Claim up to `limit` due follow-ups for this dispatcher, in one statement: a row is
        claimed by exactly one dispatcher until its lease runs out. Returns the claim token
        and the claimed rows."""
        token = secrets.token_hex(8)
        async with (
            self._lock,
            self._conn.execute(
                "UPDATE followups SET claim = ?, lease_until = ? WHERE id IN ("
                " SELECT id FROM followups WHERE due_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?)"
                " RETURNING *",
                (token, stamp(now + lease), stamp(now), stamp(now), limit),
            ) as cursor,
        ):
            rows = list(await cursor.fetchall())
        return token, [self._open_followup(row) for row in rows]

    async def settle_claimed(self, token: str, keep: list[FollowUp], done: list[str]) -> set[str]:
        """The mark, before any send: each claimed follow-up's next state (claim released),
        the finished ones deleted; one transaction. Rows no longer held by `token` (answered
        meanwhile, or re-claimed after the lease ran out) are left alone. Returns the ids
        settled: only those may be acted on."""
        settled: set[str] = set()
        async with self._writing():
            for followup in keep:
                cursor = await self._conn.execute(
                    "UPDATE followups SET sealed = ?, due_at = ?, claim = NULL,"
                    " lease_until = NULL WHERE id = ? AND claim = ?",
                    (
                        self._seal_followup(followup),
                        stamp(followup.due_at),
                        followup.id,
                        token,
                    ),
                )
                if cursor.rowcount == 1:
                    settled.add(followup.id)
            for followup_id in done:
                cursor = await self._conn.execute(
                    "DELETE FROM followups WHERE id = ? AND claim = ?", (followup_id, token)
                )
                if cursor.rowcount == 1:
                    settled.add(followup_id)
        if done:
            await self.fold_wal()
        return settled

    async def next_due(self) -> datetime | None:
        row = await self._one("SELECT min(due_at) FROM followups")
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    async def pending_followups(self) -> int:
        row = await self._one("SELECT count(*) FROM followups")
        return int(row[0]) if row else 0

    async def count_followup(self, plan: str, step: int, answer: Answer, n: int = 1) -> None:
        await self._exec(
            "INSERT INTO followup_counts (plan, step, answer, count) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (plan, step, answer) DO UPDATE SET count = count + excluded.count",
            (plan, step, answer.value, n),
        )

    async def followup_counts(self) -> dict[tuple[str, int, str], int]:
        rows = await self._all("SELECT plan, step, answer, count FROM followup_counts")
        return {(row[0], int(row[1]), row[2]): int(row[3]) for row in rows}

    async def quiet_hours(self, member_id: MemberId) -> str | None:
        """The member's quiet hours ("" for none), or None for the configured default."""
        row = await self._one("SELECT quiet FROM followup_prefs WHERE member_id = ?", (member_id,))
        return str(row[0]) if row else None

    async def set_quiet_hours(self, member_id: MemberId, quiet: str | None) -> None:
        if quiet is None:
            await self._exec("DELETE FROM followup_prefs WHERE member_id = ?", (member_id,))
            return
        await self._exec(
            "INSERT INTO followup_prefs (member_id, quiet) VALUES (?, ?)"
            " ON CONFLICT (member_id) DO UPDATE SET quiet = excluded.quiet",
            (member_id, quiet),
        )
