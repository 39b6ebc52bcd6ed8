"""Family members and retirees: the v14 rebuild of members and invites, the MAC over their role
and over a helper's choice to support them, the routing rule, invites and the roster CSV."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot import stats
from bot.model import Category, Member, MemberId, Role, Wanted
from bot.roster_csv import ExportRow, export_roster, parse_roster
from bot.routing import Policy, RoutingRequest, is_eligible
from bot.storage import db
from bot.storage.repository import InviteSpec, Repository
from crypto import Vault
from tests.rosters import make_member
from tests.test_cli import config_file, run
from tests.test_integrity import tamper
from tests.test_storage import LATER, NOW, code, join, tg

__all__ = ["config_file"]  # the fixture, shared with test_cli

FAMILY_VERSION = 14  # the migration that admits the two roles
TABLES = ("members", "invites", "supervision", "offers", "followup_prefs", "request_metrics")


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608 - table names are constants
            for table in TABLES
        }


async def test_the_v14_rebuild_keeps_every_row_link_and_mac(
    db_path: Path, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members and invites are rebuilt to admit the new roles; every row, every column, every
    foreign key and every MAC survives, and the members read back intact with the key."""
    every = db.migrations()
    monkeypatch.setattr(db, "migrations", lambda: every[: FAMILY_VERSION - 1])
    repo = await Repository.open(db_path, vault)
    officer = await join(repo, "111", Role.OFFICER, agency="Springfield PD")
    peer = await join(repo, "222", Role.PEER, agency="Shelbyville SO")
    boss = await join(repo, "333", Role.PEER, agency="Springfield PD")
    assert await repo.add_supervision(boss.id, officer.id)
    await repo.set_available(peer.id, True)
    await repo.set_quiet_hours(officer.id, "22:00-07:00")
    spec = InviteSpec(Role.CHAPLAIN, "Capital City PD", LATER, date(2027, 6, 30))
    await repo.create_invite(code(), replace(spec, supervisor=boss.id), NOW)
    await repo.close()
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO requests (id, officer_ct, category, wanted, outside_agency, urgent,"
            " created_at) VALUES ('r1', x'00', 'stress', 'peer', 0, 0, '2026-11-24')"
        )
        conn.execute(
            "INSERT INTO offers (request_id, helper_id, state, sent_at, expires_at, involved)"
            " VALUES ('r1', ?, 'declined', 'a', 'b', 1)",
            (peer.id,),
        )
        conn.execute(
            "INSERT INTO request_metrics (week, category, urgent, outcome, met_goal)"
            " VALUES ('2026-11-23', 'stress', 0, 'matched', 1)"
        )
        assert conn.execute("PRAGMA user_version").fetchone() == (FAMILY_VERSION - 1,)
    before = dump(db_path)

    monkeypatch.setattr(db, "migrations", lambda: every)
    repo = await Repository.open(db_path, vault)
    try:
        for member in (officer, peer, boss):
            expected = replace(member, available=member.id == peer.id)
            assert await repo.member(member.id) == expected
        assert await repo.chain_of_command(officer.id) == {boss.id}
        family = await join(repo, "444", Role.FAMILY, agency="Springfield PD")
        assert family.role is Role.FAMILY
    finally:
        await repo.close()
    after = dump(db_path)
    after["members"] = [row for row in after["members"] if row[0] != family.id]
    after["invites"] = [row for row in after["invites"] if row[1] != "family"]
    # The metrics rows gain who asked (every earlier row was an officer's): nothing else moves.
    assert [row[:-1] for row in after.pop("request_metrics")] == before.pop("request_metrics")
    assert [row[-1] for row in dump(db_path)["request_metrics"]] == ["officer"]
    assert after == before
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(every),)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE members SET role = 'sheriff' WHERE id = ?", (officer.id,))
        children = conn.execute(
            'SELECT m.name, f."from" FROM sqlite_master AS m,'
            " pragma_foreign_key_list(m.name) AS f WHERE f.\"table\" = 'members' ORDER BY 1, 2"
        ).fetchall()
        assert children == [
            ("followup_prefs", "member_id"),
            ("incident_pages", "helper_id"),
            ("invites", "supervisor_id"),
            ("offers", "helper_id"),
            ("supervision", "report_id"),
            ("supervision", "supervisor_id"),
        ]
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        # The links still act: erasing the boss's row (never committed) takes their own
        # supervision links and clears the invite that named them.
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        conn.execute("DELETE FROM members WHERE id = ?", (boss.id,))
        assert conn.execute("SELECT count(*) FROM supervision").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM invites WHERE supervisor_id IS NOT NULL"
        ).fetchone() == (0,)
        conn.execute("ROLLBACK")


async def test_a_role_changed_in_the_file_is_refused(db_path: Path, vault: Vault) -> None:
    repo = await Repository.open(db_path, vault)
    family = await join(repo, "111", Role.FAMILY, agency="Springfield PD")
    retiree = await join(repo, "222", Role.RETIREE, agency="Shelbyville SO")
    peer = await join(repo, "333", Role.PEER)
    await repo.close()
    # A spouse made a peer, and a peer made a retiree, without the key.
    tamper(db_path, "UPDATE members SET role = 'peer' WHERE id = ?", (family.id,))
    tamper(db_path, "UPDATE members SET role = 'retiree' WHERE id = ?", (peer.id,))
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.member(family.id) is None
        assert await repo.member_by_address(tg("111")) is None
        assert await repo.member(peer.id) is None
        assert await repo.member(retiree.id) == retiree  # untouched: still intact
        assert {m.id for m in await repo.members()} == {retiree.id}
    finally:
        await repo.close()


