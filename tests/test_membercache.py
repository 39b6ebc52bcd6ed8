"""Members served from memory (bot/storage/membercache.py) while the database is unchanged, and
read again the moment anything is committed: by this repository, by another connection (the
CLI while the bot runs), or by someone editing the file behind its back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.model import HELPER_ROLES, Role
from bot.sandbox.harness import Sandbox
from bot.storage.repository import Repository
from crypto import Vault
from handlers.matching import helper_roster
from tests.test_e2e_menus import other_process
from tests.test_storage import join, tg


async def statements_during(repo: Repository, look_ups: int, member_id: int) -> list[str]:
    seen: list[str] = []
    await repo._conn.set_trace_callback(seen.append)
    try:
        for _ in range(look_ups):
            assert await repo.member_by_address(tg("111")) is not None
            assert await repo.member(member_id) is not None  # type: ignore[arg-type]
    finally:
        await repo._conn.set_trace_callback(None)  # type: ignore[arg-type]  # None: tracing off
    return seen


async def test_a_member_read_once_is_served_from_memory(repo: Repository) -> None:
    member = await join(repo, "111")
    assert await repo.member(member.id) == member
    assert await statements_during(repo, 5, member.id) == []
    assert await repo.member_by_address(tg("111")) is await repo.member(member.id)


async def test_a_write_of_its_own_is_seen_at_once(repo: Repository) -> None:
    member = await join(repo, "111")
    assert (await repo.member(member.id)).available is False  # type: ignore[union-attr]
    await repo.set_available(member.id, True)
    assert (await repo.member(member.id)).available is True  # type: ignore[union-attr]
    await repo.set_display_name(member.id, "Sam")
    assert (await repo.member_by_address(tg("111"))).display_name == "Sam"  # type: ignore[union-attr]


async def test_a_revoke_from_another_connection_is_seen_at_once(
    repo: Repository, db_path: Path, vault: Vault
) -> None:
    member = await join(repo, "111")
    assert (await repo.member_by_address(tg("111"))).active  # type: ignore[union-attr]
    cli = await Repository.open(db_path, vault)  # as `peerline roster revoke` would
    try:
        assert await cli.set_active(member.id, False)
    finally:
        await cli.close()
    assert not (await repo.member_by_address(tg("111"))).active  # type: ignore[union-attr]
    assert not (await repo.member(member.id)).active  # type: ignore[union-attr]


async def test_a_record_changed_without_the_key_is_checked_again(
    repo: Repository, db_path: Path
) -> None:
    member = await join(repo, "111")
    assert await repo.member(member.id) is not None
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE members SET role = 'coordinator' WHERE id = ?", (member.id,))
    assert await repo.member(member.id) is None  # its MAC no longer matches: refused
    assert await repo.member_by_address(tg("111")) is None


async def test_a_read_overtaken_by_a_commit_is_not_kept(repo: Repository) -> None:
    member = await join(repo, "111")
    cache = repo._members
    assert cache is not None
    _, generation = cache.get(member.id)  # a miss, then a read that a commit overtakes
    await repo.set_available(member.id, True)
    cache.keep(member, b"stale", generation)
    assert cache.get(member.id)[0] is None
    assert (await repo.member(member.id)).available is True  # type: ignore[union-attr]


# -- the active-member list the contact clock routes over --------------------------------------


async def test_the_helper_list_is_the_same_tuple_until_a_commit(repo: Repository) -> None:
    peer = await join(repo, "111")
    await join(repo, "222", Role.OFFICER)
    helpers = await repo.active_members(HELPER_ROLES)
    assert [m.id for m in helpers] == [peer.id]
    seen: list[str] = []
    await repo._conn.set_trace_callback(seen.append)
    try:
        assert await repo.active_members(HELPER_ROLES) is helpers
        assert await repo.members(roles=HELPER_ROLES) == list(helpers)
    finally:
        await repo._conn.set_trace_callback(None)  # type: ignore[arg-type]  # None: tracing off
    assert seen == []
    await repo.set_available(peer.id, True)  # a write of its own
    again = await repo.active_members(HELPER_ROLES)
    assert again is not helpers and again[0].available


async def test_a_helper_revoked_by_another_connection_leaves_the_list_at_once(
    repo: Repository, db_path: Path, vault: Vault
) -> None:
    peer = await join(repo, "111")
    assert [m.id for m in await repo.active_members(HELPER_ROLES)] == [peer.id]
    cli = await Repository.open(db_path, vault)  # as `peerline roster revoke` would
    try:
        assert await cli.set_active(peer.id, False)
    finally:
        await cli.close()
    assert await repo.active_members(HELPER_ROLES) == ()
    assert await repo.members() == []


async def test_a_helper_list_overtaken_by_a_commit_is_not_kept(repo: Repository) -> None:
    peer = await join(repo, "111")
    cache = repo._members
    assert cache is not None
    stale = await repo.active_members(HELPER_ROLES)
    cache.clear()
    _, generation = cache.active(HELPER_ROLES)  # a miss, then a read that a commit overtakes
    await repo.set_available(peer.id, True)
    cache.active(HELPER_ROLES)  # another look-up sees the commit first
    cache.keep_active(HELPER_ROLES, stale, generation)
    assert cache.active(HELPER_ROLES)[0] is None
    assert (await repo.active_members(HELPER_ROLES))[0].available


async def test_the_clock_keeps_its_routing_index_while_nothing_is_committed(
    sandbox: Sandbox,
) -> None:
    await sandbox.join("Alex", Role.PEER)
    assert sandbox.app is not None
    services = sandbox.app.services
    assert services is not None
    roster = await helper_roster(services)
    assert len(roster.helpers) == 1 and roster.helpers[0].available
    assert await helper_roster(services) is roster
    cli = await other_process(sandbox)  # `peerline roster revoke` while the bot runs
    try:
        assert await cli.set_active(roster.helpers[0].id, False)
    finally:
        await cli.close()
    rebuilt = await helper_roster(services)
    assert rebuilt is not roster and rebuilt.helpers == ()
