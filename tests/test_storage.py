"""Tests for bot/storage: migrations, schema privacy, and the repository's reads and writes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from bot.events import Address, Platform
from bot.model import Category, Member, MemberId, RequestId, Role, Thread, ThreadId, Wanted
from bot.storage import db
from bot.storage.repository import (
    InviteProblem,
    InviteSpec,
    OfferState,
    Repository,
    RequestRecord,
    new_request_id,
    new_thread_id,
)
from crypto import DecryptionError, Vault, new_invite_code
from crypto import normalize_invite_code as _normalize
from tests.conftest import make_vault

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
CHAT_ID = "987654321123"
AGENCY = "Springfield PD"
CONTENT_WORDS = ("text", "body", "message", "content", "caption")


def code() -> str:
    normalized = _normalize(new_invite_code())
    assert normalized is not None
    return normalized


def tg(chat_id: str) -> Address:
    return Address(Platform.TELEGRAM, chat_id)


def raw_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database with a separate plain sqlite3 connection, closed before returning."""
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql, params).fetchall())


def file_bytes(path: Path) -> bytes:
    """The main database file plus its WAL, if there is one."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


async def join(
    repo: Repository, chat_id: str, role: Role = Role.PEER, agency: str | None = AGENCY
) -> Member:
    invite = code()
    await repo.create_invite(invite, InviteSpec(role=role, agency=agency, expires_at=LATER), NOW)
    member = await repo.redeem_invite(invite, tg(chat_id), NOW)
    assert isinstance(member, Member)
    return member


# -- migrations -------------------------------------------------------------------------------


async def test_fresh_database_is_at_the_latest_schema_version(db_path: Path) -> None:
    conn = await db.connect(db_path)
    try:
        assert await db.schema_version(conn) == len(db.migrations())
    finally:
        await conn.close()


async def test_reopening_applies_no_migration_twice(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage.db")
    conn = await db.connect(db_path)
    await conn.execute("INSERT INTO threads VALUES ('t1', x'00', x'00')")
    await conn.close()
    applied = [r for r in caplog.records if "applying schema migration" in r.getMessage()]
    assert len(applied) == len(db.migrations())

    caplog.clear()
    conn = await db.connect(db_path)  # would fail on CREATE TABLE if v1 ran again
    try:
        assert await db.schema_version(conn) == len(db.migrations())
        async with conn.execute("SELECT count(*) FROM threads") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == 1
    finally:
        await conn.close()
    assert not [r for r in caplog.records if "applying schema migration" in r.getMessage()]


async def test_newer_schema_is_refused(db_path: Path, vault: Vault) -> None:
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"PRAGMA user_version = {len(db.migrations()) + 1}")
    with pytest.raises(db.SchemaTooNewError):
        await db.connect(db_path)
    with pytest.raises(db.SchemaTooNewError):
        await Repository.open(db_path, vault)


async def test_connection_uses_wal_secure_delete_and_foreign_keys(db_path: Path) -> None:
    conn = await db.connect(db_path)
    try:
        settings = {}
        for pragma in ("journal_mode", "secure_delete", "foreign_keys"):
            async with conn.execute(f"PRAGMA {pragma}") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            settings[pragma] = row[0]
    finally:
        await conn.close()
    assert settings == {"journal_mode": "wal", "secure_delete": 1, "foreign_keys": 1}


# -- schema privacy ---------------------------------------------------------------------------


async def test_no_column_can_hold_message_content(db_path: Path) -> None:
    await (await Repository.open(db_path, make_vault())).close()
    tables = [
        name
        for (name,) in raw_rows(
            db_path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]
    assert {"members", "invites", "requests", "offers", "threads"} <= set(tables)
    suspicious = []
    for table in tables:
        for column in raw_rows(db_path, f"PRAGMA table_info({table})"):
            name = str(column[1]).lower()
            if any(word in name for word in CONTENT_WORDS):
                suspicious.append(f"{table}.{name}")
    # message_ct is the sealed platform id of an offer's (or a page's) message, not its text.
    assert suspicious == ["incident_pages.message_ct", "offers.message_ct"]


# Every clear column that holds a time, and why it may. Anything that would date a match, a
# conversation or a person's activity is sealed (members.timing_ct, the thread's record) or
# kept to the day or the week. A new time column must be added here with its reason.
CLEAR_TIMES = {
    "invites.created_at": "when a coordinator made the code (an admin act)",
    "invites.expires_at": "the code's deadline",
    "invites.redeemed_at": "the day only",
    "members.joined_at": "the day only",
    "members.certified_until": "a certification's last day",
    "invites.certified_until": "a certification's last day",
    # An open request's clock, deleted (and the WAL folded) when it is matched or withdrawn;
    # the officer who asked is sealed, so no time here belongs to a named pair.
    "requests.created_at": "open requests only",
    "requests.paged_at": "open requests only",
    "requests.gave_up_at": "open requests only",
    "requests.first_status_at": "open requests only",
    "requests.first_offer_at": "open requests only",
    "offers.sent_at": "open requests only",
    "offers.expires_at": "open requests only",
    "request_metrics.week": "the Monday of the week only",
    # A critical incident's pages, deleted with the incident when it closes (its agency and
    # opening day are sealed); what stays is a row of numbers with the Monday of its week.
    "incident_pages.sent_at": "open incidents only",
    "incident_pages.expires_at": "open incidents only",
    "incident_metrics.week": "the Monday of the week only",
    # A follow-up's send time: a local day at the configured hour, never when a conversation
    # ended; whose it is stays sealed.
    "followups.due_at": "a day at the send hour",
    "followups.lease_until": "a dispatcher's claim on a due follow-up",
}
TIME_WORDS = {"at", "until", "time", "day", "week", "date", "when", "opened", "closed", "since"}


async def test_no_clear_column_dates_a_match_or_a_conversation(db_path: Path) -> None:
    await (await Repository.open(db_path, make_vault())).close()
    found = set()
    for (table,) in raw_rows(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'"):
        for column in raw_rows(db_path, f"PRAGMA table_info({table})"):
            name = str(column[1]).lower()
            if TIME_WORDS & set(name.split("_")):
                found.add(f"{table}.{name}")
    assert found == set(CLEAR_TIMES)


async def test_platform_ids_and_agency_are_not_stored_in_the_clear(
    db_path: Path, vault: Vault
) -> None:
    repo = await Repository.open(db_path, vault)
    try:
        helper = await join(repo, CHAT_ID, Role.PEER)
        officer = await join(repo, "555000111222", Role.OFFICER)
        request_id = new_request_id()
        await repo.create_request(
            RequestRecord(request_id, officer.id, Category.STRESS, Wanted.PEER, False, False, NOW)
        )
        await repo.add_offer(request_id, helper.id, NOW, LATER, "424242")
        # A second invite that stays unredeemed keeps its (sealed) agency.
        await repo.create_invite(
            code(), InviteSpec(role=Role.PEER, agency=AGENCY, expires_at=LATER), NOW
        )

        (address_ct,) = raw_rows(
            db_path, "SELECT address_ct FROM members WHERE id = ?", (helper.id,)
        )[0]
        assert CHAT_ID.encode() not in address_ct
        (message_ct,) = raw_rows(db_path, "SELECT message_ct FROM offers")[0]
        assert message_ct != b"424242"
        assert b"424242" not in message_ct
        opened = vault.open_text(
            message_ct, table="offers", column="message", row=f"{request_id}/{helper.id}"
        )
        assert opened == "424242"
        while_open = file_bytes(db_path)
    finally:
        await repo.close()
    after_close = file_bytes(db_path)
    for data in (while_open, after_close):
        assert CHAT_ID.encode() not in data
        assert AGENCY.encode() not in data
        assert AGENCY.lower().encode() not in data


# -- invites ----------------------------------------------------------------------------------


async def test_redeem_makes_a_member(repo: Repository) -> None:
    invite = code()
    spec = InviteSpec(
        role=Role.CHAPLAIN, agency=AGENCY, expires_at=LATER, certified_until=date(2026, 1, 31)
    )
    await repo.create_invite(invite, spec, NOW)
    member = await repo.redeem_invite(invite, tg(CHAT_ID), NOW)
    assert isinstance(member, Member)
    assert member.role is Role.CHAPLAIN
    assert member.agency_hash == repo.agency_hash("springfield pd ")
    assert member.agency_hash == repo.agency_hash("  SPRINGFIELD PD")
    assert member.agency_hash != repo.agency_hash("Shelbyville PD")
    assert member.address == tg(CHAT_ID)
    assert member.certified_until == date(2026, 1, 31)
    assert member.joined_at == datetime(2025, 3, 14, tzinfo=UTC)  # kept to the day
    assert member.active
    assert not member.available
    assert member.display_name == ""
    assert await repo.member(member.id) == member
    assert await repo.member_by_address(tg(CHAT_ID)) == member


async def test_invite_without_agency(repo: Repository) -> None:
    member = await join(repo, "42", Role.OFFICER, agency=None)
    assert member.agency_hash is None
    assert member.certified_until is None


async def test_invite_is_single_use(repo: Repository) -> None:
    invite = code()
    await repo.create_invite(invite, InviteSpec(Role.PEER, AGENCY, LATER), NOW)
    assert isinstance(await repo.redeem_invite(invite, tg("1"), NOW), Member)
    assert await repo.redeem_invite(invite, tg("2"), NOW) is InviteProblem.USED
    assert await repo.member_by_address(tg("2")) is None


async def test_expired_invite(repo: Repository) -> None:
    invite = code()
    await repo.create_invite(invite, InviteSpec(Role.PEER, None, NOW + timedelta(hours=1)), NOW)
    later = NOW + timedelta(hours=1)
    assert await repo.redeem_invite(invite, tg("1"), later) is InviteProblem.EXPIRED
    assert await repo.member_by_address(tg("1")) is None


async def test_unknown_invite(repo: Repository) -> None:
    assert await repo.redeem_invite(code(), tg("1"), NOW) is InviteProblem.UNKNOWN


async def test_existing_member_cannot_use_a_second_invite(repo: Repository) -> None:
    await join(repo, "1", Role.PEER)
    second = code()
    await repo.create_invite(second, InviteSpec(Role.COORDINATOR, None, LATER), NOW)
    assert await repo.redeem_invite(second, tg("1"), NOW) is InviteProblem.ALREADY_MEMBER
    member = await repo.member_by_address(tg("1"))
    assert member is not None
    assert member.role is Role.PEER
    # The refused redemption rolled back: the code is still good for someone else.
    other = await repo.redeem_invite(second, tg("2"), NOW)
    assert isinstance(other, Member)
    assert other.role is Role.COORDINATOR


async def test_concurrent_redeems_of_one_code(repo: Repository) -> None:
    invite = code()
    await repo.create_invite(invite, InviteSpec(Role.PEER, AGENCY, LATER), NOW)
    results = await asyncio.gather(
        repo.redeem_invite(invite, tg("1"), NOW), repo.redeem_invite(invite, tg("2"), NOW)
    )
    assert sum(isinstance(r, Member) for r in results) == 1
    assert [r for r in results if not isinstance(r, Member)] == [InviteProblem.USED]
    assert len(await repo.members()) == 1


# -- members ----------------------------------------------------------------------------------


async def test_unknown_address_is_not_a_member(repo: Repository) -> None:
    assert await repo.member_by_address(tg(CHAT_ID)) is None
    assert await repo.member(MemberId(12345)) is None


async def test_same_chat_id_on_another_platform_is_another_person(repo: Repository) -> None:
    await join(repo, CHAT_ID)
    assert await repo.member_by_address(Address(Platform.SIGNAL, CHAT_ID)) is None


async def test_member_updates_are_reflected(repo: Repository) -> None:
    member = await join(repo, "1", Role.PEER)
    await repo.set_available(member.id, True)
    await repo.set_display_name(member.id, "Sam")
    await repo.mark_assigned(member.id, NOW + timedelta(minutes=5))
    updated = await repo.member(member.id)
    assert updated is not None
    assert updated.available
    assert updated.display_name == "Sam"
    assert updated.last_assigned_at == NOW + timedelta(minutes=5)
    await repo.set_available(member.id, False)
    again = await repo.member_by_address(tg("1"))
    assert again is not None
    assert not again.available


async def test_members_filters_by_role(repo: Repository) -> None:
    peer = await join(repo, "1", Role.PEER)
    chaplain = await join(repo, "2", Role.CHAPLAIN)
    officer = await join(repo, "3", Role.OFFICER)
    assert [m.id for m in await repo.members()] == [peer.id, chaplain.id, officer.id]
    helpers = await repo.members(roles=frozenset({Role.PEER, Role.CHAPLAIN}))
    assert [m.id for m in helpers] == [peer.id, chaplain.id]
    assert [m.id for m in await repo.members(roles=frozenset({Role.OFFICER}))] == [officer.id]
    assert await repo.members(roles=frozenset({Role.CLINICIAN})) == []


# -- requests and offers ----------------------------------------------------------------------


async def make_request(repo: Repository, officer_id: MemberId) -> RequestRecord:
    record = RequestRecord(
        id=new_request_id(),
        officer_id=officer_id,
        category=Category.CRITICAL_INCIDENT,
        wanted=Wanted.EITHER,
        outside_agency=True,
        urgent=True,
        created_at=NOW,
    )
    await repo.create_request(record)
    return record


async def test_request_round_trip(repo: Repository, db_path: Path, vault: Vault) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    record = await make_request(repo, officer.id)
    assert await repo.request(record.id) == record
    assert await repo.open_requests() == [record]
    assert await repo.request(RequestId("rmissing")) is None

    rows = raw_rows(db_path, "SELECT officer_ct FROM requests WHERE id = ?", (record.id,))
    (officer_ct,) = rows[0]
    assert vault.open_text(officer_ct, table="requests", column="officer", row=record.id) == str(
        officer.id
    )
    # The officer id is sealed and bound to its row: it does not open anywhere else.
    with pytest.raises(DecryptionError):
        vault.open(officer_ct, table="requests", column="officer", row=new_request_id())
    with pytest.raises(DecryptionError):
        make_vault().open(officer_ct, table="requests", column="officer", row=record.id)


async def test_offers_round_trip(repo: Repository) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    first = await join(repo, "2", Role.PEER)
    second = await join(repo, "3", Role.CHAPLAIN)
    record = await make_request(repo, officer.id)
    await repo.add_offer(record.id, first.id, NOW, LATER, "777")
    await repo.add_offer(record.id, second.id, NOW + timedelta(seconds=1), LATER, None)
    offers = await repo.offers(record.id)
    assert [(o.helper_id, o.state, o.message_id) for o in offers] == [
        (first.id, OfferState.PENDING, "777"),
        (second.id, OfferState.PENDING, None),
    ]
    assert offers[0].request_id == record.id
    assert offers[0].sent_at == NOW
    assert offers[0].expires_at == LATER
    assert await repo.offers(RequestId("rmissing")) == []


async def test_set_offer_state_only_moves_pending_offers(repo: Repository) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    helper = await join(repo, "2", Role.PEER)
    record = await make_request(repo, officer.id)
    await repo.add_offer(record.id, helper.id, NOW, LATER, "9")
    assert await repo.set_offer_state(record.id, helper.id, OfferState.ACCEPTED)
    assert not await repo.set_offer_state(record.id, helper.id, OfferState.DECLINED)
    (offer,) = await repo.offers(record.id)
    assert offer.state is OfferState.ACCEPTED
    assert not await repo.set_offer_state(record.id, MemberId(999), OfferState.EXPIRED)


async def test_delete_request_wins_once_and_cascades_offers(
    repo: Repository, db_path: Path
) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    helper = await join(repo, "2", Role.PEER)
    record = await make_request(repo, officer.id)
    await repo.add_offer(record.id, helper.id, NOW, LATER, "9")
    assert await repo.delete_request(record.id)
    assert not await repo.delete_request(record.id)
    assert await repo.request(record.id) is None
    assert await repo.offers(record.id) == []
    assert raw_rows(db_path, "SELECT count(*) FROM offers") == [(0,)]


# -- threads ----------------------------------------------------------------------------------


def make_thread(officer_id: MemberId, helper_id: MemberId) -> Thread:
    return Thread(
        id=new_thread_id(),
        tag="K7",
        officer_id=officer_id,
        helper_id=helper_id,
        officer_alias="Blue Heron",
        category=Category.LINE_OF_DUTY_DEATH,
        urgent=False,
        opened_at=NOW,
    )


async def test_thread_round_trip_and_shred(repo: Repository) -> None:
    officer = await join(repo, "1", Role.OFFICER)
    helper = await join(repo, "2", Role.PEER)
    first = make_thread(officer.id, helper.id)
    second = make_thread(officer.id, helper.id)
    await repo.save_thread(first)
    await repo.save_thread(second)
    assert sorted(await repo.live_threads(), key=lambda t: t.id) == sorted(
        [first, second], key=lambda t: t.id
    )
    await repo.shred_thread(first.id)
    assert await repo.live_threads() == [second]
    await repo.shred_thread(ThreadId("tmissing"))  # shredding nothing is harmless
    assert await repo.live_threads() == [second]


async def test_shredded_thread_leaves_no_bytes_behind(db_path: Path, vault: Vault) -> None:
    repo = await Repository.open(db_path, vault)
    try:
        officer = await join(repo, "1", Role.OFFICER)
        helper = await join(repo, "2", Role.PEER)
        kept = make_thread(officer.id, helper.id)
        gone = make_thread(officer.id, helper.id)
        await repo.save_thread(kept)
        await repo.save_thread(gone)
        rows = raw_rows(
            db_path, "SELECT wrapped_key, sealed FROM threads WHERE id = ?", (gone.id,)
        )
        wrapped_key, sealed = rows[0]
        assert len(wrapped_key) > 32
        assert len(sealed) > 32
        assert wrapped_key in file_bytes(db_path)  # the check below can see them at all
        await repo.shred_thread(gone.id)
        after_shred = file_bytes(db_path)
        assert await repo.live_threads() == [kept]
    finally:
        await repo.close()
    for data in (after_shred, file_bytes(db_path)):
        assert wrapped_key not in data
        assert sealed not in data
        assert gone.id.encode() not in data


# -- concurrency ------------------------------------------------------------------------------


async def test_statements_are_serialized_on_the_shared_connection(repo: Repository) -> None:
    member = await join(repo, "1", Role.PEER)
    invite = code()
    await repo.create_invite(invite, InviteSpec(Role.CHAPLAIN, None, LATER), NOW)
    toggles = [repo.set_available(member.id, i % 2 == 0) for i in range(50)]
    results = await asyncio.gather(*toggles, repo.redeem_invite(invite, tg("2"), NOW))
    newcomer = results[-1]
    assert isinstance(newcomer, Member)
    assert newcomer.role is Role.CHAPLAIN
    final = await repo.member(member.id)
    assert final is not None
    assert not final.available  # the last toggle (i = 49) set it False
    assert len(await repo.members()) == 2


async def test_rebuilding_a_table_in_a_migration_keeps_its_children(tmp_path: Path) -> None:
    """v3 rebuilds `requests`; a declined-as-involved offer must survive it, or that helper
    would be offered the same incident again."""
    path = tmp_path / "old.db"
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    await conn.execute("PRAGMA foreign_keys = ON")
    for version, sql in db.migrations()[:2]:
        await conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    await conn.execute(
        "INSERT INTO members (platform, address_hash, address_ct, role, joined_at)"
        " VALUES ('telegram', x'01', x'01', 'peer', '2026-11-24')"
    )
    await conn.execute(
        "INSERT INTO requests (id, officer_ct, category, wanted, outside_agency, urgent,"
        " created_at) VALUES ('r1', x'00', 'stress', 'peer', 0, 0, '2026-11-24')"
    )
    await conn.execute(
        "INSERT INTO offers (request_id, helper_id, state, sent_at, expires_at, involved)"
        " VALUES ('r1', 1, 'declined', 'a', 'b', 1)"
    )
    await conn.close()

    upgraded = await db.connect(path)
    try:
        async with upgraded.execute("SELECT state, involved FROM offers") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [("declined", 1)]
        async with upgraded.execute("PRAGMA foreign_keys") as cursor:
            row = await cursor.fetchone()
            assert row is not None and row[0] == 1
    finally:
        await upgraded.close()


async def test_a_busy_checkpoint_returns_at_once_and_succeeds_later(tmp_path: Path) -> None:
    """Another process reading (the CLI, a backup) keeps old WAL frames: the checkpoint says so
    at once instead of waiting, and folds everything once the reader has gone."""
    path = tmp_path / "busy.db"
    conn = await db.connect(path)
    try:
        await conn.execute("CREATE TABLE scratch (x TEXT)")
        await conn.execute("INSERT INTO scratch VALUES ('shred-me')")
        assert await db.checkpoint(conn)
        reader = sqlite3.connect(str(path))
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM scratch").fetchall()  # holds a snapshot
            await conn.execute("DELETE FROM scratch")
            assert not await db.checkpoint(conn)
            assert b"shred-me" in path.read_bytes()  # the reader's snapshot still needs it
        finally:
            reader.close()
        assert await db.checkpoint(conn)
        wal = path.with_name("busy.db-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert b"shred-me" not in path.read_bytes()
        async with conn.execute("PRAGMA busy_timeout") as cursor:
            row = await cursor.fetchone()
            assert row is not None and 0 < row[0] <= 1000  # short, and restored after
    finally:
        await conn.close()


async def test_a_busy_shred_stays_due_and_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "due.db"
    repo = await Repository.open(path, make_vault())
    try:
        assert not repo.checkpoint_due()
        thread = make_thread(MemberId(1), MemberId(2))
        await repo.save_thread(thread)
        with closing(sqlite3.connect(path)) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM members").fetchall()
            await repo.shred_thread(thread.id)
            assert repo.checkpoint_due()
            assert not await repo.fold_wal_if_due()
            busy = [r for r in caplog.records if "WAL checkpoint busy" in r.getMessage()]
            assert len(busy) == 1
        assert await repo.fold_wal_if_due()
        assert not repo.checkpoint_due()
    finally:
        await repo.close()


async def test_spilled_chats_are_sealed_per_row_and_a_moved_one_is_skipped(
    db_path: Path, vault: Vault
) -> None:
    repo = await Repository.open(db_path, vault)
    try:
        rows = await repo.record_spilled("telegram", [CHAT_ID, "555000111222"])
        assert await repo.record_spilled("telegram", []) == {}
        assert sorted(a.chat_id for _, a in await repo.spilled_chats()) == sorted(
            [CHAT_ID, "555000111222"]
        )
        assert CHAT_ID.encode() not in file_bytes(db_path)
        # A sealed address moved to another row does not open there: skipped, not misread.
        first, second = rows[CHAT_ID], rows["555000111222"]
        (sealed,) = raw_rows(
            db_path, "SELECT address_ct FROM spilled_chats WHERE id = ?", (first,)
        )[0]
        await repo._exec("UPDATE spilled_chats SET address_ct = ? WHERE id = ?", (sealed, second))
        assert [row for row, _ in await repo.spilled_chats()] == [first]
        await repo.forget_spilled([first, second])
        assert await repo.spilled_chats() == []
    finally:
        await repo.close()


# -- write transactions ---------------------------------------------------------------------


async def test_a_write_transaction_commits_rolls_back_and_refuses_to_nest(
    repo: Repository,
) -> None:
    insert = "INSERT INTO ratings (score, helped) VALUES (5, NULL)"
    async with repo._writing():
        await repo._conn.execute(insert)
    assert len(await repo.ratings()) == 1
    with pytest.raises(ValueError, match="midway"):  # noqa: PT012 - the failing block itself
        async with repo._writing():
            await repo._conn.execute(insert)
            raise ValueError("midway")
    async with repo._writing() as transaction:
        await repo._conn.execute(insert)
        transaction.abandon()
    assert len(await repo.ratings()) == 1  # neither the failed nor the abandoned one stayed
    assert not repo._conn.in_transaction

    async with repo._writing():
        # The same task again would wait on itself for ever: refused at once instead.
        with pytest.raises(RuntimeError, match="already held"):
            async with repo._writing():
                pass
        with pytest.raises(RuntimeError, match="already held"):
            await repo.ratings()
        # Another task waits for its turn.
        other = asyncio.create_task(repo.ratings())
        await asyncio.sleep(0.01)
        assert not other.done()
        await repo._conn.execute(insert)
    assert len(await other) == 2
    async with db.write_transaction(repo._conn):
        with pytest.raises(RuntimeError, match="already open"):
            async with db.write_transaction(repo._conn):
                pass
    assert not repo._conn.in_transaction
