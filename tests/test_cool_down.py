"""Helpers resting after a heavy conversation, shown to coordinators as counts only: how many
now and how many this week, k-anonymous like every other table in the statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import stats
from bot.model import Category, Role
from bot.sandbox.harness import Sandbox
from bot.stats_collect import collect
from bot.storage.repository import Repository
from tests.conftest import FakeClock
from tests.test_e2e_debrief import hard_conversation
from tests.test_storage import NOW, join

WEEK_START = datetime(2025, 3, 10, tzinfo=UTC)  # the Monday of NOW's week (UTC)
CATEGORIES = [c.value for c in Category]


async def test_resting_now_and_earlier_this_week_are_counted_per_helper(
    repo: Repository,
) -> None:
    assert WEEK_START.weekday() == 0 and WEEK_START < NOW < WEEK_START + timedelta(days=7)
    ends = (
        [NOW + timedelta(hours=1)] * 4  # resting now
        + [NOW - timedelta(hours=1), WEEK_START + timedelta(minutes=1)] * 3  # rested this week
        + [WEEK_START, WEEK_START - timedelta(days=2)]  # their rest ended before the week
    )
    for number, until in enumerate(ends):
        helper = await join(repo, str(1000 + number), Role.PEER)
        await repo.set_cooldown(helper.id, until)
    await join(repo, "2000", Role.CHAPLAIN)  # never rested
    await join(repo, "2001", Role.OFFICER)  # not a helper: never counted

    inputs = await collect(repo, NOW)
    assert (inputs.cooling_down, inputs.rested_earlier) == (4, 6)

    report = stats.build(inputs, CATEGORIES, k=5)
    # 4 is under k; the 6 beside it is hidden too, or 10 - 6 would give the 4 away.
    assert report.cooling_down is None
    assert report.cool_down.get(stats.COOL_DOWN, stats.EARLIER) is None
    assert report.cooled_this_week == 10
    shown = stats.build(inputs, CATEGORIES, k=4)
    assert (shown.cooling_down, shown.cooled_this_week) == (4, 10)
    assert "now x, earlier this week x, this week 10" in stats.to_table(report)
    assert stats.to_json(shown)["cool_down"]["cells"][0] == [4, 6, 10]
    assert "cool_down,helpers,total,10" in stats.to_csv(report)


async def test_a_heavy_conversation_shows_in_the_coordinators_counts(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await hard_conversation(officer, peer)

    app = sandbox.app
    assert app is not None and app.repo is not None
    resting = await collect(app.repo, clock())
    assert (resting.cooling_down, resting.rested_earlier) == (1, 0)
    await coordinator.send("/stats")
    numbers = await coordinator.wait_for("Resting after a heavy one")
    # One helper: under k, so hidden, never named.
    assert "Resting after a heavy one: x now, x this week." in numbers.text
    (helper,) = await app.repo.members(roles=frozenset({Role.PEER}))
    assert helper.display_name not in numbers.text

    clock.advance(timedelta(hours=3))  # past cooldown_after_urgent (2 h), same week
    rested = await collect(app.repo, clock())
    assert (rested.cooling_down, rested.rested_earlier) == (0, 1)
