"""The coordinator acting on the coverage forecast in the routing simulation
(bench/coverage_fill.py, `--coverage-fill K` in bench/routing_sim.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime

import pytest

from bench.coverage_fill import MAX_SHIFT_HOURS, Taken, fill, weekly_hours
from bench.routing_sim import START, ZONE, Params, SimResult, Simulator, build_helpers
from bot.coverage import FORECAST_ROLES, forecast, on_call_count
from bot.hours import parse_hours
from bot.model import Member, MemberId, Role

# Small and thin: few helpers, so the forecast has holes in most hours.
THIN = Params(
    seed=5, days=8, helpers=40, agencies=4, bursts=1, burst_size=4, night_available_factor=0.2
)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - the simulation's seeded draws, no secret


def roster(seed: int) -> list[Member]:
    """The simulation's roster for `seed` (it draws the helpers first from its seeded rng)."""
    return build_helpers(replace(THIN, seed=seed), seeded(seed))


@pytest.mark.parametrize("minimum", [1, 3])
def test_after_the_fill_the_forecast_finds_no_hole(minimum: int) -> None:
    helpers = roster(1)
    assert forecast(helpers, START, minimum=minimum, zone=ZONE)
    changed, shifts = fill(helpers, START, minimum=minimum, zone=ZONE, rng=seeded(1))
    after = {h.id: h for h in helpers} | {h.id: h for h in changed}
    assert forecast(list(after.values()), START, minimum=minimum, zone=ZONE) == []
    assert shifts and all(1 <= s.hours <= MAX_SHIFT_HOURS for s in shifts)
    # Each helper's new hours are their old ones plus the shifts, as /hours would parse them,
    # none overlapping what they already had.
    before = {h.id: h for h in helpers}
    for helper in changed:
        own = [s for s in shifts if s.helper_id == helper.id]
        assert helper.role is before[helper.id].role and all(s.role is helper.role for s in own)
        assert helper.on_call == parse_hours(
            ", ".join(
                [str(before[helper.id].on_call)] * (before[helper.id].on_call is not None)
                + [s.text for s in own]
            )
        )
        added = weekly_hours(helper) - weekly_hours(before[helper.id])
        assert added == sum(s.hours for s in own)
    taken = Taken.of(shifts)
    assert taken.helpers == len(changed) and taken.hours == sum(s.hours for s in shifts)


def test_the_fill_asks_those_with_the_fewest_hours_first() -> None:
    helpers = roster(2)
    changed, shifts = fill(helpers, START, minimum=1, zone=ZONE, rng=seeded(2))
    first = shifts[0]
    before = {h.id: h for h in helpers}
    current = {h.id for h in helpers if h.certified_until and h.certified_until >= START.date()}
    of_role = [h for h in helpers if h.role is first.role and h.id in current]
    assert weekly_hours(before[first.helper_id]) == min(weekly_hours(h) for h in of_role)
    lapsed = {h.id for h in helpers} - current
    assert lapsed and not lapsed & {h.id for h in changed}  # they would not count


@pytest.fixture(scope="module")
def filled() -> tuple[Simulator, SimResult]:
    sim = Simulator(replace(THIN, coverage_fill=1))
    return sim, sim.run()


@pytest.fixture(scope="module")
def unfilled() -> SimResult:
    return Simulator(THIN).run()


def test_in_the_simulation_the_roster_has_no_hole_afterwards(
    filled: tuple[Simulator, SimResult],
) -> None:
    sim, result = filled
    assert result.shifts
    helpers = list(sim.helpers.values())
    assert forecast(helpers, START, minimum=1, zone=ZONE) == []
    took = {s.helper_id for s in result.shifts}
    assert all(sim.helpers[MemberId(i)].on_call is not None for i in took)


def test_requests_nobody_could_be_asked_for_at_an_uncovered_hour_now_have_someone(
    filled: tuple[Simulator, SimResult], unfilled: SimResult
) -> None:
    _, result = filled
    helpers = build_helpers(THIN, seeded(THIN.seed))  # as the run without the fill had them

    def uncovered(moment: datetime) -> bool:
        return all(on_call_count(helpers, role, moment, ZONE) == 0 for role in FORECAST_ROLES)

    stranded = [
        rid
        for rid, reach in unfilled.reach.items()
        if not reach.reachable and uncovered(reach.created_at)
    ]
    assert len(stranded) >= 5  # the thin roster leaves requests with nobody at all
    # Same seed, same requests: the fill draws from its own random stream.
    arrivals = {rid: r.created_at for rid, r in unfilled.reach.items()}
    assert {rid: r.created_at for rid, r in result.reach.items()} == arrivals
    assert all(result.reach[rid].reachable for rid in stranded)


def test_the_fill_is_deterministic_per_seed(filled: tuple[Simulator, SimResult]) -> None:
    _, result = filled
    again = Simulator(replace(THIN, coverage_fill=1)).run()
    assert again.shifts == result.shifts
    assert again.outcomes == result.outcomes
    other = Simulator(replace(THIN, coverage_fill=1, seed=THIN.seed + 1)).run()
    assert other.shifts != result.shifts


def test_fill_zero_is_the_simulation_as_it_was(unfilled: SimResult) -> None:
    assert Params().coverage_fill == 0
    assert unfilled.shifts == []


def test_a_fill_for_peers_alone_leaves_the_chaplains_hours_as_they_were() -> None:
    helpers = roster(3)
    changed, shifts = fill(helpers, START, minimum=2, zone=ZONE, rng=seeded(3), roles=[Role.PEER])
    after = list(({h.id: h for h in helpers} | {h.id: h for h in changed}).values())
    assert forecast(after, START, minimum=2, zone=ZONE, roles=[Role.PEER]) == []
    assert shifts and all(s.role is Role.PEER for s in shifts)
    chaplain_holes = forecast(helpers, START, minimum=2, zone=ZONE, roles=[Role.CHAPLAIN])
    assert chaplain_holes
    assert forecast(after, START, minimum=2, zone=ZONE, roles=[Role.CHAPLAIN]) == chaplain_holes
