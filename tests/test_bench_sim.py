"""Smoke test of the routing simulation (bench/routing_sim.py) with tiny parameters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.routing_sim import (
    InvariantError,
    Params,
    Request,
    SimResult,
    assert_match_allowed,
    main,
    seed_list,
    simulate,
    summarize,
)
from bench.sim_compare import differences, within_noise
from bench.sim_limits import Answer, Ask, Reach, limits, miss_of
from bot.model import Category, MemberId, Wanted
from tests.rosters import make_member

TINY = Params(seed=11, days=2, helpers=40, agencies=4, bursts=1, burst_size=6)


@pytest.fixture(scope="module")
def tiny() -> SimResult:
    # verify_prefilter: every find_batch on the pre-filtered pool is checked against the full list
    return simulate(replace(TINY, verify_prefilter=True))


def test_every_request_is_accounted_for(tiny: SimResult) -> None:
    assert len(tiny.outcomes) > 0
    assert len({o.id for o in tiny.outcomes}) == len(tiny.outcomes)
    assert sum(o.burst for o in tiny.outcomes) == TINY.burst_size
    assert tiny.counters.batch_searches > 0


def test_time_to_human_never_precedes_first_offer(tiny: SimResult) -> None:
    matched = [o for o in tiny.outcomes if o.secs_to_accept is not None]
    assert matched
    for o in matched:
        assert o.secs_to_status == 0.0
        assert o.secs_to_first_offer is not None and o.secs_to_accept is not None
        assert 0 <= o.secs_to_first_offer <= o.secs_to_accept


def test_outside_agency_never_matches_own_agency(tiny: SimResult) -> None:
    for o in tiny.outcomes:
        if o.outside_agency and o.helper_agency is not None:
            assert o.helper_agency != o.officer_agency


def test_shares_are_between_zero_and_one(tiny: SimResult) -> None:
    summary = summarize(tiny.outcomes)
    for key in ("within_goal", "widened", "paged", "gave_up", "never_matched"):
        value = summary[key]
        assert value is not None and 0.0 <= value <= 1.0, key


def test_fixed_seed_is_deterministic(tiny: SimResult) -> None:
    again = simulate(TINY)
    assert again.outcomes == tiny.outcomes
    assert again.counters == tiny.counters
    assert again.burst_days == tiny.burst_days


def test_assertion_helper_refuses_own_agency_match() -> None:
    now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    request = Request(
        id=1,
        officer_id=MemberId(1_000_001),
        agency=b"agency-01",
        wanted=Wanted.PEER,
        urgent=False,
        outside_agency=True,
        category=Category.STRESS,
        created_at=now,
        burst=False,
    )
    helper = make_member(5, agency_hash=b"agency-01", joined_at=now)
    with pytest.raises(InvariantError):
        assert_match_allowed(request, helper)
    assert_match_allowed(request, replace(helper, agency_hash=b"agency-02"))


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.json"
    args = ["--days", "1", "--helpers", "30", "--agencies", "3", "--seed", "3", "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "time to a human p50" in printed
    assert "best possible within 30 min asking each reachable helper once" in printed
    assert out.exists()


GOAL = timedelta(minutes=30)
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_miss_where_everyone_reachable_was_asked_and_said_no_is_the_limit() -> None:
    reach = Reach(
        T0,
        {MemberId(1): at(0), MemberId(2): at(4)},
        (
            Ask(MemberId(1), at(0), Answer.SILENT, None),
            Ask(MemberId(2), at(4), Answer.DECLINE, timedelta(minutes=1)),
            # asked again: a fresh answer, which "asking each once" does not count
            Ask(MemberId(1), at(5), Answer.ACCEPT, timedelta(minutes=2)),
            Ask(MemberId(3), at(31), Answer.ACCEPT, timedelta(minutes=2)),  # past the goal
        ),
    )
    miss = miss_of(7, reach, GOAL)
    assert (miss.reachable, miss.asked, miss.asked_again, miss.never_asked) == (2, 2, 1, 0)
    assert miss.first_answers == {Answer.ACCEPT: 0, Answer.DECLINE: 1, Answer.SILENT: 1}
    assert miss.late_yes == 0 and not miss.gap


def test_a_reachable_helper_never_asked_or_asked_too_late_is_a_routing_gap() -> None:
    unasked = Reach(
        T0,
        {MemberId(1): at(0), MemberId(2): at(20)},
        (Ask(MemberId(1), at(0), Answer.SILENT, None),),
    )
    miss = miss_of(1, unasked, GOAL)
    assert miss.never_asked == 1 and miss.gap
    # Reachable from the start, asked only at 27 minutes; their yes takes 5: in time had they
    # been asked at once.
    late = Reach(
        T0, {MemberId(1): at(0)}, (Ask(MemberId(1), at(27), Answer.ACCEPT, timedelta(minutes=5)),)
    )
    miss = miss_of(2, late, GOAL)
    assert miss.late_yes == 1 and miss.never_asked == 0 and miss.gap
    # Reachable only at 27 minutes: the same yes could never come in time.
    too_late = Reach(
        T0, {MemberId(1): at(27)}, (Ask(MemberId(1), at(27), Answer.ACCEPT, timedelta(minutes=5)),)
    )
    assert not miss_of(3, too_late, GOAL).gap


def test_best_possible_counts_every_gap_as_a_match() -> None:
    limit = Reach(T0, {}, ())
    gap = Reach(T0, {MemberId(1): at(0)}, ())
    found = limits({1: 60.0, 2: None, 3: 1900.0, 4: 100.0}, {2: limit, 3: gap}, GOAL)
    assert [m.request_id for m in found.misses] == [2, 3]
    assert found.measured == 0.5
    assert found.best_possible == 0.75


def test_every_request_records_who_was_reachable_and_asked(tiny: SimResult) -> None:
    assert set(tiny.reach) == {o.id for o in tiny.outcomes}
    for o in tiny.outcomes:
        reach = tiny.reach[o.id]
        assert len(reach.asks) == o.offers_sent
        deadline = reach.created_at + GOAL
        assert all(reach.created_at <= moment < deadline for moment in reach.reachable.values())
        if o.offers_sent and o.secs_to_first_offer == 0.0:
            assert reach.reachable  # offered at once: someone was reachable at once


def test_seed_lists() -> None:
    assert seed_list("1-3") == [1, 2, 3]
    assert seed_list("1,4-5") == [1, 4, 5]


def test_cli_runs_several_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--days", "1", "--helpers", "30", "--agencies", "3", "--seeds", "1-2"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 1", "| 2", "| pooled"]
    assert "best possible asking once" in lines[0]


def test_a_capped_urgent_request_never_has_more_offers_out_than_its_cap() -> None:
    # Each step checks that no request has more offers out than its slots (InvariantError).
    capped = simulate(replace(TINY, days=4, urgent_offers=3, urgent_share=0.5))
    urgent = [o for o in capped.outcomes if o.urgent]
    assert urgent and all(o.secs_to_first_offer is not None for o in urgent)
    uncapped = simulate(replace(TINY, days=4, urgent_offers=0, urgent_share=0.5))
    offers = [
        sum(o.offers_sent for o in run.outcomes if o.urgent) / len(urgent)
        for run in (capped, uncapped)
    ]
    assert offers[0] < offers[1]


def test_cli_compares_urgent_caps(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--days", "1", "--helpers", "30", "--agencies", "3", "--urgent-share", "0.5"]
    assert main([*args, "--seeds", "1-2", "--urgent-offers-grid", "0,3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Δ p90 (95%)" in lines[0]
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| 0", "| 3"]
    assert lines[3].split(" | ")[9] in {"yes", "no"}


def test_a_shift_beyond_noise_is_told_from_one_within_it() -> None:
    waits: list[float | None] = [60.0 * (1 + n % 7) for n in range(200)]
    same = differences(waits, list(reversed(waits)), 1800.0)
    assert within_noise(same)
    slower = differences(waits, [None if w is None else w + 120 for w in waits], 1800.0)
    assert not within_noise(slower) and slower[0][0] > 0 and slower[2] == (0.0, 0.0)
