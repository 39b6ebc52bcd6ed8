"""Integrity at rest: the key check value, and an attacker who can write the file but has no key.

Each attack closes the repository, changes the file with a plain sqlite3 connection (as someone
with write access would), reopens it with the real key, and checks that the changed member is
refused: unknown by address and by number, and never among the helpers offered a request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from bot.model import HELPER_ROLES, Category, Member, MemberId, OfficerPrivate, Role, Wanted
from bot.storage import db, integrity
from bot.storage.repository import InviteProblem, InviteSpec, Repository, RequestRecord
from bot.storage.repository import new_request_id as _new_request_id
from crypto import Vault
from tests.conftest import make_vault
from tests.test_storage import LATER, NOW, code, file_bytes, join, tg

Tamper = Callable[[sqlite3.Connection, Member, Member], object]


def tamper(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, params)


def file_digest(path: Path) -> str:
    """The main file and its WAL as they are on disk (the -shm file is an index, no data)."""
    digest = hashlib.sha256()
    for name in (path.name, path.name + "-wal"):
        side = path.with_name(name)
        digest.update(name.encode() + (side.read_bytes() if side.exists() else b"<none>"))
    return digest.hexdigest()


async def two_members(path: Path, vault: Vault) -> tuple[Member, Member]:
    repo = await Repository.open(path, vault)
    try:
        officer = await join(repo, "111", Role.OFFICER, agency="Springfield PD")
        peer = await join(repo, "222", Role.PEER, agency="Shelbyville SO")
        await repo.set_available(peer.id, True)
    finally:
        await repo.close()
    return officer, peer


# -- the key check value ------------------------------------------------------------------


async def test_a_fresh_database_records_a_check_value_that_is_not_the_key(
    db_path: Path, vault: Vault
) -> None:
    repo = await Repository.open(db_path, vault)
    await repo.close()
    with closing(sqlite3.connect(db_path)) as conn:
        ((stored,),) = conn.execute("SELECT value FROM key_check").fetchall()
    assert stored == vault.key_check()
    assert vault.key_check_matches(stored)
    assert not make_vault().key_check_matches(stored)


async def test_a_wrong_key_is_refused_before_anything_is_written(
    db_path: Path, vault: Vault
) -> None:
    await two_members(db_path, vault)
    before = file_digest(db_path)
    with pytest.raises(integrity.KeyMismatchError, match="does not open this database"):
        await Repository.open(db_path, make_vault())
    assert file_digest(db_path) == before
    repo = await Repository.open(db_path, vault)  # the right key still works
    try:
        assert len(await repo.members()) == 2
    finally:
        await repo.close()


async def test_a_database_that_lost_its_check_value_is_refused(
    db_path: Path, vault: Vault
) -> None:
    await two_members(db_path, vault)
    tamper(db_path, "DELETE FROM key_check")
    with pytest.raises(integrity.KeyCheckMissingError):
        await Repository.open(db_path, vault)


# -- an attacker with write access and no key ---------------------------------------------

ATTACKS: dict[str, Tamper] = {
    "officer made a peer": lambda c, o, p: c.execute(
        "UPDATE members SET role = 'peer', available = 1, certified_until = '2099-01-01'"
        " WHERE id = ?",
        (o.id,),
    ),
    "certification extended": lambda c, o, p: c.execute(
        "UPDATE members SET certified_until = '2099-01-01' WHERE id = ?", (p.id,)
    ),
    "made available": lambda c, o, p: c.execute(
        "UPDATE members SET available = 1 WHERE id = ?", (o.id,)
    ),
    "revocation undone": lambda c, o, p: c.execute(
        "UPDATE members SET active = 1 WHERE id = ?", (p.id,)
    ),
    "agency copied": lambda c, o, p: c.execute(
        "UPDATE members SET agency_hash = (SELECT agency_hash FROM members WHERE id = ?)"
        " WHERE id = ?",
        (o.id, p.id),
    ),
    "supervision added": lambda c, o, p: c.execute(
        "INSERT INTO supervision (supervisor_id, report_id) VALUES (?, ?)", (p.id, o.id)
    ),
    "own load cap set": lambda c, o, p: c.execute(
        "UPDATE members SET max_threads = 1 WHERE id = ?", (p.id,)
    ),
    "own load cap lifted": lambda c, o, p: c.execute(
        "UPDATE members SET max_threads = NULL WHERE id = ?", (p.id,)
    ),
    "own load cap raised": lambda c, o, p: c.execute(
        "UPDATE members SET max_threads = 3 WHERE id = ?", (p.id,)
    ),
}
# Attacks on a helper who set their own load cap (/load 2) first.
CAPPED_FIRST = {"own load cap lifted", "own load cap raised"}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_clear_columns_changed_without_the_key_refuse_the_member(
    db_path: Path, vault: Vault, attack: str, caplog: pytest.LogCaptureFixture
) -> None:
    officer, peer = await two_members(db_path, vault)
    if attack == "revocation undone":
        repo = await Repository.open(db_path, vault)
        await repo.set_active(peer.id, False)
        await repo.close()
    if attack in CAPPED_FIRST:
        repo = await Repository.open(db_path, vault)
        await repo.set_max_threads(peer.id, 2)
        capped = await repo.member(peer.id)
        assert capped is not None and capped.max_threads == 2  # signed with it: intact
        await repo.close()
    with closing(sqlite3.connect(db_path)) as conn, conn:
        ATTACKS[attack](conn, officer, peer)
    caplog.set_level(logging.WARNING)
    repo = await Repository.open(db_path, vault)
    try:
        changed = [m for m in (officer, peer) if await repo.member(m.id) is None]
        assert changed, "the change went unnoticed"
        for member in changed:
            assert await repo.member_by_address(member.address) is None
            assert member.id not in {m.id for m in await repo.members(roles=HELPER_ROLES)}
            assert member.id not in {m.id for m in await repo.members()}
        # A later legitimate write does not sign the change again.
        for member in changed:
            await repo.set_available(member.id, True)
            assert await repo.member(member.id) is None
    finally:
        await repo.close()
    refusals = [r.getMessage() for r in caplog.records if "integrity check" in r.getMessage()]
    assert refusals
    for line in refusals:
        assert str(officer.id) + " " not in line.split("(")[0]
        assert "111" not in line and "222" not in line


async def test_removing_a_supervision_link_refuses_both_members(
    db_path: Path, vault: Vault
) -> None:
    officer, peer = await two_members(db_path, vault)
    repo = await Repository.open(db_path, vault)
    assert await repo.add_supervision(peer.id, officer.id)
    assert await repo.chain_of_command(officer.id) == {peer.id}
    assert await repo.member(officer.id) is not None  # the legitimate link keeps both intact
    await repo.close()
    tamper(db_path, "DELETE FROM supervision")
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.member(officer.id) is None
        assert await repo.member(peer.id) is None
    finally:
        await repo.close()


async def test_a_sealed_address_swapped_with_its_lookup_hash_does_not_open(
    db_path: Path, vault: Vault
) -> None:
    """Moving A's (hash, ciphertext) to B would let A's account act with B's role."""
    officer, peer = await two_members(db_path, vault)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        rows = {
            row[0]: row[1:]
            for row in conn.execute("SELECT id, address_hash, address_ct, mac FROM members")
        }
        # Even with the MACs moved along, the ciphertext is bound to the member number.
        conn.execute("UPDATE members SET address_hash = randomblob(32)")
        for member_id, other in ((officer.id, peer.id), (peer.id, officer.id)):
            conn.execute(
                "UPDATE members SET address_hash = ?, address_ct = ?, mac = ? WHERE id = ?",
                (*rows[other], member_id),
            )
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.member_by_address(officer.address) is None
        assert await repo.member_by_address(peer.address) is None
        assert await repo.members() == []
        with pytest.raises(Exception, match="authenticate"):
            vault.open(
                rows[peer.id][1],
                table="members",
                column="address",
                row=integrity.address_row(officer.id, rows[peer.id][0]),
            )
    finally:
        await repo.close()


