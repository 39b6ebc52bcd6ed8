"""Re-sealing the whole database under a new master key, in one transaction.

SQLite commits a transaction atomically (the WAL frame with the commit mark is the switch), so a
crash at any point leaves the database wholly under the old key or wholly under the new one,
never a mix. bot/keyrotation.py handles the key files around it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from bot.storage import db, integrity
from bot.storage.asks import OFFERS, PAGES
from bot.storage.integrity import Links, address_row, is_purged, links_by_member
from crypto import DecryptionError, Vault

# Every BLOB column in the schema and what a rotation does with it; a test checks the schema
# against this list, so a new sealed column cannot be forgotten here.
RESEALED_COLUMNS = frozenset(
    {
        ("members", "address_hash"),  # recomputed from the opened address
        ("members", "address_ct"),
        ("members", "agency_hash"),  # recomputed from the opened agency
        ("members", "agency_ct"),
        ("members", "private_ct"),
        ("members", "timing_ct"),
        ("members", "mac"),
        ("requests", "officer_ct"),
        ("offers", "message_ct"),
        ("threads", "wrapped_key"),  # re-wrapped; the thread key itself stays
        ("followups", "member_hash"),  # recomputed from the member number sealed in the row
        ("followups", "sealed"),
        ("incidents", "record_ct"),
        ("incident_pages", "message_ct"),
        ("spilled_chats", "address_ct"),  # who is to be told after the next start
        ("key_check", "value"),
    }
)
# Sealed under the thread's own key, which does not change.
UNCHANGED_COLUMNS = frozenset({("threads", "sealed")})
# Invite codes are stored only as keyed hashes and cannot be hashed again without the codes:
# unused codes are voided, and the operator issues new ones.
VOIDED_TABLES = frozenset({"invites"})


@dataclass(frozen=True, slots=True)
class SealedAsItIs:
    """A column sealed to its row and re-sealed unchanged. The row it is sealed to is its key
    columns' values joined by "/" (as AskTable.row_key does for offers and pages)."""

    table: str
    keys: tuple[str, ...]
    column: str  # as the database names it
    sealed_as: str  # the column name the seal is bound to
    what: str  # for the refusal


AS_THEY_ARE = (
    SealedAsItIs("requests", ("id",), "officer_ct", "officer", "request"),
    SealedAsItIs(OFFERS.name, (OFFERS.about, "helper_id"), "message_ct", "message", "offer"),
    SealedAsItIs("incidents", ("id",), "record_ct", "record", "incident"),
    SealedAsItIs(PAGES.name, (PAGES.about, "helper_id"), "message_ct", "message", "page"),
    SealedAsItIs("spilled_chats", ("id",), "address_ct", "address", "spilled-chat note"),
)


class RekeyRefusedError(Exception):
    """The database holds records the old key does not open; the message says which."""


@dataclass(frozen=True, slots=True)
class RekeyCounts:
    members: int
    requests: int
    offers: int
    threads: int
    followups: int
    invites_voided: int


async def reseal_all(
    conn: aiosqlite.Connection, old: Vault, new: Vault, pause: Callable[[str], None]
) -> RekeyCounts:
    """Everything sealed, hashed or MACed under `old`, rewritten under `new`; all or nothing.

    `pause(step)` is called at the points a fault-injection test kills the process."""
    await _refuse_unusable_members(conn, old)
    async with db.write_transaction(conn):
        members = await _members(conn, old, new)
        resealed = {sealed.table: await _reseal(conn, old, new, sealed) for sealed in AS_THEY_ARE}
        async with conn.execute("SELECT id, wrapped_key FROM threads") as cursor:
            threads = list(await cursor.fetchall())
        for thread_id, wrapped in threads:
            key = old.unwrap_thread_key(wrapped, thread_id)
            await conn.execute(
                "UPDATE threads SET wrapped_key = ? WHERE id = ?",
                (new.wrap_thread_key(key, thread_id), thread_id),
            )
        followups = await _followups(conn, old, new)
        async with conn.execute("SELECT count(*) FROM invites WHERE redeemed_at IS NULL") as c:
            voided = int((await c.fetchone() or (0,))[0])
        await conn.execute("DELETE FROM invites")
        await conn.execute("UPDATE key_check SET value = ? WHERE id = 1", (new.key_check(),))
        pause("resealed")
    return RekeyCounts(
        members, resealed["requests"], resealed[OFFERS.name], len(threads), followups, voided
    )


