"""Members served from memory (bot/storage/membercache.py) while the database is unchanged, and
read again the moment anything is committed: by this repository, by another connection (the
CLI while the bot runs), or by someone editing the file behind its back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from bot.model import HELPER_ROLES, Member, Role
from bot.sandbox.harness import Sandbox
from bot.storage.invites import InviteSpec
from bot.storage.membercache import ActiveSnapshot, by_bucket
from bot.storage.members import TAG_TRIGGERS
from bot.storage.repository import Repository
from crypto import Vault
from handlers.matching import helper_roster
from tests.test_e2e_menus import other_process
from tests.test_storage import LATER, NOW, code, join, tg


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


# -- after a commit: only the member rows whose change tag moved are read again ----------------


async def helpers_read(repo: Repository) -> tuple[tuple[Member, ...], int, int, list[str]]:
    """The active helpers, the member rows read for them, full reads, and the member reads."""
    cache = repo._members
    assert cache is not None
    rows, full = cache.snapshot.rows_read, cache.snapshot.full_reads
    seen: list[str] = []
    await repo._conn.set_trace_callback(seen.append)
    try:
        helpers = await repo.active_members(HELPER_ROLES)
    finally:
        await repo._conn.set_trace_callback(None)  # type: ignore[arg-type]  # None: tracing off
    reads = [s for s in seen if "FROM member" in s]
    return helpers, cache.snapshot.rows_read - rows, cache.snapshot.full_reads - full, reads


def assert_sums_agree(db_path: Path) -> None:
    """The triggers' sums by bucket are the sums of the tags."""
    with closing(sqlite3.connect(db_path)) as conn:
        kept = dict(conn.execute("SELECT bucket, digest FROM member_tag_buckets"))
        tags = list(conn.execute("SELECT id, tag FROM member_tags"))
    assert {b: s for b, s in kept.items() if s} == {
        b: sum(t.values()) for b, t in by_bucket(tags).items() if sum(t.values())
    }


async def test_a_step_after_its_own_commit_reads_only_the_changed_rows(repo: Repository) -> None:
    peers = [await join(repo, str(100 + n)) for n in range(6)]
    officer = await join(repo, "222", Role.OFFICER)
    first, _, full, _ = await helpers_read(repo)
    assert full == 1 and [m.id for m in first] == [p.id for p in peers]
    await repo.mark_offered(peers[2].id, NOW)  # as an offer sent commits
    after, rows, full, reads = await helpers_read(repo)
    assert (rows, full) == (1, 0)
    assert reads == [  # the sums, the tags of one bucket, one member
        "SELECT bucket, digest FROM member_tag_buckets ORDER BY bucket",
        "SELECT id, tag FROM member_tags WHERE id BETWEEN 0 AND 63",
        f"SELECT * FROM members WHERE id IN ({peers[2].id})",  # noqa: S608 - a statement seen
    ]
    assert after[2].last_offered_at == NOW
    assert [n for n in range(6) if after[n] is not first[n]] == [2]
    await repo.count_ignored_offer(peers[4].id)  # as an offer timing out commits
    await repo.set_available(peers[0].id, True)
    again, rows, full, _ = await helpers_read(repo)
    assert (rows, full) == (2, 0)
    assert again[4].ignored_offers == 1 and again[0].available
    # An officer's row changed: read, and still the very same tuple of helpers.
    await repo.set_display_name(officer.id, "Pat")
    same, rows, full, _ = await helpers_read(repo)
    assert same is again and (rows, full) == (1, 0)
    # A commit that changes no member: nothing read, and the very same tuple.
    await repo.create_invite(
        code(), InviteSpec(role=Role.PEER, agency=None, expires_at=LATER), NOW
    )
    same, rows, full, reads = await helpers_read(repo)
    assert same is again and (rows, full) == (0, 0)
    assert reads == ["SELECT bucket, digest FROM member_tag_buckets ORDER BY bucket"]


async def test_a_revoke_and_a_purge_by_another_connection_leave_the_list_at_once(
    repo: Repository, db_path: Path, vault: Vault
) -> None:
    peers = [await join(repo, str(100 + n)) for n in range(4)]
    await helpers_read(repo)
    cli = await Repository.open(db_path, vault)  # as `peerline roster revoke` / `purge` would
    try:
        assert await cli.set_active(peers[1].id, False)
        left, rows, full, _ = await helpers_read(repo)
        assert [m.id for m in left] == [peers[0].id, peers[2].id, peers[3].id]
        assert (rows, full) == (1, 0)
        assert await cli.purge_member(peers[3].id)
        left, rows, full, _ = await helpers_read(repo)
        assert [m.id for m in left] == [peers[0].id, peers[2].id]
        assert (rows, full) == (1, 0)
    finally:
        await cli.close()
    assert_sums_agree(db_path)


