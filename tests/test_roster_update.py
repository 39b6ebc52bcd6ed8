"""`Roster.updated`: the routing index changed for the helpers that changed, never built again
from scratch, must be the index `Roster.of` builds from the same helpers, and choose alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.hours import parse_hours
from bot.model import Member, MemberId, Role, Wanted
from bot.routing import BatchQuery, Policy, Roster, RoutingRequest, find_batch
from tests.rosters import assert_built_alike, contents, make_member
from tests.test_routing_policy import AGENCIES, members

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
ZONE = "America/Chicago"
# Whole days, windows past midnight, and windows that cover only part of an hour.
HOURS = [
    None,
    parse_hours("mon-sun 00:00-24:00"),
    parse_hours("mon-fri 18:00-06:00"),
    parse_hours("mon-sun 21:10-03:45"),
    parse_hours("sun 22:30-23:59, mon 00:00-01:15"),
]
TIMEZONES = [None, ZONE, "Pacific/Auckland", "Asia/Kolkata", "Not/AZone"]


@st.composite
def helpers(draw: st.DrawFn, member_id: int) -> Member:
    helper = draw(members(member_id))
    return replace(
        helper,
        timezone=draw(st.sampled_from(TIMEZONES)),
        on_call=draw(st.sampled_from(HOURS)),
        active=True,
    )


@st.composite
def changed(draw: st.DrawFn, helper: Member) -> Member:
    """The same helper after something a clock step or a command commits."""
    kind = draw(st.sampled_from(["offered", "assigned", "available", "hours", "role", "all"]))
    if kind == "offered":  # an offer sent: the place in the order stays
        return replace(helper, last_offered_at=NOW - timedelta(seconds=draw(st.integers(0, 99))))
    if kind == "assigned":  # an accept: the helper moves in the order
        minutes = draw(st.one_of(st.none(), st.integers(0, 10_000)))
        moment = None if minutes is None else NOW - timedelta(minutes=minutes)
        return replace(helper, last_assigned_at=moment)
    if kind == "available":
        return replace(helper, available=not helper.available)
    if kind == "hours":
        return replace(
            helper,
            on_call=draw(st.sampled_from(HOURS)),
            timezone=draw(st.sampled_from(TIMEZONES)),
        )
    if kind == "role":
        return replace(helper, role=draw(st.sampled_from(list(Role))))
    return draw(helpers(helper.id))


def queries(data: st.DataObject, ids: list[MemberId]) -> list[tuple[datetime, BatchQuery]]:
    found = []
    for now in (NOW, NOW + timedelta(hours=data.draw(st.integers(1, 160)))):
        request = RoutingRequest(
            officer_id=MemberId(1),
            officer_agency_hash=data.draw(st.sampled_from(AGENCIES)),
            wanted=data.draw(st.sampled_from(list(Wanted))),
            outside_agency=data.draw(st.booleans()),
            first=frozenset(data.draw(st.sets(st.sampled_from(ids), max_size=2)))
            if ids
            else frozenset(),
        )
        for everyone in (False, True):
            found.append((now, BatchQuery(request, everyone=everyone, widenable=True)))
    return found


def decisions(roster: Roster, asked: list[tuple[datetime, BatchQuery]]) -> list[object]:
    chosen: list[object] = []
    for now, query in asked:
        chosen.append([roster.helpers[i].id for i in roster.available(now)])
        found = find_batch(query, roster, live_threads={}, now=now, policy=Policy(batch_size=2))
        chosen.append(([h.id for h in found.helpers], found.widened))
    return chosen


@settings(max_examples=40)
@given(st.data())
def test_an_updated_roster_is_the_roster_built_from_the_same_helpers(
    data: st.DataObject,
) -> None:
    count = data.draw(st.integers(0, 14))
    current = [data.draw(helpers(i)) for i in range(2, count + 2)]
    next_id = count + 2
    roster = Roster.of(current, ZONE)
    for _ in range(data.draw(st.integers(1, 5))):
        before = (roster.helpers, contents(roster))
        step: list[Member] = []
        for helper in current:
            what = data.draw(st.sampled_from(["same", "same", "equal", "changed", "gone"]))
            if what == "same":
                step.append(helper)
            elif what == "equal":  # read again, nothing different: another object
                step.append(replace(helper))
            elif what == "changed":
                step.append(data.draw(changed(helper)))
        for _ in range(data.draw(st.integers(0, 3))):  # joined
            step.append(data.draw(helpers(next_id)))
            next_id += 1
        previous, current = current, sorted(step, key=lambda h: h.id)
        updated = roster.updated(current)
        assert_built_alike(updated, current)
        followed = roster.updated(current, since=previous)  # what it was made from
        assert_built_alike(followed, current)
        rebuilt = Roster.of(current, ZONE)
        asked = queries(data, [h.id for h in current])
        assert decisions(updated, asked) == decisions(rebuilt, asked)
        assert decisions(followed, asked) == decisions(rebuilt, asked)
        assert (roster.helpers, contents(roster)) == before  # the old one is left as it was
        roster = data.draw(st.sampled_from([updated, followed]))


def test_an_update_with_nothing_changed_is_the_same_roster_and_many_changes_rebuild() -> None:
    crowd = [make_member(n) for n in range(2, 200)]
    roster = Roster.of(crowd, ZONE)
    assert roster.updated(crowd) is roster
    one = roster.updated([replace(crowd[0], available=False), *crowd[1:]])
    assert one._rank is None  # nobody moved: slots are still positions
    assert one._at_slot is not roster._at_slot and roster._at_slot[0] is crowd[0]
    moved = one.updated([replace(crowd[0], last_assigned_at=NOW), *crowd[1:]])
    assert moved._rank is not None and moved.helpers[-1].id == crowd[0].id
    many = moved.updated([replace(h, available=False) for h in crowd])
    assert many._rank is None  # built again