async def _refuse_unusable_members(conn: aiosqlite.Connection, old: Vault) -> None:
    """A record that fails its check under the old key must not be signed under the new one."""
    async with conn.execute("SELECT supervisor_id, report_id FROM supervision") as cursor:
        links = links_by_member(list(await cursor.fetchall()))
    async with conn.execute("SELECT * FROM members ORDER BY id") as cursor:
        rows = list(await cursor.fetchall())
    refused = [
        str(row["id"])
        for row in rows
        if not is_purged(row)
        and not old.mac_matches(
            "members",
            integrity.member_mac_fields(row, links.get(row["id"], Links())),
            row["mac"],
        )
    ]
    if refused:
        raise RekeyRefusedError(
            f"member record(s) {', '.join(refused)} fail their integrity check; erase them"
            " first with `peerline roster revoke N --purge`, then rotate"
        )


async def _members(conn: aiosqlite.Connection, old: Vault, new: Vault) -> int:
    async with conn.execute("SELECT supervisor_id, report_id FROM supervision") as cursor:
        links = links_by_member(list(await cursor.fetchall()))
    async with conn.execute("SELECT * FROM members ORDER BY id") as cursor:
        rows = list(await cursor.fetchall())
    for row in rows:
        member_id = row["id"]
        if is_purged(row):
            await conn.execute(
                "UPDATE members SET address_hash = ? WHERE id = ?",
                (secrets.token_bytes(32), member_id),
            )
            continue
        old_place = address_row(member_id, row["address_hash"])
        chat_id = old.open_text(
            row["address_ct"], table="members", column="address", row=old_place
        )
        address_hash = new.lookup_hash(f"{row['platform']}:{chat_id}".encode(), purpose="address")
        new_place = address_row(member_id, address_hash)
        agency_hash = agency_ct = None
        if row["agency_ct"] is not None:
            agency = old.open_text(
                row["agency_ct"], table="members", column="agency", row=old_place
            )
            agency_hash = new.lookup_hash(agency.strip().casefold().encode(), purpose="agency")
            agency_ct = new.seal_text(agency, table="members", column="agency", row=new_place)
        private_ct = timing_ct = None
        if row["private_ct"] is not None:
            place = {"table": "members", "column": "private", "row": str(member_id)}
            private_ct = new.seal(old.open(row["private_ct"], **place), **place)
        if row["timing_ct"] is not None:
            place = {"table": "members", "column": "timing", "row": str(member_id)}
            timing_ct = new.seal(old.open(row["timing_ct"], **place), **place)
        values = {key: row[key] for key in row.keys()}  # noqa: SIM118 - a Row is no dict
        values |= {"address_hash": address_hash, "agency_hash": agency_hash}
        mac = new.mac(
            "members", integrity.member_mac_fields(values, links.get(member_id, Links()))
        )
        await conn.execute(
            "UPDATE members SET address_hash = ?, address_ct = ?, agency_hash = ?, agency_ct = ?,"
            " private_ct = ?, timing_ct = ?, mac = ? WHERE id = ?",
            (
                address_hash,
                new.seal_text(chat_id, table="members", column="address", row=new_place),
                agency_hash,
                agency_ct,
                private_ct,
                timing_ct,
                mac,
                member_id,
            ),
        )
    return len(rows)


async def _followups(conn: aiosqlite.Connection, old: Vault, new: Vault) -> int:
    async with conn.execute("SELECT id, sealed FROM followups") as cursor:
        rows = list(await cursor.fetchall())
    for followup_id, sealed in rows:
        place = {"table": "followups", "column": "sealed", "row": followup_id}
        body = old.open(sealed, **place)
        member = json.loads(body)["member"]
        await conn.execute(
            "UPDATE followups SET member_hash = ?, sealed = ? WHERE id = ?",
            (
                new.lookup_hash(str(member).encode(), purpose="followup"),
                new.seal(body, **place),
                followup_id,
            ),
        )
    return len(rows)


async def _reseal(conn: aiosqlite.Connection, old: Vault, new: Vault, sealed: SealedAsItIs) -> int:
    keys = ", ".join(sealed.keys)
    async with conn.execute(
        f"SELECT {keys}, {sealed.column} FROM {sealed.table}"  # noqa: S608 - names from AS_THEY_ARE
        f" WHERE {sealed.column} IS NOT NULL"
    ) as cursor:
        rows = list(await cursor.fetchall())
    where = " AND ".join(f"{key} = ?" for key in sealed.keys)
    for *key, ciphertext in rows:
        row = "/".join(str(value) for value in key)
        place = {"table": sealed.table, "column": sealed.sealed_as, "row": row}
        try:
            plain = old.open(ciphertext, **place)
        except DecryptionError:
            raise RekeyRefusedError(
                f"a sealed {sealed.what} does not open under the old key"
            ) from None
        await conn.execute(
            f"UPDATE {sealed.table} SET {sealed.column} = ? WHERE {where}",  # noqa: S608 - as above
            (new.seal(plain, **place), *key),
        )
    return len(rows)