async def test_a_link_or_row_changed_without_the_key_is_read_and_refused(
    repo: Repository, db_path: Path
) -> None:
    peers = [await join(repo, str(100 + n)) for n in range(4)]
    await helpers_read(repo)
    with closing(sqlite3.connect(db_path)) as conn, conn:  # no key: the MACs stay as they were
        conn.execute("INSERT INTO supervision VALUES (?, ?)", (peers[0].id, peers[1].id))
    left, rows, full, _ = await helpers_read(repo)
    assert [m.id for m in left] == [peers[2].id, peers[3].id]  # both ends refused
    assert (rows, full) == (2, 0)
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "UPDATE members SET certified_until = '2099-01-01' WHERE id = ?", (peers[2].id,)
        )
    left, rows, full, _ = await helpers_read(repo)
    assert [m.id for m in left] == [peers[3].id]
    # Even with the tag put back as it was, the row is never served unverified: the version
    # verified before stays (until a full read), the forged one is not taken.
    with closing(sqlite3.connect(db_path)) as conn, conn:
        (tag,) = conn.execute(
            "SELECT tag FROM member_tags WHERE id = ?", (peers[3].id,)
        ).fetchone()
        conn.execute("UPDATE members SET role = 'coordinator' WHERE id = ?", (peers[3].id,))
        conn.execute("UPDATE member_tags SET tag = ? WHERE id = ?", (tag, peers[3].id))
    left, rows, full, _ = await helpers_read(repo)
    assert [(m.id, m.role) for m in left] == [(peers[3].id, Role.PEER)] and rows == 0
    assert_sums_agree(db_path)


def test_many_changed_rows_or_another_schema_read_everything() -> None:
    snapshot = ActiveSnapshot()
    tags = [(n, n) for n in range(1, 3001)]
    buckets = sorted((b, sum(t.values())) for b, t in by_bucket(tags).items())
    assert snapshot.buckets_changed(buckets, 16) is None  # nothing read yet
    snapshot.replace(buckets, 16, tags, ())
    assert snapshot.buckets_changed(list(buckets), 16) == []
    assert snapshot.buckets_changed([*buckets[:3], (3, 0), *buckets[4:], (47, 1)], 16) == [3, 47]
    assert snapshot.buckets_changed(buckets[:-1], 16) == [buckets[-1][0]]
    assert snapshot.buckets_changed(buckets, 17) is None  # a migration, a trigger dropped...
    assert snapshot.rows_changed({3: {n: n for n in range(192, 256)}}) == []
    assert snapshot.rows_changed({3: {n: n + (n == 200) for n in range(193, 257)}}) == [
        192,
        200,
        256,
    ]
    share = len(tags) // 8  # past this many, one read of every member is cheaper
    some = snapshot.rows_changed(by_bucket((n, -t if n <= share else t) for n, t in tags))
    assert some == list(range(1, share + 1))
    assert snapshot.rows_changed(by_bucket((n, -t) for n, t in tags[: share + 1])) is None
    snapshot.replace(None, 16, tags, ())  # the tags cannot be followed: always everything
    assert snapshot.buckets_changed(buckets, 16) is None


async def test_without_its_triggers_every_read_after_a_commit_reads_everything(
    repo: Repository, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    peers = [await join(repo, str(100 + n)) for n in range(3)]
    await helpers_read(repo)
    with closing(sqlite3.connect(db_path)) as conn, conn:  # as a migration that lost one
        conn.execute("DROP TRIGGER member_tag_update")
    _, rows, full, _ = await helpers_read(repo)
    assert (rows, full) == (3, 1)
    assert "member change tags are not kept" in caplog.text
    await repo.set_available(peers[0].id, True)  # no tag moves now: all read again
    helpers, rows, full, _ = await helpers_read(repo)
    assert (rows, full) == (3, 1) and helpers[0].available


async def test_member_tags_hold_no_order_of_changes(repo: Repository, db_path: Path) -> None:
    """The tag is clear metadata beside the member's number: random, so it dates nothing (a
    counter would order the members' last changes: an offer, an accept, a block)."""
    peers = [await join(repo, str(100 + n)) for n in range(12)]
    for peer in reversed(peers):
        await repo.mark_offered(peer.id, NOW)
    with closing(sqlite3.connect(db_path)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(member_tags)")]
        sums = [row[1] for row in conn.execute("PRAGMA table_info(member_tag_buckets)")]
        tags = [t for (t,) in conn.execute("SELECT tag FROM member_tags ORDER BY id")]
        (digest,) = conn.execute("SELECT digest FROM member_tag_buckets").fetchone()
    assert columns == ["id", "tag"] and sums == ["bucket", "digest"]
    assert digest == sum(tags)  # twelve members: one bucket
    assert tags != sorted(tags) and tags != sorted(tags, reverse=True)
    assert len(set(tags)) == len(tags)


async def test_the_upgrade_tags_every_member_already_there(db_path: Path, vault: Vault) -> None:
    repo = await Repository.open(db_path, vault)
    peers = [await join(repo, str(100 + n)) for n in range(70)]  # two buckets
    await repo.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:  # back to v16
        for name in TAG_TRIGGERS:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("DROP TABLE member_tags")
        conn.execute("DROP TABLE member_tag_buckets")
        conn.execute("PRAGMA user_version = 16")
    upgraded = await Repository.open(db_path, vault)
    try:
        with closing(sqlite3.connect(db_path)) as conn:
            tagged = [n for (n,) in conn.execute("SELECT id FROM member_tags ORDER BY id")]
        assert tagged == [p.id for p in peers]
        assert_sums_agree(db_path)
        await helpers_read(upgraded)
        await upgraded.set_available(peers[66].id, True)
        helpers, rows, full, _ = await helpers_read(upgraded)
        assert (rows, full) == (1, 0) and helpers[66].available
    finally:
        await upgraded.close()
