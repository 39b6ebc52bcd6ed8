"""Property tests of the routing policy's invariants (pure functions, no I/O)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.events import Address, Platform
from bot.hours import WeeklyHours, Window, parse_hours
from bot.model import Category, Member, MemberId, Role, Wanted
from bot.routing import (
    BatchQuery,
    Policy,
    Roster,
    RoutingRequest,
    find_batch,
    indexed_batch,
    is_available,
    is_eligible,
    local_time,
    next_batch,
    rank_candidates,
)
from tests.rosters import make_member

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
AGENCIES = [b"agency-a", b"agency-b", b"agency-c", None]


HOURS = [None, parse_hours("mon-sun 00:00-24:00"), parse_hours("mon-fri 18:00-06:00")]


@st.composite
def members(draw: st.DrawFn, member_id: int) -> Member:
    cert = draw(st.sampled_from([None, -30, 0, 365]))
    last = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10_000)))
    cooldown = draw(st.sampled_from([None, -10, 10]))
    away = draw(st.sampled_from([None, -10, 10]))
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
        timezone=draw(st.sampled_from([None, "America/Chicago", "Pacific/Auckland"])),
        on_call=draw(st.sampled_from(HOURS)),
        away_until=None if away is None else NOW + timedelta(minutes=away),
        cooldown_until=None if cooldown is None else NOW + timedelta(minutes=cooldown),
        topics=frozenset(draw(st.sets(st.sampled_from(list(Category)), max_size=3))),
        last_offered_at=draw(
            st.one_of(st.none(), st.integers(1, 600).map(lambda m: NOW - timedelta(minutes=m)))
        ),
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy]:
    count = draw(st.integers(min_value=0, max_value=25))
    helpers = [draw(members(i)) for i in range(2, count + 2)]
    loads = {h.id: draw(st.integers(min_value=0, max_value=4)) for h in helpers}
    ids = [h.id for h in helpers]

    def some() -> frozenset[MemberId]:
        return frozenset(draw(st.sets(st.sampled_from(ids)))) if ids else frozenset()

    request = RoutingRequest(
        officer_id=MemberId(1),
        officer_agency_hash=draw(st.sampled_from(AGENCIES)),
        wanted=draw(st.sampled_from(list(Wanted))),
        outside_agency=draw(st.booleans()),
        category=draw(st.sampled_from(list(Category))),
        already_offered=some(),
        involved=some(),
        blocked=some(),
        conflicts=some(),
        preferred=draw(st.sampled_from([None, *ids])),
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
        assert is_available(helper, NOW)
        assert request.wanted.admits(helper.role)
        assert helper.id not in request.involved, "declared involvement"
        assert helper.id not in request.blocked, "the officer's private block list"
        assert helper.id not in request.conflicts, "chain of command"
        assert helper.cooldown_until is None or helper.cooldown_until <= NOW
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
    assert {h.id for h in batch} <= {h.id for h in eligible}
    if eligible:
        assert batch, "someone eligible exists, so someone is offered"
    if request.preferred in {h.id for h in eligible}:
        assert [h.id for h in batch] == [request.preferred], "the previous helper goes first"
    else:
        assert len(batch) == min(len(eligible), policy.batch_size)
    everyone = next_batch(
        request, helpers, live_threads=loads, now=NOW, policy=policy, everyone=True
    )
    assert {h.id for h in everyone} == {h.id for h in eligible}


@given(scenarios())
def test_least_recently_assigned_first(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
) -> None:
    request, helpers, loads, policy = scenario
    ranked = rank_candidates(request, helpers, live_threads=loads, now=NOW, policy=policy)
    rest = [h for h in ranked if h.id != request.preferred]
    never = datetime.min.replace(tzinfo=UTC)
    stamps = [h.last_assigned_at or never for h in rest]
    assert stamps == sorted(stamps)


def test_expired_certification_is_not_eligible() -> None:
    helper = make_member(2, certified_until=date(2026, 11, 23))
    request = RoutingRequest(MemberId(1), None, Wanted.PEER, outside_agency=False)
    assert not is_eligible(helper, request, live_threads=0, now=NOW, policy=Policy())
    renewed = replace(helper, certified_until=date(2026, 11, 24))
    assert is_eligible(renewed, request, live_threads=0, now=NOW, policy=Policy())


def test_on_call_hours_follow_the_helpers_own_zone() -> None:
    evenings = parse_hours("mon-fri 18:00-23:00")
    base = make_member(2, available=False, on_call=evenings)
    # 03:00 UTC on Tuesday is 21:00 Monday in Chicago, and 16:00 Tuesday in Auckland.
    assert is_available(replace(base, timezone="America/Chicago"), NOW)
    assert not is_available(replace(base, timezone="Pacific/Auckland"), NOW)
    # /away inside the window holds until it ends.
    away = replace(base, timezone="America/Chicago", away_until=NOW + timedelta(hours=2))
    assert not is_available(away, NOW)
    assert is_available(away, NOW + timedelta(hours=2, minutes=1)) is False  # window over


@given(scenarios())
def test_offers_rotate_among_helpers_who_are_otherwise_equal(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
) -> None:
    request, helpers, loads, policy = scenario
    ranked = rank_candidates(request, helpers, live_threads=loads, now=NOW, policy=policy)
    never = datetime.min.replace(tzinfo=UTC)
    for first, second in itertools.pairwise(ranked):
        tie = (
            request.preferred not in (first.id, second.id)
            and first.last_assigned_at == second.last_assigned_at
            and loads.get(first.id, 0) == loads.get(second.id, 0)
            and (request.category in first.topics) == (request.category in second.topics)
        )
        if tie:
            assert (first.last_offered_at or never) <= (second.last_offered_at or never)


@given(scenarios(), st.data())
def test_the_batch_finder_asks_new_helpers_then_timed_out_ones_then_the_other_role(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
    data: st.DataObject,
) -> None:
    request, helpers, loads, policy = scenario
    asked = sorted(request.already_offered)
    again = frozenset(data.draw(st.sets(st.sampled_from(asked)))) if asked else frozenset()
    query = BatchQuery(
        request,
        asked_again=again,
        live=data.draw(st.booleans()),
        everyone=data.draw(st.booleans()),
        widenable=data.draw(st.booleans()),
        preferred_alone=data.draw(st.booleans()),  # False: an urgent request's first offers
    )
    found = find_batch(query, Roster.of(helpers), live_threads=loads, now=NOW, policy=policy)

    def batch(wanted: Wanted, excluded: frozenset[MemberId]) -> list[MemberId]:
        view = replace(request, wanted=wanted, already_offered=excluded)
        chosen = next_batch(
            view,
            helpers,
            live_threads=loads,
            now=NOW,
            policy=policy,
            everyone=query.everyone,
            preferred_alone=query.preferred_alone,
        )
        return [h.id for h in chosen]

    searches = [
        (wanted, excluded)
        for wanted in [request.wanted, *([Wanted.EITHER] if query.widenable else [])]
        for excluded in [request.already_offered, request.already_offered - again]
    ]
    if query.live:  # an offer is live: only new helpers of the role asked for
        searches = searches[:1]
    expected = next(((i, ids) for i, (w, x) in enumerate(searches) if (ids := batch(w, x))), None)
    if expected is None:
        assert found.helpers == [] and not found.widened
    else:
        index, ids = expected
        assert [h.id for h in found.helpers] == ids
        assert found.widened == (index >= 2)
    assert not {h.id for h in found.helpers} & (request.already_offered - again)


def test_a_timed_out_helper_is_asked_again_only_when_nobody_new_is_left() -> None:
    peers = [make_member(2), make_member(3)]
    chaplain = make_member(4, Role.CHAPLAIN)
    request = RoutingRequest(
        MemberId(1),
        None,
        Wanted.PEER,
        outside_agency=False,
        already_offered=frozenset({MemberId(2)}),
    )

    def ids(query: BatchQuery, roster: list[Member]) -> tuple[list[MemberId], bool]:
        found = find_batch(query, Roster.of(roster), live_threads={}, now=NOW, policy=Policy())
        return [h.id for h in found.helpers], found.widened

    timed_out = BatchQuery(request, asked_again=frozenset({MemberId(2)}), widenable=True)
    assert ids(timed_out, [*peers, chaplain]) == ([MemberId(3)], False)
    assert ids(timed_out, [peers[0], chaplain]) == ([MemberId(2)], False)
    assert ids(replace(timed_out, live=True), [peers[0], chaplain]) == ([], False)
    declined = BatchQuery(request, widenable=True)
    assert ids(declined, [peers[0], chaplain]) == ([MemberId(4)], True)
    assert ids(replace(declined, widenable=False), [peers[0], chaplain]) == ([], False)


# Moments around both clock changes in Chicago (8 March and 1 November 2026) and a plain week.
MOMENTS = [
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
]
ZONES = [None, "America/Chicago", "Pacific/Auckland", "Asia/Kolkata", "Not/AZone", ""]
TIES = [NOW - timedelta(hours=2), NOW - timedelta(hours=1)]


def hours_near(data: st.DataObject, local: datetime) -> WeeklyHours | None:
    """On-call hours, often starting or ending within a minute of `local` (the helper's own
    wall clock), some running past midnight or past Sunday into Monday."""
    if data.draw(st.booleans()):
        return data.draw(st.sampled_from(HOURS))
    minute = local.hour * 60 + local.minute
    hour = minute - minute % 60
    near = st.one_of(
        st.sampled_from([-61, -60, -1, 0, 1, 59, 60, 61, 600]).map(lambda m: minute + m),
        st.sampled_from([-60, 0, 59, 60, 119]).map(lambda m: hour + m),  # the local hour's ends
    )
    windows = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        start = data.draw(near)
        day = (local.weekday() + start // 1440) % 7
        end = data.draw(near) % 1440
        windows.append(Window(day, start % 1440, end))
    return WeeklyHours(tuple(windows))


@given(scenarios(), st.data())
def test_the_indexed_roster_chooses_exactly_what_filtering_and_sorting_every_helper_does(
    scenario: tuple[RoutingRequest, list[Member], dict[MemberId, int], Policy],
    data: st.DataObject,
) -> None:
    request, helpers, loads, policy = scenario
    base = data.draw(st.sampled_from(MOMENTS))
    # Whole minutes, so windows are met on their first and last minute too.
    minutes = data.draw(st.integers(-3 * 60, 3 * 60) | st.sampled_from([-1, 29, 59]))
    now = base + timedelta(minutes=minutes, seconds=data.draw(st.sampled_from([0, 0, 59])))
    zone = data.draw(st.sampled_from(["America/Chicago", "UTC", "Pacific/Auckland"]))
    ids = sorted(h.id for h in helpers)

    def few() -> frozenset[MemberId]:  # so that someone is often left to choose
        if not ids:
            return frozenset()
        return frozenset(data.draw(st.sets(st.sampled_from(ids), max_size=2)))

    request = replace(
        request,
        officer_id=data.draw(st.sampled_from([MemberId(1), *ids[:2]])),  # a helper asks too
        asker_role=data.draw(st.sampled_from([Role.OFFICER, Role.FAMILY, Role.RETIREE])),
        first=few(),
        already_offered=few(),
        involved=few(),
        blocked=few(),
        conflicts=few(),
    )
    askers = st.sets(st.sampled_from([Role.FAMILY, Role.RETIREE]))
    roster = []
    loads = dict(loads)
    for helper in helpers:
        placed = replace(
            helper,
            timezone=data.draw(st.sampled_from(ZONES)),
            serves=frozenset(data.draw(askers)),
        )
        placed = replace(
            placed,
            on_call=hours_near(data, local_time(placed, now, zone)),
            away_until=data.draw(
                st.sampled_from([None, now, now + timedelta(minutes=5), now - timedelta(1)])
            ),
            cooldown_until=data.draw(st.sampled_from([None, now, now + timedelta(minutes=1)])),
            identity_hold=data.draw(st.booleans()),
            max_threads=data.draw(st.sampled_from([None, None, 0, 1, 2])),
            # Runs of helpers last assigned at the same moment, never or not: load, specialty,
            # last offer and id order them.
            last_assigned_at=data.draw(st.sampled_from([helper.last_assigned_at, None, *TIES])),
            last_offered_at=data.draw(st.sampled_from([helper.last_offered_at, None, TIES[0]])),
        )
        if data.draw(st.booleans()):  # a working helper: the rules left then decide
            placed = replace(
                placed,
                role=data.draw(st.sampled_from([Role.PEER, Role.CHAPLAIN])),
                active=True,
                identity_hold=False,
                certified_until=date(2027, 6, 1),
                cooldown_until=data.draw(st.sampled_from([None, None, now + timedelta(1)])),
                serves=frozenset({Role.FAMILY, Role.RETIREE}),
            )
            loads[placed.id] = data.draw(st.sampled_from([0, 0, 1]))
        roster.append(placed)
    everyone = data.draw(st.booleans())
    # An urgent request's first offers: more at once, a previous helper not alone.
    alone = data.draw(st.booleans())
    policy = replace(policy, batch_size=data.draw(st.sampled_from([policy.batch_size, 20])))
    query = BatchQuery(request, everyone=everyone, preferred_alone=alone)
    found = find_batch(query, Roster.of(roster, zone), live_threads=loads, now=now, policy=policy)
    naive = next_batch(
        request,
        roster,
        live_threads=loads,
        now=now,
        policy=policy,
        everyone=everyone,
        default_zone=zone,
        preferred_alone=alone,
    )
    assert [h.id for h in found.helpers] == [h.id for h in naive]
    indexed = Roster.of(roster, zone)
    one_search = indexed_batch(
        request,
        indexed,
        live_threads=loads,
        now=now,
        policy=policy,
        everyone=everyone,
        preferred_alone=alone,
    )
    assert [h.id for h in one_search] == [h.id for h in naive]
    available = {indexed.helpers[i].id for i in indexed.available(now)}
    assert available == {h.id for h in roster if is_available(h, now, zone)}


def test_the_indexed_roster_puts_incident_helpers_first_and_keeps_opt_in_askers() -> None:
    def helper(number: int, minutes_ago: int | None, serves: frozenset[Role]) -> Member:
        assigned = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
        return make_member(number, last_assigned_at=assigned, serves=serves)

    family = frozenset({Role.FAMILY})
    roster = [helper(2, None, family), helper(3, 90, frozenset()), helper(4, 60, family)]
    roster += [helper(5, 5, family), helper(6, 1, family)]
    request = RoutingRequest(MemberId(1), None, Wanted.PEER, outside_agency=False)
    cases = [
        request,
        replace(request, first=frozenset({MemberId(6)})),
        replace(request, first=frozenset({MemberId(6), MemberId(3)})),
        replace(request, asker_role=Role.FAMILY),
        replace(request, asker_role=Role.FAMILY, first=frozenset({MemberId(3), MemberId(5)})),
    ]
    expected = [[2, 3, 4], [6, 2, 3], [3, 6, 2], [2, 4, 5], [5, 2, 4]]
    for case, ids in zip(cases, expected, strict=True):
        found = find_batch(
            BatchQuery(case), Roster.of(roster), live_threads={}, now=NOW, policy=Policy()
        )
        assert [h.id for h in found.helpers] == ids
        assert ids == [
            h.id for h in next_batch(case, roster, live_threads={}, now=NOW, policy=Policy())
        ]
    # Never assigned, all four: the scan must see the whole tie to find the specialty match.
    ties = [helper(n, None, family) for n in (2, 7, 8)]
    ties.append(replace(helper(9, None, family), topics=frozenset({Category.MONEY})))
    asking = replace(request, category=Category.MONEY)
    found = find_batch(
        BatchQuery(asking), Roster.of(ties), live_threads={}, now=NOW, policy=Policy()
    )
    assert [h.id for h in found.helpers] == [9, 2, 7]
    # On call for the incident, all never assigned: the less loaded, then the specialty first.
    on_call = replace(asking, first=frozenset({MemberId(2), MemberId(7), MemberId(9)}))
    busy = {MemberId(2): 1}
    for everyone, ids in ((False, [9, 7, 2]), (True, [9, 7, 2, 8])):
        query = BatchQuery(on_call, everyone=everyone)
        found = find_batch(query, Roster.of(ties), live_threads=busy, now=NOW, policy=Policy())
        assert [h.id for h in found.helpers] == ids
        naive = next_batch(
            on_call, ties, live_threads=busy, now=NOW, policy=Policy(), everyone=everyone
        )
        assert [h.id for h in naive] == ids
