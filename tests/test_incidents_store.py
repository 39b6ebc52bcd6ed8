"""The incident store: one open incident per agency, sealed records, pages like offers, a
close that leaves only numbers; key rotation re-seals it; the weekly numbers in the report; the
routing policy tries helpers on call for the officer's agency first."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot import stats
from bot.model import Category, Member, MemberId, Role, Wanted
from bot.routing import Policy, RoutingRequest, next_batch
from bot.storage.incidents import PageState
from bot.storage.repository import Repository
from crypto import Vault
from tests.conftest import make_vault
from tests.rosters import make_member
from tests.test_storage import AGENCY, join, raw_rows

NOW = datetime(2026, 11, 25, 3, 17, 41, tzinfo=UTC)  # a Wednesday


async def test_one_open_incident_per_agency_sealed_and_closed_into_numbers(
    repo: Repository, db_path: Path
) -> None:
    coordinator = await join(repo, "1", Role.COORDINATOR)
    helper = await join(repo, "2", Role.PEER, agency="Shelbyville SO")
    other = await join(repo, "3", Role.PEER, agency="Capital City PD")
    opened = await repo.open_incident(
        "  Springfield PD ", wanted=3, chaplains=True, opened_by=coordinator.id, now=NOW
    )
    assert opened is not None
    assert opened.agency == AGENCY and opened.opened_on == date(2026, 11, 25)
    assert opened.agency_hash == repo.agency_hash(AGENCY)
    again = await repo.open_incident(
        "springfield pd", wanted=1, chaplains=False, opened_by=None, now=NOW
    )
    assert again is None
    assert await repo.incident_for_agency(repo.agency_hash("SPRINGFIELD PD")) == opened
    assert await repo.incident_for_agency(repo.agency_hash("Shelbyville SO")) is None
    assert await repo.incident_for_agency(None) is None
    # Nothing about it is in the clear: two columns, the id and a padded ciphertext.
    ((incident_id, record),) = raw_rows(db_path, "SELECT id, record_ct FROM incidents")
    assert incident_id == opened.id and AGENCY.encode() not in record and b"2026" not in record

    await repo.add_page(opened.id, helper.id, NOW, NOW + timedelta(minutes=3), "m-1")
    await repo.add_page(opened.id, other.id, NOW, NOW + timedelta(minutes=3), None)
    assert await repo.set_page_state(opened.id, other.id, PageState.EXPIRED)
    assert not await repo.set_page_state(opened.id, other.id, PageState.ACCEPTED)
    assert await repo.set_page_state(opened.id, other.id, PageState.ACCEPTED, or_expired=True)
    assert await repo.set_page_state(opened.id, helper.id, PageState.DECLINED)
    assert await repo.note_involved(opened.id, helper.id)
    assert await repo.note_named(opened.id, other.id)
    pages = {p.helper_id: p for p in await repo.pages(opened.id)}
    assert pages[helper.id].message_id == "m-1" and pages[helper.id].state is PageState.DECLINED
    assert pages[other.id].state is PageState.ACCEPTED
    now_open = await repo.incident(opened.id)
    assert now_open is not None
    assert now_open.involved == {helper.id} and now_open.named == {other.id}

    metrics = await repo.close_incident(opened.id)
    assert metrics is not None
    assert (metrics.week, metrics.pages_sent, metrics.pages_accepted) == (date(2026, 11, 23), 2, 1)
    assert await repo.close_incident(opened.id) is None
    assert raw_rows(db_path, "SELECT count(*) FROM incidents") == [(0,)]
    assert raw_rows(db_path, "SELECT count(*) FROM incident_pages") == [(0,)]
    assert await repo.incident_metrics() == [metrics]
    assert not await repo.note_involved(opened.id, helper.id)


async def test_a_change_to_an_incident_keeps_one_the_cli_committed_while_it_waited(
    repo: Repository, db_path: Path, vault: Vault
) -> None:
    """The bot's read-change-seal of an incident and the CLI's write to it cannot interleave:
    a helper's "I was involved" noted while `peerline incident close` holds the write lock must
    not write back the record as it was before the close (and the close must not lose it)."""
    coordinator = await join(repo, "1", Role.COORDINATOR)
    helper = await join(repo, "2", Role.PEER, agency="Shelbyville SO")
    opened = await repo.open_incident(
        AGENCY, wanted=2, chaplains=False, opened_by=coordinator.id, now=NOW
    )
    assert opened is not None
    cli = await Repository.open(db_path, vault)  # as `peerline incident close` would
    try:
        # The CLI's sealed "closing" record, taken and then undone, to commit at a chosen moment.
        ((before,),) = raw_rows(db_path, "SELECT record_ct FROM incidents")
        assert await cli.mark_closing(opened.id)
        ((closing_record,),) = raw_rows(db_path, "SELECT record_ct FROM incidents")
    finally:
        await cli.close()
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("UPDATE incidents SET record_ct = ?", (before,))
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE incidents SET record_ct = ?", (closing_record,))
        noting = asyncio.create_task(repo.note_involved(opened.id, helper.id))
        await asyncio.sleep(0.3)  # the bot reads (and then waits to write) meanwhile
        other.execute("COMMIT")
    assert await noting
    now = await repo.incident(opened.id)
    assert now is not None
    assert now.closing and now.involved == {helper.id}


async def test_a_key_rotation_re_seals_an_open_incident(db_path: Path, vault: Vault) -> None:
    repo = await Repository.open(db_path, vault)
    helper = await join(repo, "2", Role.PEER, agency="Shelbyville SO")
    opened = await repo.open_incident(AGENCY, wanted=2, chaplains=False, opened_by=None, now=NOW)
    assert opened is not None
    await repo.note_involved(opened.id, helper.id)
    await repo.add_page(opened.id, helper.id, NOW, NOW + timedelta(minutes=3), "m-9")
    new = make_vault()
    await repo.rekey(new, lambda _step: None)
    await repo.close()
    rotated = await Repository.open(db_path, new)
    try:
        incident = await rotated.incident(opened.id)
        assert incident is not None and incident.involved == {helper.id}
        assert incident.agency == AGENCY
        assert [p.message_id for p in await rotated.pages(opened.id)] == ["m-9"]
    finally:
        await rotated.close()


def test_incidents_by_week_in_the_report_are_k_anonymous() -> None:
    week = date(2026, 11, 30)
    five = [(week, 6, 3)] * 5
    report = stats.build(stats.Inputs(metrics=[], incidents=five), ["stress"], k=5)
    assert report.incidents.columns == stats.INCIDENT_COLUMNS
    assert report.incidents.cells == ((5, 30, 15), (5, 30, 15))
    assert "Critical incidents by week" in stats.to_table(report)
    assert stats.to_json(report)["incidents"]["cells"][0] == [5, 30, 15]
    assert "incidents,2026-11-30,pages sent,30" in stats.to_csv(report)

    # One incident the week before: its row is hidden, and no total gives it away.
    report = stats.build(
        stats.Inputs(metrics=[], incidents=[(date(2026, 11, 23), 4, 2), *five]), ["stress"], k=5
    )
    alone, rest, total = report.incidents.cells
    assert alone == (None, None, None)
    for column in range(3):
        assert rest[column] is None or total[column] is None


def _helper(number: int, *, assigned: datetime | None = None) -> Member:
    return make_member(number, agency_hash=b"other", joined_at=NOW, last_assigned_at=assigned)


def test_helpers_on_call_for_the_incident_are_tried_first() -> None:
    helpers = [_helper(1), _helper(2), _helper(3, assigned=NOW - timedelta(days=9))]
    request = RoutingRequest(
        officer_id=MemberId(9),
        officer_agency_hash=b"springfield",
        wanted=Wanted.PEER,
        outside_agency=True,
        category=Category.CRITICAL_INCIDENT,
        first=frozenset({MemberId(3)}),
    )
    batch = next_batch(request, helpers, live_threads={}, now=NOW, policy=Policy(batch_size=2))
    assert [h.id for h in batch] == [3, 1]
    # The officer's own choice of helper still comes before them.
    preferred = replace(request, preferred=MemberId(2))
    batch = next_batch(preferred, helpers, live_threads={}, now=NOW, policy=Policy(batch_size=2))
    assert [h.id for h in batch] == [2]
