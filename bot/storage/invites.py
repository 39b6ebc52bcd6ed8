"""Invites: created as keyed hashes, redeemed once into a member."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import date, datetime

from bot.events import Address
from bot.model import (
    Category,
    Member,
    MemberId,
    Role,
    topic_tokens,
)
from bot.storage.base import day_stamp, stamp
from bot.storage.integrity import address_row, invite_mac_fields
from bot.storage.members import MemberStore

log = logging.getLogger(__name__)


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
    # From `roster import`: applied to the member the invite makes.
    display_name: str = ""
    topics: frozenset[Category] = frozenset()
    supervisor: MemberId | None = None
    serves: frozenset[Role] = frozenset()  # the askers a helper supports (family, retiree)


class InviteStore(MemberStore):
    def _invite_insert(
        self, normalized_code: str, spec: InviteSpec, now: datetime
    ) -> list[tuple[str, tuple[object, ...]]]:
        """The statements that store one invite (run alone, or inside a roster import)."""
        code_hash = self._vault.invite_hash(normalized_code)
        agency_hash = agency_ct = None
        if spec.agency:
            agency_hash = self.agency_hash(spec.agency)
            agency_ct = self._vault.seal_text(
                spec.agency, table="invites", column="agency", row=code_hash.hex()
            )
        guarded = {
            "code_hash": code_hash,
            "role": spec.role.value,
            "agency_hash": agency_hash,
            "certified_until": spec.certified_until.isoformat() if spec.certified_until else None,
            "expires_at": stamp(spec.expires_at),
            "supervisor_id": spec.supervisor,
            "topics": topic_tokens(spec.topics, spec.serves),
        }
        return [
            (
                "INSERT INTO invites (code_hash, role, agency_hash, agency_ct, certified_until,"
                " created_at, expires_at, display_name, topics, supervisor_id, mac)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    code_hash,
                    spec.role.value,
                    agency_hash,
                    agency_ct,
                    guarded["certified_until"],
                    stamp(now),
                    guarded["expires_at"],
                    spec.display_name,
                    guarded["topics"],
                    spec.supervisor,
                    self._vault.mac("invites", invite_mac_fields(guarded)),
                ),
            )
        ]

    async def create_invite(self, normalized_code: str, spec: InviteSpec, now: datetime) -> None:
        for sql, params in self._invite_insert(normalized_code, spec, now):
            await self._exec(sql, params)

    async def redeem_invite(
        self, normalized_code: str, address: Address, now: datetime
    ) -> Member | InviteProblem:
        """Use an invite once, making `address` a member. All or nothing."""
        code_hash = self._vault.invite_hash(normalized_code)
        address_hash = self.address_hash(address)
        async with self._writing() as transaction:
            invite = await self._fetch_locked(
                "SELECT * FROM invites WHERE code_hash = ?", (code_hash,)
            )
            problem: InviteProblem | None = None
            if invite is None:
                problem = InviteProblem.UNKNOWN
            elif not self._vault.mac_matches("invites", invite_mac_fields(invite), invite["mac"]):
                log.warning("an invite failed its integrity check and is refused")
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
                transaction.abandon()
                return problem or InviteProblem.UNKNOWN
            supervisor = invite["supervisor_id"]
            if supervisor is not None and not await self._intact_locked((supervisor,)):
                # The link would be signed along with the new member: refuse the invite.
                log.warning("an invite names a supervisor whose record is refused")
                transaction.abandon()
                return InviteProblem.UNKNOWN
            # The sealed values are bound to the member number, known once the row exists.
            cursor = await self._conn.execute(
                "INSERT INTO members (platform, address_hash, address_ct, role, agency_hash,"
                " certified_until, joined_at, display_name, topics)"
                " VALUES (?, ?, x'00', ?, ?, ?, ?, ?, ?)",
                (
                    address.platform.value,
                    address_hash,
                    invite["role"],
                    invite["agency_hash"],
                    invite["certified_until"],
                    day_stamp(now),
                    invite["display_name"],
                    invite["topics"],
                ),
            )
            member_id = int(cursor.lastrowid or 0)
            bound = address_row(member_id, address_hash)
            agency_ct = None
            if invite["agency_ct"] is not None:
                agency = self._vault.open_text(
                    invite["agency_ct"], table="invites", column="agency", row=code_hash.hex()
                )
                agency_ct = self._vault.seal_text(
                    agency, table="members", column="agency", row=bound
                )
            await self._conn.execute(
                "UPDATE members SET address_ct = ?, agency_ct = ? WHERE id = ?",
                (
                    self._vault.seal_text(
                        address.chat_id, table="members", column="address", row=bound
                    ),
                    agency_ct,
                    member_id,
                ),
            )
            if supervisor is not None:
                await self._conn.execute(
                    "INSERT OR IGNORE INTO supervision (supervisor_id, report_id) VALUES (?, ?)",
                    (supervisor, member_id),
                )
            # Sealed routing times and private list from the start: their presence says
            # nothing about whether this person was ever matched.
            await self._conn.execute(
                "UPDATE members SET timing_ct = ?, private_ct = ? WHERE id = ?",
                (
                    self.seal_record({}, table="members", column="timing", row=str(member_id)),
                    self.seal_record({}, table="members", column="private", row=str(member_id)),
                    member_id,
                ),
            )
            await self._renew_macs_locked(
                (member_id,) if supervisor is None else (member_id, supervisor)
            )
            # Single use: the row stays only to say "already used"; the agency name goes.
            await self._conn.execute(
                "UPDATE invites SET redeemed_at = ?, agency_ct = NULL WHERE code_hash = ?",
                (day_stamp(now), code_hash),
            )
        member = await self.member(MemberId(member_id))
        assert member is not None  # noqa: S101 - inserted just above
        return member
