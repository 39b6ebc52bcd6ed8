"""The follow-up store: sealed rows, atomic claims across connections, shredding deletes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.followups import Answer, FollowUp, Kind
from bot.model import Category, MemberId
from bot.storage.repository import Repository, new_followup_id
from crypto import Vault
from tests.test_storage import file_bytes, raw_rows

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def followup(member: int = 7, due: datetime = NOW, helper: int | None = 9) -> FollowUp:
    return FollowUp(
        id=new_followup_id(),
        member_id=MemberId(member),
        kind=Kind.HELPER if helper else Kind.PLAN,
        plan="helper" if helper else "suicidal_thoughts",
        anchor=date(2026, 11, 21),
        offsets=(3,),
        step=0,
        due_at=due,
        helper_id=MemberId(helper) if helper else None,
        category=Category.SUICIDAL_THOUGHTS,
        outside_agency=True,
    )


async def test_a_follow_up_round_trips_and_only_its_due_time_is_clear(
    repo: Repository, tmp_path: Path
) -> None:
    stored = followup()
    await repo.add_followup(stored)
    assert await repo.followup(stored.id) == stored
    assert await repo.followups_of(MemberId(7)) == [stored]
    assert await repo.followups_of(MemberId(9)) == []  # the helper finds nothing by their own
    (row,) = raw_rows(tmp_path / "peerline.db", "SELECT * FROM followups")
    clear = " ".join(str(v) for v in row if not isinstance(v, bytes))
    assert "suicidal" not in clear and "helper" not in clear
    assert stamp_of(NOW) in clear
    data = file_bytes(tmp_path / "peerline.db")
    assert b"suicidal" not in data and b'"helper"' not in data


def stamp_of(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


async def test_a_sealed_row_cannot_be_moved_to_another_row(
    repo: Repository, tmp_path: Path
) -> None:
    first, second = followup(), followup(member=8)
    await repo.add_followup(first)
    await repo.add_followup(second)
    await repo._exec(
        "UPDATE followups SET sealed = (SELECT sealed FROM followups WHERE id = ?) WHERE id = ?",
        (first.id, second.id),
    )
    with pytest.raises(Exception, match="authenticate"):
        await repo.followup(second.id)


async def test_replacing_keeps_one_plan_per_member(repo: Repository) -> None:
    old = followup(helper=None)
    helpers = followup()
    await repo.add_followup(old)
    await repo.add_followup(helpers)
    new = followup(helper=None, due=NOW + timedelta(days=1))
    await repo.add_followup(new, replacing=Kind.PLAN)
    assert {f.id for f in await repo.followups_of(MemberId(7))} == {helpers.id, new.id}


async def test_two_dispatchers_on_one_database_claim_each_row_once(
    tmp_path: Path, vault: Vault
) -> None:
    first = await Repository.open(tmp_path / "peerline.db", vault)
    second = await Repository.open(tmp_path / "peerline.db", vault)
    try:
        rows = [followup(member=n, due=NOW - timedelta(minutes=n)) for n in range(300)]
        for row in rows:
            await first.add_followup(row)
        claims = await asyncio.gather(
            *(
                repo.claim_due(NOW, lease=LEASE, limit=40)
                for _ in range(6)
                for repo in (first, second)
            )
        )
        claimed = [f.id for _, found in claims for f in found]
        assert len(claimed) == len(set(claimed)) == 300
        # Claimed rows are not claimable again until the lease runs out ...
        assert (await first.claim_due(NOW, lease=LEASE))[1] == []
        # ... and then they are (a dispatcher that died mid-way is recovered).
        _, again = await second.claim_due(NOW + LEASE, lease=LEASE)
        assert len(again) == 300
    finally:
        await first.close()
        await second.close()


async def test_settling_writes_the_next_state_and_deletes_finished_rows(
    repo: Repository, tmp_path: Path
) -> None:
    going, staying, future = followup(), followup(helper=None), followup(due=NOW + LEASE)
    for row in (going, staying, future):
        await repo.add_followup(row)
    token, claimed = await repo.claim_due(NOW, lease=LEASE)
    assert {f.id for f in claimed} == {going.id, staying.id}
    moved = replace(staying, step=1, due_at=NOW + timedelta(days=2))
    # Not their claim: nothing changes.
    assert await repo.settle_claimed("someone-else", [moved], [going.id]) == set()
    assert await repo.followup(going.id) is not None
    assert await repo.settle_claimed(token, [moved], [going.id]) == {going.id, staying.id}
    assert await repo.followup(going.id) is None
    assert await repo.followup(staying.id) == moved
    assert await repo.next_due() == NOW + LEASE
    assert await repo.pending_followups() == 2
    assert raw_rows(tmp_path / "peerline.db", "SELECT claim FROM followups") == [(None,)] * 2


async def test_deleting_shreds_the_link_from_the_files(repo: Repository, tmp_path: Path) -> None:
    link = followup()
    await repo.add_followup(link)
    sealed = raw_rows(tmp_path / "peerline.db", "SELECT sealed FROM followups")[0][0]
    assert sealed in file_bytes(tmp_path / "peerline.db")
    assert await repo.delete_followups([link.id]) == 1
    assert sealed not in file_bytes(tmp_path / "peerline.db")
    assert await repo.forget_member_followups(MemberId(9)) == 0


async def test_revoking_forgets_follow_ups_on_both_sides(repo: Repository) -> None:
    mine, as_helper, other = (
        followup(member=7, helper=9),
        followup(member=5, helper=7),
        followup(5),
    )
    for row in (mine, as_helper, other):
        await repo.add_followup(row)
    assert await repo.forget_member_followups(MemberId(7)) == 2
    assert [f.id for f in await repo.followups_of(MemberId(5))] == [other.id]


async def test_answers_are_counted_as_numbers_only(repo: Repository) -> None:
    await repo.count_followup("critical_incident", 0, Answer.OK)
    await repo.count_followup("critical_incident", 0, Answer.OK)
    await repo.count_followup("helper", 0, Answer.SKIPPED, 3)
    assert await repo.followup_counts() == {
        ("critical_incident", 0, "ok"): 2,
        ("helper", 0, "skipped"): 3,
    }
