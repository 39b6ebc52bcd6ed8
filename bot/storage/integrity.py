"""Integrity at rest: the key check value, and MACs over the clear columns that decide access.

Someone who can write the database file but has no key must not be able to make a member an
available certified peer, un-revoke them, change their agency or chain of command, or move a
sealed address to another member. Sealed addresses and agencies are bound (AEAD associated
data) to the member's number and lookup hash; the clear columns that grant access are covered by
a MAC that every read checks. The MAC also covers the member's supervision links, so a link
added or removed without the key refuses both members.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiosqlite

from bot.model import parse_topic_tokens
from crypto import DecryptionError, MacField, Vault

log = logging.getLogger(__name__)

KEY_CHECK_VERSION = 12  # the schema version that added the key check value and the MACs
LOAD_CAP_MAC_VERSION = 18  # the schema version from which a helper's own load cap is MACed


class RowLike(Protocol):
    """A database row or a dict of its columns."""

    def __getitem__(self, key: str, /) -> Any: ...


class KeyMismatchError(Exception):
    """The master key given is not the one this database was written with."""


class KeyCheckMissingError(Exception):
    """The database lost its key check value: it was altered outside Peerline."""


@dataclass(frozen=True, slots=True)
class Links:
    """A member's chain of command as the supervision table records it."""

    supervisors: frozenset[int] = field(default_factory=frozenset)
    reports: frozenset[int] = field(default_factory=frozenset)


def links_by_member(rows: list[aiosqlite.Row]) -> dict[int, Links]:
    supervisors: dict[int, set[int]] = {}
    reports: dict[int, set[int]] = {}
    for supervisor_id, report_id in rows:
        reports.setdefault(supervisor_id, set()).add(report_id)
        supervisors.setdefault(report_id, set()).add(supervisor_id)
    return {
        member: Links(frozenset(supervisors.get(member, ())), frozenset(reports.get(member, ())))
        for member in supervisors.keys() | reports.keys()
    }


def address_row(member_id: int, address_hash: bytes) -> str:
    """Associated data for a member's sealed address and agency: their number and lookup hash."""
    return f"{member_id}/{bytes(address_hash).hex()}"


def _serves_fields(stored_topics: str) -> list[MacField]:
    """The askers a helper chose to support decide who is offered a family member's or a
    retiree's request, so they are under the MAC. Appended only when there are any: the MACs
    of rows from before v14 (none chose) stay valid."""
    serves = sorted(r.value for r in parse_topic_tokens(stored_topics)[1])
    return ["serves", len(serves), *serves] if serves else []


def _load_cap_fields(cap: int | None) -> list[MacField]:
    """A helper's own cap on conversations at once (/load) decides how many they are given, so
    it is under the MAC from v18. Appended only when set: the MACs of rows without one stay
    valid, and the v18 upgrade signs again only the rows that have one."""
    return [] if cap is None else ["max_threads", cap]


def member_mac_fields(row: RowLike, links: Links, *, load_cap: bool = True) -> list[MacField]:
    """What a member's MAC covers. `load_cap=False`: as before v18 (the upgrades before it
    run on a table that may not have the column yet)."""
    fields: list[MacField] = [
        row["id"],
        row["platform"],
        bytes(row["address_hash"]),
        row["role"],
        None if row["agency_hash"] is None else bytes(row["agency_hash"]),
        bool(row["available"]),
        row["certified_until"],
        bool(row["active"]),
        bool(row["identity_hold"]),
        bool(row["coordinator"]),
        "supervisors",
        len(links.supervisors),
        *sorted(links.supervisors),
        "reports",
        len(links.reports),
        *sorted(links.reports),
        *_serves_fields(row["topics"]),
    ]
    if load_cap:
        fields += _load_cap_fields(row["max_threads"])
    return fields


def invite_mac_fields(row: RowLike) -> list[MacField]:
    return [
        bytes(row["code_hash"]),
        row["role"],
        None if row["agency_hash"] is None else bytes(row["agency_hash"]),
        row["certified_until"],
        row["expires_at"],
        row["supervisor_id"],
        *_serves_fields(row["topics"]),
    ]


def is_purged(row: RowLike) -> bool:
    # A purged member keeps a row (so their number is never given to someone else) whose
    # address ciphertext is empty and whose lookup hash is random.
    return len(bytes(row["address_ct"])) == 0


# -- the key check value ------------------------------------------------------------------


async def stored_key_check(conn: aiosqlite.Connection) -> bytes | None:
    async with conn.execute("SELECT value FROM key_check WHERE id = 1") as cursor:
        row = await cursor.fetchone()
    return bytes(row[0]) if row else None