async def test_an_invite_changed_without_the_key_is_refused(db_path: Path, vault: Vault) -> None:
    repo = await Repository.open(db_path, vault)
    invite = code()
    await repo.create_invite(invite, InviteSpec(Role.OFFICER, None, LATER), NOW)
    await repo.close()
    tamper(db_path, "UPDATE invites SET role = 'coordinator'")
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.redeem_invite(invite, tg("9"), NOW) is InviteProblem.UNKNOWN
        assert await repo.all_members() == []
    finally:
        await repo.close()


async def test_legitimate_changes_keep_records_intact(repo: Repository) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    peer = await join(repo, "2", Role.PEER)
    await repo.set_available(peer.id, True)
    await repo.set_away(peer.id, LATER)
    await repo.set_available(peer.id, True)
    await repo.set_hours(peer.id, None, "UTC")
    await repo.set_max_threads(peer.id, 2)
    await repo.set_max_threads(peer.id, None)
    await repo.set_max_threads(peer.id, 1)
    assert await repo.add_supervision(officer.id, peer.id)
    assert await repo.set_active(officer.id, False)
    assert [m.id for m in await repo.members()] == [peer.id]
    assert [m.id for m in await repo.all_members()] == [officer.id, peer.id]
    assert await repo.unusable_members() == []
    kept = await repo.member(peer.id)
    assert kept is not None and kept.max_threads == 1


