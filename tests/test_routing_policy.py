"""Property tests of the routing policy's invariants (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.events import Address, Platform
from bot.model import Member, MemberId, Role, Wanted
from bot.routing import Policy, RoutingRequest, is_eligible, next_batch, rank_candidates

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
AGENCIES = [b"agency-a", b"agency-b", b"agency-c", None]


@st.composite
def members(draw: st.DrawFn, member_id: int) -> Member:
    cert = draw(st.sampled_from([None, -30, 0, 365]))
    last = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)))
    return Member(
        id=MemberId(member_id),
        role=draw(st.sampled_from(list(Role))),
        address=Address(Platform.TELEGRAM, str(member_id)),
        agency_hash=draw(st.sampled_from(AGENCIES)),
        display_name=f"helper {member_id}",
        available=draw(st.booleans()),
        certified_until=None if cert is None else NOW.date() + timedelta(days=cert),
        active=draw(st.booleans()),
        joined_at=NOW - timedelta(days=400),
        last_assigned_at=None if last is None else NOW - timedelta(minutes=last),
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy]:
    count = draw(st.integers(min_value=0, max_value=25))
    helpers = [draw(members(i)) for i in range(2, count + 2)]
    loads = {h.id: draw(st.integers(min_value=0, max_value=4)) for h in helpers}
    offered = draw(st.sets(st.sampled_from([h.id for h in helpers]))) if helpers else set()
    request = RoutingRequest(
        officer_id=MemberId(1),
        officer_agency_hash=draw(st.sampled_from(AGENCIES)),
        wanted=draw(st.sampled_from(list(Wanted))),
        outside_agency=draw(st.booleans()),
        already_offered=frozenset(offered),
    )
    policy = Policy(
        max_threads_per_helper=draw(st.integers(min_value=1, max_value=3)),
        batch_size=draw(st.integers(min_value=1, max_value=5)),
    )
    return request, helpers, loads, policy


@given(scenarios())
def test_every_ranked_helper_keeps_every_rule(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
) -> None:
    request, helpers, loads, policy = scenario
    ranked = rank_candidates(request, helpers, live_threads=loads, now=NOW, policy=policy)
    for helper in ranked:
        assert helper.active
        assert helper.available
        assert request.wanted.admits(helper.role)
        assert helper.certified_until is not None
        assert helper.certified_until >= NOW.date()
        assert loads.get(helper.id, 0) < policy.max_threads_per_helper
        assert helper.id not in request.already_offered
        if request.outside_agency and request.officer_agency_hash is not None:
            assert helper.agency_hash != request.officer_agency_hash


@given(scenarios())
def test_someone_is_offered_whenever_someone_is_eligible(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
) -> None:
    request, helpers, loads, policy = scenario
    eligible = [
        h
        for h in helpers
        if is_eligible(h, request, live_threads=loads.get(h.id, 0), now=NOW, policy=policy)
    ]
    batch = next_batch(request, helpers, live_threads=loads, now=NOW, policy=policy)
    assert len(batch) == min(len(eligible), policy.batch_size)
    assert {h.id for h in batch} <= {h.id for h in eligible}


@given(scenarios())
def test_least_recently_assigned_first(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
) -> None:
    request, helpers, loads, policy = scenario
    ranked = rank_candidates(request, helpers, live_threads=loads, now=NOW, policy=policy)
    never = datetime.min.replace(tzinfo=UTC)
    stamps = [h.last_assigned_at or never for h in ranked]
    assert stamps == sorted(stamps)


def test_expired_certification_is_not_eligible() -> None:
    helper = Member(
        id=MemberId(2),
        role=Role.PEER,
        address=Address(Platform.TELEGRAM, "2"),
        agency_hash=None,
        display_name="Sam",
        available=True,
        certified_until=date(2026, 11, 23),
        active=True,
        joined_at=NOW,
    )
    request = RoutingRequest(MemberId(1), None, Wanted.PEER, outside_agency=False)
    assert not is_eligible(helper, request, live_threads=0, now=NOW, policy=Policy())
    renewed = replace(helper, certified_until=date(2026, 11, 24))
    assert is_eligible(renewed, request, live_threads=0, now=NOW, policy=Policy())
