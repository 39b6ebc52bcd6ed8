"""Members: sealed addresses and agencies, availability, hours, and an officer's private list.

Every read checks the member's MAC (bot/storage/integrity.py); a record changed without the key
is refused: the member is treated as unknown and never offered a request.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
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
    parse_topic_tokens,
    topic_tokens,
)
from bot.storage.base import StoreBase, day_or_none, hours_or_none, moment_or_none, stamp
from bot.storage.integrity import (
    Links,
    RowLike,
    address_row,
    is_purged,
    links_by_member,
    member_mac_fields,
)
from bot.storage.membercache import BUCKET_SHIFT, ActiveSnapshot, by_bucket
from crypto import DecryptionError

log = logging.getLogger(__name__)

# The triggers of migration 0017 that keep `member_tags` (see membercache.py).
TAG_TRIGGERS = (
    "member_tag_bucket_insert",
    "member_tag_bucket_update",
    "member_tag_bucket_delete",
    "member_tag_insert",
    "member_tag_update",
    "member_tag_delete",
    "member_tag_link_insert",
    "member_tag_link_update",
    "member_tag_link_delete",
)

_ALL_LINKS = "SELECT supervisor_id, report_id FROM supervision"
_BUCKETS = "SELECT bucket, digest FROM member_tag_buckets ORDER BY bucket"
_TAGS = "SELECT id, tag FROM member_tags ORDER BY id"
_TAGS_BETWEEN = "SELECT id, tag FROM member_tags WHERE id BETWEEN ? AND ?"
# Past this many buckets changed (or this share of all), every tag is read in one statement.
_MOST_BUCKETS = 8
_LINKS_OF = (
    "SELECT supervisor_id, report_id FROM supervision WHERE supervisor_id = ? OR report_id = ?"
)

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
        returns=tuple(sorted((str(k), int(v)) for k, v in body.get("returns", {}).items())),
    )


def _private_body(private: OfficerPrivate) -> dict[str, Any]:
    return {
        "blocked": sorted(private.blocked),
        "again": private.again,
        "again_until": private.again_until.isoformat() if private.again_until else None,
        "stable_alias": private.stable_alias,
        "returns": dict(private.returns),
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

    def _intact(self, row: RowLike, links: Links) -> bool:
        return self._vault.mac_matches("members", member_mac_fields(row, links), row["mac"])

    def _note_refused(self, member_id: int) -> None:
        if member_id not in self._refused:
            self._refused.add(member_id)
            # No member number: the log only says that it happened, and how often.
            log.warning(
                "a member record failed its integrity check and is refused (%d so far)",
                len(self._refused),
            )

    def _member(self, row: aiosqlite.Row, links: Links) -> Member | None:
        """The member in `row`, or None if purged or if the record fails its integrity check."""
        if is_purged(row):
            return None
        if not self._intact(row, links):
            self._note_refused(row["id"])
            return None
        try:
            chat_id = self._vault.open_text(
                row["address_ct"],
                table="members",
                column="address",
                row=address_row(row["id"], row["address_hash"]),
            )
        except DecryptionError:
            self._note_refused(row["id"])
            return None
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
            topics=parse_topic_tokens(row["topics"])[0],
            serves=parse_topic_tokens(row["topics"])[1],
            identity_hold=bool(row["identity_hold"]),
            coordinator=bool(row["coordinator"]),
            max_threads=row["max_threads"],
            **self._timing(row),
            language=row["language"],
        )

    async def _links_of(self, member_id: int) -> Links:
        rows = await self._all(_LINKS_OF, (member_id, member_id))
        return links_by_member(rows).get(member_id, Links())

    async def _one_member(self, column: str, key: int | bytes) -> Member | None:
        """The member whose `column` ("id" or "address_hash") is `key`: from memory while the
        database is unchanged (membercache.py), else read, verified and remembered."""
        generation = None
        if self._members is not None:
            if isinstance(key, bytes):
                cached, generation = self._members.by_address(key)
            else:
                cached, generation = self._members.get(MemberId(key))
            if cached is not None:
                return cached
        sql = f"SELECT * FROM members WHERE {column} = ?"  # noqa: S608 - one of two constants
        row = await self._one(sql, (key,))
        if row is None:
            return None
        member = self._member(row, await self._links_of(row["id"]))
        if member is not None and generation is not None and self._members is not None:
            self._members.keep(member, row["address_hash"], generation)
        return member

    async def member(self, member_id: MemberId) -> Member | None:
        return await self._one_member("id", member_id)

    async def member_by_address(self, address: Address) -> Member | None:
        return await self._one_member("address_hash", self.address_hash(address))

    async def _members_where(self, condition: str) -> list[Member]:
        rows = await self._all(f"SELECT * FROM members WHERE {condition} ORDER BY id")  # noqa: S608 - condition is a constant
        links = links_by_member(
            await self._all("SELECT supervisor_id, report_id FROM supervision")
        )
        return self._verified(rows, links)

    async def members(self, *, roles: frozenset[Role] | None = None) -> list[Member]:
        return list(await self.active_members(roles))

    async def active_members(self, roles: frozenset[Role] | None = None) -> tuple[Member, ...]:
        """The active members (of `roles`), verified. While none of them changed this is the
        very same tuple as last time (membercache.py), so whatever is built from it may be
        kept while `is` holds; after a commit only the member rows whose change tag moved are
        read again."""
        if self._members is None:
            everyone = await self._members_where("active = 1")
            return tuple(m for m in everyone if roles is None or m.role in roles)
        cached, generation = self._members.active(roles)
        if cached is not None:
            return cached
        snapshot = self._members.snapshot
        async with self._lock:
            # One read transaction: the tags and the rows read after them agree.
            await self._conn.execute("BEGIN")
            try:
                await self._refresh_locked(snapshot)
            finally:
                if self._conn.in_transaction:
                    await self._conn.execute("COMMIT")
        found = snapshot.active(roles)
        self._members.keep_active(roles, found, generation)
        return found

    async def active_among(self, member_ids: Collection[MemberId]) -> set[MemberId]:
        """Which of these are still members (not revoked, not erased): the clear flag only, one
        statement per 500, for the contact clock's look at every live conversation."""
        ids = sorted(member_ids)
        active: set[MemberId] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = await self._all(
                f"SELECT id FROM members WHERE active = 1 AND id IN ({marks})",  # noqa: S608 - only placeholders
                tuple(chunk),
            )
            active.update(MemberId(row[0]) for row in rows)
        return active

    async def _refresh_locked(self, snapshot: ActiveSnapshot) -> None:
        """Bring `snapshot` up to the database: the rows whose change tag moved, or all."""
        version = await self._fetch_locked("PRAGMA schema_version", ())
        schema = int(version[0]) if version is not None else 0
        buckets = await self._pairs_locked(_BUCKETS, ())
        moved = snapshot.buckets_changed(buckets, schema)
        if moved is None:
            await self._read_all_locked(snapshot, buckets, schema)
            return
        if not moved:
            return
        tags: dict[int, dict[int, int]] = {bucket: {} for bucket in moved}
        if len(moved) > max(_MOST_BUCKETS, len(buckets) // _MOST_BUCKETS):
            found = by_bucket(await self._pairs_locked(_TAGS, ()))
            tags = {bucket: found.get(bucket, {}) for bucket in found.keys() | tags.keys()}
        else:
            for bucket in moved:
                first = bucket << BUCKET_SHIFT
                span = (first, first + (1 << BUCKET_SHIFT) - 1)
                tags[bucket] = dict(await self._pairs_locked(_TAGS_BETWEEN, span))
        changed = snapshot.rows_changed(tags)
        if changed is None:
            await self._read_all_locked(snapshot, buckets, schema)
            return
        if changed:
            marks = ", ".join("?" * len(changed))
            of_rows = f"SELECT * FROM members WHERE id IN ({marks})"  # noqa: S608 - only marks
            rows = await self._fetch_all_locked(of_rows, tuple(changed))
            of_links = f"{_ALL_LINKS} WHERE supervisor_id IN ({marks}) OR report_id IN ({marks})"
            links = links_by_member(await self._fetch_all_locked(of_links, (*changed, *changed)))
            active = [row for row in rows if row["active"]]
            snapshot.rows_read += len(rows)
            snapshot.update(buckets, tags, changed, self._verified(active, links))
        else:
            snapshot.update(buckets, tags, [], [])

    async def _read_all_locked(
        self, snapshot: ActiveSnapshot, buckets: list[tuple[int, int]], schema: int
    ) -> None:
        tags = await self._pairs_locked(_TAGS, ())
        rows = await self._fetch_all_locked("SELECT * FROM members WHERE active = 1")
        links = links_by_member(await self._fetch_all_locked(_ALL_LINKS))
        followed = await self._tags_kept_locked()
        active = self._verified(rows, links)
        snapshot.replace(buckets if followed else None, schema, tags, active)
        snapshot.full_reads += 1
        snapshot.rows_read += len(rows)

    async def _pairs_locked(self, sql: str, params: tuple[Any, ...]) -> list[tuple[int, int]]:
        """Two-integer rows as plain tuples (thousands of them, compared as they come)."""
        async with self._conn.execute(sql, params) as cursor:
            cursor.row_factory = None
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    def _verified(self, rows: list[aiosqlite.Row], links: dict[int, Links]) -> list[Member]:
        found = (self._member(row, links.get(row["id"], Links())) for row in rows)
        return [m for m in found if m is not None]

    async def _tags_kept_locked(self) -> bool:
        """Whether every trigger keeping the change tags is in place (a later migration that
        rebuilt the members table without them would otherwise hide changes)."""
        rows = await self._fetch_all_locked(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'", ()
        )
        if set(TAG_TRIGGERS) <= {row[0] for row in rows}:
            return True
        if not self._tags_missing_reported:
            self._tags_missing_reported = True
            log.warning("member change tags are not kept; every change reads all members")
        return False

    async def member_agency(self, member_id: MemberId) -> str | None:
        """The agency's name, for the coordinator's roster only."""
        row = await self._one(
            "SELECT id, address_hash, agency_ct FROM members WHERE id = ?", (member_id,)
        )
        if row is None or row["agency_ct"] is None:
            return None
        return self._vault.open_text(
            row["agency_ct"],
            table="members",
            column="agency",
            row=address_row(row["id"], row["address_hash"]),
        )

    async def all_members(self) -> list[Member]:
        """Everyone, revoked included (for the roster); refused and purged records left out."""
        return await self._members_where("1 = 1")

    async def unusable_members(self) -> list[tuple[MemberId, Role, str]]:
        """Records that are no member: ("purged") or failing their integrity check ("refused")."""
        rows = await self._all("SELECT * FROM members ORDER BY id")
        links = links_by_member(
            await self._all("SELECT supervisor_id, report_id FROM supervision")
        )
        found = []
        for row in rows:
            if is_purged(row):
                found.append((MemberId(row["id"]), Role(row["role"]), "purged"))
            elif self._member(row, links.get(row["id"], Links())) is None:
                found.append((MemberId(row["id"]), Role(row["role"]), "refused"))
        return found

    async def _update_guarded(self, member_id: MemberId, changes: dict[str, Any]) -> bool:
        """Change a member's columns and renew the MAC, only if the record is intact now: a
        record changed without the key must stay refused, not be signed again."""
        async with self._writing() as transaction:
            row = await self._fetch_locked("SELECT * FROM members WHERE id = ?", (member_id,))
            links = links_by_member(
                await self._fetch_all_locked(_LINKS_OF, (member_id, member_id))
            ).get(member_id, Links())
            if row is None or is_purged(row) or not self._intact(row, links):
                transaction.abandon()
                if row is not None and not is_purged(row):
                    self._note_refused(member_id)
                return False
            values = {key: row[key] for key in row.keys()} | changes  # noqa: SIM118 - a Row is no dict
            mac = self._vault.mac("members", member_mac_fields(values, links))
            assignments = ", ".join(f"{column} = ?" for column in changes)
            await self._conn.execute(
                f"UPDATE members SET {assignments}, mac = ? WHERE id = ?",  # noqa: S608 - columns come from this module
                (*changes.values(), mac, member_id),
            )
        return True

    async def set_active(self, member_id: MemberId, active: bool) -> bool:
        """Revoke (or restore) a member. Revoked, no sealed record keeps a link to them: their
        own private list goes, and they leave everyone else's."""
        changed = await self._update_guarded(member_id, {"active": int(active), "available": 0})
        if not changed and not active:
            # A refused record can still be revoked; its MAC stays wrong, so it stays refused.
            changed = (
                await self._exec(
                    "UPDATE members SET active = 0, available = 0 WHERE id = ?", (member_id,)
                )
                == 1
            )
        if changed and not active:
            await self.forget_links(today=datetime.now(UTC).date(), gone=member_id)
        return changed

    async def set_coordinator(self, member_id: MemberId, coordinator: bool) -> bool:
        return await self._update_guarded(member_id, {"coordinator": int(coordinator)})

    async def set_certified_until(self, member_id: MemberId, until: date) -> bool:
        return await self._update_guarded(member_id, {"certified_until": until.isoformat()})

    async def coordinators(self) -> list[Member]:
        """Active members with coordinator rights, by role or by `roster coordinator on`."""
        return await self._members_where(
            "active = 1 AND (role = 'coordinator' OR coordinator = 1)"
        )

    async def supervision_pairs(self) -> list[tuple[MemberId, MemberId]]:
        """(supervisor, report) for every recorded relation, for the roster export."""
        rows = await self._all(
            "SELECT supervisor_id, report_id FROM supervision ORDER BY report_id, supervisor_id"
        )
        return [(MemberId(row[0]), MemberId(row[1])) for row in rows]

    async def set_available(self, member_id: MemberId, available: bool) -> None:
        await self._update_guarded(member_id, {"available": int(available)})

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
        await self._update_guarded(member_id, {"available": 0})
        await self._set_timing(member_id, away_until=away_until)

    async def set_identity_hold(self, member_id: MemberId, hold: bool) -> bool:
        """Hold (no offers, not available) or release a member after a safety-number change."""
        changes = {"identity_hold": 1, "available": 0} if hold else {"identity_hold": 0}
        return await self._update_guarded(member_id, changes)

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

    async def set_max_threads(self, member_id: MemberId, cap: int | None) -> None:
        """A helper's own load cap (under the MAC: it decides how many conversations they get)."""
        await self._update_guarded(member_id, {"max_threads": cap})

    async def set_topics(
        self, member_id: MemberId, topics: frozenset[Category], serves: frozenset[Role]
    ) -> bool:
        """A helper's topics and the askers they support (the latter under the MAC)."""
        return await self._update_guarded(member_id, {"topics": topic_tokens(topics, serves)})

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

    async def add_supervision(self, supervisor: MemberId, report: MemberId) -> bool:
        """Record a supervision link and renew both members' MACs; False (nothing written) if
        either record is missing or fails its integrity check."""
        async with self._writing() as transaction:
            if not await self._intact_locked((supervisor, report)):
                transaction.abandon()
                return False
            await self._conn.execute(
                "INSERT OR IGNORE INTO supervision (supervisor_id, report_id) VALUES (?, ?)",
                (supervisor, report),
            )
            await self._renew_macs_locked((supervisor, report))
        return True

    async def _intact_locked(self, member_ids: tuple[int, ...]) -> bool:
        links = links_by_member(
            await self._fetch_all_locked("SELECT supervisor_id, report_id FROM supervision")
        )
        for member_id in member_ids:
            row = await self._fetch_locked("SELECT * FROM members WHERE id = ?", (member_id,))
            if (
                row is None
                or is_purged(row)
                or not self._intact(row, links.get(member_id, Links()))
            ):
                return False
        return True

    async def _renew_macs_locked(self, member_ids: tuple[int, ...]) -> None:
        """MACs over the current rows and links; callers have checked the rows were intact."""
        links = links_by_member(
            await self._fetch_all_locked("SELECT supervisor_id, report_id FROM supervision")
        )
        for member_id in member_ids:
            row = await self._fetch_locked("SELECT * FROM members WHERE id = ?", (member_id,))
            if row is None:
                continue
            mac = self._vault.mac("members", member_mac_fields(row, links.get(member_id, Links())))
            await self._conn.execute("UPDATE members SET mac = ? WHERE id = ?", (mac, member_id))

    async def purge_member(self, member_id: MemberId) -> bool:
        """Revoke and erase a member: sealed address, agency and private record, clear settings,
        supervision links, offers to them and their open requests. The row stays, emptied, so
        the member number is never given to someone else. False if there is no such member."""
        async with self._writing() as transaction:
            done = await self._purge_locked(member_id)
            if not done:
                transaction.abandon()
        return done

    async def _purge_locked(self, member_id: MemberId) -> bool:
        if await self._fetch_locked("SELECT 1 FROM members WHERE id = ?", (member_id,)) is None:
            return False
        linked = {
            other
            for pair in await self._fetch_all_locked(_LINKS_OF, (member_id, member_id))
            for other in pair
            if other != member_id
        }
        # Links change for the others: renew their MACs, but only for records intact now.
        intact = [m for m in sorted(linked) if await self._intact_locked((m,))]
        await self._conn.execute(
            "DELETE FROM supervision WHERE supervisor_id = ? OR report_id = ?",
            (member_id, member_id),
        )
        await self._renew_macs_locked(tuple(intact))
        await self._conn.execute("DELETE FROM offers WHERE helper_id = ?", (member_id,))
        await self._conn.execute("DELETE FROM incident_pages WHERE helper_id = ?", (member_id,))
        await self._conn.execute("DELETE FROM followup_prefs WHERE member_id = ?", (member_id,))
        for request in await self._fetch_all_locked("SELECT id, officer_ct FROM requests"):
            try:
                officer = self._vault.open_text(
                    request["officer_ct"], table="requests", column="officer", row=request["id"]
                )
            except DecryptionError:
                continue
            if officer == str(member_id):
                await self._conn.execute("DELETE FROM requests WHERE id = ?", (request["id"],))
        await self._conn.execute(
            "UPDATE members SET address_hash = ?, address_ct = x'', agency_hash = NULL,"
            " agency_ct = NULL, private_ct = NULL, display_name = '', available = 0,"
            " certified_until = NULL, active = 0, joined_at = '', timing_ct = NULL,"
            " timezone = NULL, on_call = NULL, ignored_offers = 0, topics = '', mac = NULL"
            " WHERE id = ?",
            (secrets.token_bytes(32), member_id),
        )
        return True

    async def chain_of_command(self, member_id: MemberId) -> frozenset[MemberId]:
        """Everyone the member supervises or reports to, as the roster records it."""
        rows = await self._all(
            "SELECT report_id FROM supervision WHERE supervisor_id = ?"
            " UNION SELECT supervisor_id FROM supervision WHERE report_id = ?",
            (member_id, member_id),
        )
        return frozenset(MemberId(row[0]) for row in rows)