# -- purge ----------------------------------------------------------------------------------


async def test_a_purge_erases_the_members_sealed_data(db_path: Path, vault: Vault) -> None:
    officer, peer = await two_members(db_path, vault)
    repo = await Repository.open(db_path, vault)
    try:
        await repo.save_officer_private(officer.id, OfficerPrivate(blocked=frozenset({peer.id})))
        assert await repo.add_supervision(peer.id, officer.id)
        request = RequestRecord(
            id=_new_request_id(),
            officer_id=officer.id,
            category=Category.STRESS,
            wanted=Wanted.PEER,
            outside_agency=True,
            urgent=False,
            created_at=NOW,
        )
        await repo.create_request(request)
        assert await repo.set_active(officer.id, False)
        old_hash = repo.address_hash(officer.address)
        assert old_hash in file_bytes(db_path)
        assert await repo.purge_member(officer.id)
        assert not await repo.purge_member(MemberId(999))
        assert await repo.member(officer.id) is None
        assert await repo.member_by_address(officer.address) is None
        assert await repo.request(request.id) is None
        assert await repo.unusable_members() == [(officer.id, Role.OFFICER, "purged")]
        # The other side of the erased supervision link stays a member.
        assert await repo.member(peer.id) is not None
        newcomer = await join(repo, "333", Role.OFFICER)
        assert newcomer.id != officer.id  # a purged number is never given again
    finally:
        await repo.close()
    with closing(sqlite3.connect(db_path)) as conn:
        row = conn.execute(
            "SELECT address_ct, agency_hash, agency_ct, private_ct, joined_at FROM members"
            " WHERE id = ?",
            (officer.id,),
        ).fetchone()
    assert row == (b"", None, None, None, "")
    # Not even the keyed lookup hash is left in the file (secure_delete, checkpointed).
    assert old_hash not in file_bytes(db_path)


# -- the upgrade from a database made before v12 ---------------------------------------------


async def legacy_database(path: Path, vault: Vault) -> None:
    """A database as the code before v12 wrote it: sealed values bound to the lookup hash."""
    with closing(sqlite3.connect(path)) as conn:
        for version, sql in db.migrations()[: integrity.KEY_CHECK_VERSION - 1]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        for member_id, chat_id, role, agency in (
            (1, "111", "officer", "Springfield PD"),
            (2, "222", "peer", None),
        ):
            address_hash = vault.lookup_hash(f"telegram:{chat_id}".encode(), purpose="address")
            row_key = address_hash.hex()
            conn.execute(
                "INSERT INTO members (id, platform, address_hash, address_ct, role, agency_hash,"
                " agency_ct, available, certified_until, joined_at)"
                " VALUES (?, 'telegram', ?, ?, ?, ?, ?, ?, ?, '2026-11-01T00:00:00+00:00')",
                (
                    member_id,
                    address_hash,
                    vault.seal_text(chat_id, table="members", column="address", row=row_key),
                    role,
                    vault.lookup_hash(agency.casefold().encode(), purpose="agency")
                    if agency
                    else None,
                    vault.seal_text(agency, table="members", column="agency", row=row_key)
                    if agency
                    else None,
                    int(role == "peer"),
                    "2027-06-30" if role == "peer" else None,
                ),
            )
        conn.execute("INSERT INTO supervision VALUES (2, 1)")
        conn.commit()