async def verify_key(conn: aiosqlite.Connection, vault: Vault, version: int) -> None:
    """Refuse a master key this database was not written with; reads only.

    From schema v12 on the database keeps a check value. An older database is tested by opening
    one of its sealed values, if it has any."""
    if version >= KEY_CHECK_VERSION:
        stored = await stored_key_check(conn)
        if stored is None:
            raise KeyCheckMissingError(
                "the database has no key check value: it was changed outside Peerline"
            )
        if not vault.key_check_matches(stored):
            raise KeyMismatchError("the master key does not open this database (wrong key?)")
        return
    if version >= 1 and not await _opens_legacy_sample(conn, vault):
        raise KeyMismatchError("the master key does not open this database (wrong key?)")


async def _opens_legacy_sample(conn: aiosqlite.Connection, vault: Vault) -> bool:
    """True when a sealed value of a pre-v12 database opens (or there is none to try)."""
    async with conn.execute(
        "SELECT address_hash, address_ct FROM members ORDER BY id LIMIT 1"
    ) as cursor:
        member = await cursor.fetchone()
    if member is not None:
        return _opens(
            vault, member[1], table="members", column="address", row=bytes(member[0]).hex()
        )
    async with conn.execute("SELECT id, officer_ct FROM requests LIMIT 1") as cursor:
        request = await cursor.fetchone()
    if request is not None:
        return _opens(vault, request[1], table="requests", column="officer", row=request[0])
    async with conn.execute(
        "SELECT code_hash, agency_ct FROM invites WHERE agency_ct IS NOT NULL LIMIT 1"
    ) as cursor:
        invite = await cursor.fetchone()
    if invite is not None:
        return _opens(
            vault, invite[1], table="invites", column="agency", row=bytes(invite[0]).hex()
        )
    # Invite hashes alone cannot be tested; a database with nothing sealed has nothing to lose.
    return True


def _opens(vault: Vault, ciphertext: bytes, *, table: str, column: str, row: str) -> bool:
    try:
        vault.open(ciphertext, table=table, column=column, row=row)
    except DecryptionError:
        return False
    return True


# -- the v12 upgrade -----------------------------------------------------------------------


async def adopt_legacy_rows(conn: aiosqlite.Connection, vault: Vault) -> None:
    """Inside the v12 migration's transaction: record the key check value, bind every member's
    sealed address and agency to the member, and MAC the clear columns as they stand.

    The upgrade trusts the database as it is at that moment; from then on a change made
    without the key is refused. A member whose address does not open is left without a MAC,
    and so refused."""
    await conn.execute("INSERT INTO key_check (id, value) VALUES (1, ?)", (vault.key_check(),))
    async with conn.execute("SELECT supervisor_id, report_id FROM supervision") as cursor:
        links = links_by_member(list(await cursor.fetchall()))
    async with conn.execute("SELECT * FROM members ORDER BY id") as cursor:
        members = list(await cursor.fetchall())
    unreadable = 0
    for row in members:
        legacy_row = bytes(row["address_hash"]).hex()
        try:
            address = vault.open(
                row["address_ct"], table="members", column="address", row=legacy_row
            )
            agency = (
                None
                if row["agency_ct"] is None
                else vault.open(row["agency_ct"], table="members", column="agency", row=legacy_row)
            )
        except DecryptionError:
            unreadable += 1
            continue
        bound = address_row(row["id"], row["address_hash"])
        await conn.execute(
            "UPDATE members SET address_ct = ?, agency_ct = ?, mac = ? WHERE id = ?",
            (
                vault.seal(address, table="members", column="address", row=bound),
                None
                if agency is None
                else vault.seal(agency, table="members", column="agency", row=bound),
                vault.mac(
                    "members",
                    member_mac_fields(row, links.get(row["id"], Links()), load_cap=False),
                ),
                row["id"],
            ),
        )
    async with conn.execute("SELECT * FROM invites") as cursor:
        invites = list(await cursor.fetchall())
    for row in invites:
        await conn.execute(
            "UPDATE invites SET mac = ? WHERE code_hash = ?",
            (vault.mac("invites", invite_mac_fields(row)), row["code_hash"]),
        )
    if unreadable:
        log.warning(
            "%d member record(s) did not open during the upgrade and are refused", unreadable
        )


# -- the v18 upgrade -----------------------------------------------------------------------


async def cover_load_caps(conn: aiosqlite.Connection, vault: Vault) -> None:
    """Inside the v18 migration's transaction: sign again, with their own load cap, the members
    who have one. Only rows whose MAC holds as it stood are signed: a record changed without
    the key before the upgrade stays refused."""
    async with conn.execute("SELECT supervisor_id, report_id FROM supervision") as cursor:
        links = links_by_member(list(await cursor.fetchall()))
    async with conn.execute(
        "SELECT * FROM members WHERE max_threads IS NOT NULL ORDER BY id"
    ) as cursor:
        capped = list(await cursor.fetchall())
    for row in capped:
        own = links.get(row["id"], Links())
        if row["mac"] is None or not vault.mac_matches(
            "members", member_mac_fields(row, own, load_cap=False), row["mac"]
        ):
            continue
        await conn.execute(
            "UPDATE members SET mac = ? WHERE id = ?",
            (vault.mac("members", member_mac_fields(row, own)), row["id"]),
        )