async def test_a_support_choice_added_in_the_file_is_refused(db_path: Path, vault: Vault) -> None:
    """Whether a helper is offered a family member's request is under the MAC: set with the
    key (/topics) it reads back; written into the file without it, the helper is refused."""
    repo = await Repository.open(db_path, vault)
    chose = await join(repo, "111", Role.PEER)
    other = await join(repo, "222", Role.PEER)
    assert await repo.set_topics(chose.id, frozenset({Category.MONEY}), frozenset({Role.FAMILY}))
    stored = await repo.member(chose.id)
    assert stored is not None
    assert stored.topics == {Category.MONEY} and stored.serves == {Role.FAMILY}
    await repo.close()
    tamper(db_path, "UPDATE members SET topics = 'family,retiree' WHERE id = ?", (other.id,))
    repo = await Repository.open(db_path, vault)
    try:
        assert await repo.member(chose.id) == stored
        assert await repo.member(other.id) is None
        # A refused record is not signed again by a later change.
        assert not await repo.set_topics(other.id, frozenset(), frozenset())
        assert await repo.member(other.id) is None
    finally:
        await repo.close()


def helper(
    member_id: int, *, serves: frozenset[Role] = frozenset(), agency: bytes = b"b"
) -> Member:
    return make_member(
        member_id,
        agency_hash=agency,
        certified_until=NOW.date() + timedelta(days=30),
        joined_at=NOW,
        serves=serves,
    )


@pytest.mark.parametrize("asker", [Role.FAMILY, Role.RETIREE])
def test_only_helpers_who_chose_them_are_eligible(asker: Role) -> None:
    request = RoutingRequest(
        officer_id=MemberId(1),
        officer_agency_hash=b"a",
        wanted=Wanted.EITHER,
        outside_agency=False,
        asker_role=asker,
    )
    chose, chose_other, chose_none = (
        helper(2, serves=frozenset({asker})),
        helper(3, serves=frozenset({Role.FAMILY, Role.RETIREE} - {asker})),
        helper(4),
    )

    def eligible(member: Member, req: RoutingRequest = request) -> bool:
        return is_eligible(member, req, live_threads=0, now=NOW, policy=Policy())

    assert eligible(chose)
    assert not eligible(chose_other)
    assert not eligible(chose_none)
    # An officer's request goes to all three: the choice only adds families and retirees.
    officer = replace(request, asker_role=Role.OFFICER)
    assert all(eligible(m, officer) for m in (chose, chose_other, chose_none))


def test_invite_create_takes_family_with_their_officers_agency_and_retirees(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    capsys.readouterr()
    assert run(config_file, "invite", "create", "--role", "family") == 2
    assert "--agency: the agency of their officer" in capsys.readouterr().err
    family = ("invite", "create", "--role", "family", "--agency", "Springfield PD")
    assert run(config_file, *family, "--format", "json") == 0
    (issued,) = json.loads(capsys.readouterr().out)
    assert issued["role"] == "family" and issued["agency"] == "Springfield PD"
    assert run(config_file, "invite", "create", "--role", "retiree", "--format", "json") == 0
    (issued,) = json.loads(capsys.readouterr().out)
    assert issued["role"] == "retiree" and "agency" not in issued


def test_the_roster_csv_takes_the_roles_and_the_support_choices() -> None:
    peer = helper(7)
    plan = parse_roster(
        "member,role,agency,display_name,topics\n"
        ",family,Springfield PD,,\n"
        ",retiree,,,\n"
        ",family,,,\n"
        ",retiree,,Pat,\n"
        "7,,,,money;family;retiree\n",
        {peer.id: peer},
        NOW.date(),
    )
    assert plan.errors == [
        "line 4: a new family member needs agency: their officer's agency",
        "line 5: a retiree's name is never stored; leave display_name empty",
    ]
    assert [(n.role, n.agency) for n in plan.new] == [
        (Role.FAMILY, "Springfield PD"),
        (Role.RETIREE, None),
    ]
    (change,) = plan.changes
    assert change.topics == frozenset({Category.MONEY})
    assert change.serves == frozenset({Role.FAMILY, Role.RETIREE})
    exported = export_roster([ExportRow(replace(peer, serves=frozenset(change.serves)), None, ())])
    assert exported.splitlines()[1].split(",")[5] == "family;retiree"


def test_stats_count_who_asked_with_k_anonymity() -> None:
    week = date(2026, 11, 2)

    def rows(count: int, asker: str) -> list[stats.MetricRow]:
        return [
            stats.MetricRow(week, "stress", False, True, 0.0, 60.0, True, asker=asker)
            for _ in range(count)
        ]

    report = stats.build(
        stats.Inputs([*rows(6, "officer"), *rows(5, "family"), *rows(2, "retiree")]),
        [c.value for c in Category],
        k=5,
    )
    cells = report.askers.cells[report.askers.rows.index(week.isoformat())]
    line = dict(zip(report.askers.columns, cells, strict=True))
    # Two retirees are hidden, and so is the next smallest cell of the row (else the total
    # would give them away).
    assert line == {
        "officer": 6,
        "family": None,
        "retiree": None,
        "helper": 0,
        stats.TOTAL: 13,
    }
    assert "Requests by week and who asked" in stats.to_table(report)
    assert stats.to_json(report)["askers"]["columns"] == [*stats.ASKERS, stats.TOTAL]