async def test_a_database_made_before_v8_upgrades_with_its_key(tmp_path: Path) -> None:
    path, vault = tmp_path / "old.db", make_vault()
    await legacy_database(path, vault)
    repo = await Repository.open(path, vault)
    try:
        assert await db.schema_version(repo._conn) == len(db.migrations())
        officer, peer = await repo.member(MemberId(1)), await repo.member(MemberId(2))
        assert officer is not None and peer is not None
        assert officer.address == tg("111")
        assert await repo.member_agency(officer.id) == "Springfield PD"
        assert [m.id for m in await repo.members(roles=HELPER_ROLES)] == [peer.id]
        assert await repo.chain_of_command(officer.id) == {peer.id}
    finally:
        await repo.close()
    # From now on the upgraded rows are covered: a change without the key is refused.
    tamper(path, "UPDATE members SET role = 'coordinator' WHERE id = 1")
    repo = await Repository.open(path, vault)
    try:
        assert await repo.member(MemberId(1)) is None
    finally:
        await repo.close()


async def test_a_database_made_before_v8_refuses_a_wrong_key_unchanged(tmp_path: Path) -> None:
    path, vault = tmp_path / "old.db", make_vault()
    await legacy_database(path, vault)
    before = file_digest(path)
    with pytest.raises(integrity.KeyMismatchError):
        await Repository.open(path, make_vault())
    assert file_digest(path) == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (integrity.KEY_CHECK_VERSION - 1,)


# -- the v18 upgrade: own load caps under the MAC --------------------------------------------


async def test_the_v18_upgrade_signs_own_load_caps_only_on_intact_records(
    db_path: Path, vault: Vault
) -> None:
    officer, peer = await two_members(db_path, vault)
    with closing(sqlite3.connect(db_path)) as conn, conn:  # as the code before v18 left it
        conn.row_factory = sqlite3.Row
        conn.execute("UPDATE members SET max_threads = 2")
        for member in (officer, peer):
            row = conn.execute("SELECT * FROM members WHERE id = ?", (member.id,)).fetchone()
            before = integrity.member_mac_fields(row, integrity.Links(), load_cap=False)
            conn.execute(
                "UPDATE members SET mac = ? WHERE id = ?",
                (vault.mac("members", before), member.id),
            )
        # Changed without the key before the upgrade: must stay refused after it.
        conn.execute("UPDATE members SET coordinator = 1 WHERE id = ?", (officer.id,))
        conn.execute(f"PRAGMA user_version = {integrity.LOAD_CAP_MAC_VERSION - 1}")
    repo = await Repository.open(db_path, vault)
    try:
        assert await db.schema_version(repo._conn) == len(db.migrations())
        upgraded = await repo.member(peer.id)
        assert upgraded is not None and upgraded.max_threads == 2
        assert await repo.member(officer.id) is None
    finally:
        await repo.close()
    tamper(db_path, "UPDATE members SET max_threads = NULL WHERE id = ?", (peer.id,))
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.member(peer.id) is None
    finally:
        await repo.close()


# -- files ----------------------------------------------------------------------------------


async def test_database_files_are_created_private_whatever_the_umask(
    db_path: Path, vault: Vault
) -> None:
    previous = os.umask(0o022)
    try:
        repo = await Repository.open(db_path, vault)
        try:
            await join(repo, "1", Role.OFFICER)
            modes = {
                path.name: stat.S_IMODE(path.stat().st_mode)
                for path in db_path.parent.iterdir()
                if path.name.startswith(db_path.name + "-") or path == db_path
            }
        finally:
            await repo.close()
    finally:
        os.umask(previous)
    assert set(modes) == {"peerline.db", "peerline.db-wal", "peerline.db-shm"}
    assert set(modes.values()) == {0o600}
