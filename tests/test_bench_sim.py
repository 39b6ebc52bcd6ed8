"""Smoke test of the routing simulation (bench/routing_sim.py) with tiny parameters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bench.routing_sim import (
    InvariantError,
    Params,
    Request,
    SimResult,
    assert_match_allowed,
    main,
    simulate,
    summarize,
)
from bot.events import Address, Platform
from bot.model import Category, Member, MemberId, Role, Wanted

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
    helper = Member(
        id=MemberId(5),
        role=Role.PEER,
        address=Address(Platform.TELEGRAM, "5"),
        agency_hash=b"agency-01",
        display_name="helper 5",
        available=True,
        certified_until=date(2027, 1, 1),
        active=True,
        joined_at=now,
    )
    with pytest.raises(InvariantError):
        assert_match_allowed(request, helper)
    assert_match_allowed(request, replace(helper, agency_hash=b"agency-02"))


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.json"
    args = ["--days", "1", "--helpers", "30", "--agencies", "3", "--seed", "3", "--json", str(out)]
    assert main(args) == 0
    assert "time to a human p50" in capsys.readouterr().out
    assert out.exists()
