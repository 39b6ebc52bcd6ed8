"""Properties of the contact clock (pure): nobody waits silently, nothing happens twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.escalation import (
    ClockState,
    PendingOffer,
    Timing,
    batch_now,
    decide,
    effective_wanted,
    everyone_at_once,
    free_slots,
    next_wake,
)
from bot.model import MemberId, Wanted

START = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TIMING = Timing()

states = st.builds(
    ClockState,
    wanted=st.sampled_from(list(Wanted)),
    urgent=st.booleans(),
    created_at=st.just(START),
    widened=st.booleans(),
    paged=st.booleans(),
    gave_up=st.booleans(),
)
pendings = st.lists(
    st.builds(
        PendingOffer,
        helper_id=st.integers(min_value=1, max_value=50).map(MemberId),
        expires_at=st.integers(min_value=0, max_value=60).map(
            lambda m: START + timedelta(minutes=m)
        ),
    ),
    max_size=5,
    unique_by=lambda o: o.helper_id,
)
moments = st.integers(min_value=0, max_value=90 * 60).map(lambda s: START + timedelta(seconds=s))


@given(states, pendings, moments, st.booleans())
def test_decisions_follow_the_ladder(
    state: ClockState, pending: list[PendingOffer], now: datetime, anyone: bool
) -> None:
    decision = decide(state, pending, now, TIMING, anyone_to_offer=anyone)
    waited = now - state.created_at
    assert set(decision.expire) == {o.helper_id for o in pending if o.expires_at <= now}
    live = [o for o in pending if o.expires_at > now]
    # New offers only when nothing is pending and someone can be asked.
    assert decision.offer == (not live and anyone)
    # Nobody left to ask and nothing pending: coordinators are paged at once.
    if not live and not anyone and not state.paged:
        assert decision.page
    if state.paged:
        assert not decision.page
    if state.gave_up:
        assert not decision.give_up
    assert decision.give_up == (not state.gave_up and waited >= TIMING.give_up_after)
    if state.urgent and not state.paged:
        assert decision.page
    if decision.widen:
        assert state.wanted in (Wanted.PEER, Wanted.CHAPLAIN) and not state.widened


@given(states, moments)
def test_effective_wanted_only_ever_widens(state: ClockState, now: datetime) -> None:
    wanted = effective_wanted(state, now, TIMING)
    assert wanted in (state.wanted, Wanted.EITHER)
    if now - state.created_at < TIMING.widen_after and not (state.urgent or state.widened):
        assert wanted is state.wanted


@given(states, pendings, moments)
def test_nothing_is_due_before_the_next_wake(
    state: ClockState, pending: list[PendingOffer], now: datetime
) -> None:
    wake = next_wake(state, pending, TIMING, now)
    if wake is None or now >= wake or state.urgent:
        return
    decision = decide(state, pending, now, TIMING, anyone_to_offer=False)
    assert decision.expire == ()
    assert not decision.widen and not decision.give_up


def test_a_whole_night_of_ticks_says_each_thing_once() -> None:
    state = ClockState(Wanted.PEER, False, START, False, False, False)
    said: list[str] = []
    for minute in range(0, 61):
        now = START + timedelta(minutes=minute)
        decision = decide(state, [], now, TIMING, anyone_to_offer=True)
        if decision.widen:
            said.append(f"widen@{minute}")
            state = replace(state, widened=True)
        if decision.page:
            said.append(f"page@{minute}")
            state = replace(state, paged=True)
        if decision.give_up:
            said.append(f"give_up@{minute}")
            state = replace(state, gave_up=True)
    assert said == ["widen@10", "page@15", "give_up@30"]


@given(
    state=states,
    pending=pendings,
    now=moments,
    anyone=st.booleans(),
    batch=st.integers(min_value=1, max_value=5),
    urgent_offers=st.sampled_from([0, 3, 4, 6, 20]),
)
def test_a_free_slot_is_refilled_without_waiting_for_the_rest_of_the_batch(
    *,
    state: ClockState,
    pending: list[PendingOffer],
    now: datetime,
    anyone: bool,
    batch: int,
    urgent_offers: int,
) -> None:
    timing = replace(TIMING, urgent_offers=urgent_offers)
    decision = decide(state, pending, now, timing, anyone_to_offer=anyone, batch_size=batch)
    live = sum(1 for o in pending if o.expires_at > now)
    if state.urgent and urgent_offers == 0:  # everyone had it at once: again once none is live
        expected = batch if anyone and live == 0 else 0
    else:  # an urgent request's slots are `urgent_offers`, each refilled as a batch's are
        slots = urgent_offers if state.urgent else batch
        expected = max(0, slots - live) if anyone else 0
    assert decision.slots == expected
    assert decision.offer == (expected > 0)
    assert everyone_at_once(state, timing) == (state.urgent and urgent_offers == 0)


CAPPED = Timing(grown_batch=5, grow_after=timedelta(minutes=3), urgent_offers=20)


def test_an_urgent_request_has_its_cap_of_slots_refilled_one_by_one() -> None:
    """Twenty slots from the first moment, never grown; a decline frees one slot at once, a
    timeout frees one at its deadline, while the other offers stay out."""
    urgent = ClockState(Wanted.EITHER, True, START, False, False, False)
    first = decide(urgent, [], START, CAPPED, anyone_to_offer=True, batch_size=3)
    assert first.offer and first.slots == 20 and first.page
    deadline = START + CAPPED.offer_timeout
    out = [PendingOffer(MemberId(i), deadline) for i in range(1, 21)]
    soon = START + timedelta(seconds=40)
    assert decide(urgent, out, soon, CAPPED, anyone_to_offer=True, batch_size=3).slots == 0
    declined = out[1:]  # a decline leaves the pending offers at once
    refill = decide(urgent, declined, soon, CAPPED, anyone_to_offer=True, batch_size=3)
    assert refill.offer and refill.slots == 1 and refill.expire == ()
    # Nineteen still out and one sent at 40 s: at the deadline the nineteen time out together.
    later = [*declined, PendingOffer(MemberId(21), soon + CAPPED.offer_timeout)]
    timed_out = decide(urgent, later, deadline, CAPPED, anyone_to_offer=True, batch_size=3)
    assert len(timed_out.expire) == 19 and timed_out.slots == 19
    assert next_wake(urgent, later, CAPPED, soon) == deadline  # no growth planned
    # Four minutes in, a batch grows to five; the urgent request keeps its twenty.
    at = START + timedelta(minutes=4)
    assert batch_now(urgent, at, CAPPED, 3) == 20
    assert free_slots(urgent, [], at, CAPPED, 20) == 20
    # Uncapped: every eligible helper at once, and round again only once none is live.
    uncapped = replace(CAPPED, urgent_offers=0)
    assert everyone_at_once(urgent, uncapped) and not everyone_at_once(urgent, CAPPED)
    assert free_slots(urgent, declined, soon, uncapped, 3) == 0
    assert free_slots(urgent, [], soon, uncapped, 3) == 3


GROWING = Timing(grown_batch=5, grow_after=timedelta(minutes=3))


def test_the_batch_grows_once_the_request_has_waited() -> None:
    state = ClockState(Wanted.PEER, False, START, False, False, False)
    live = [PendingOffer(MemberId(i), START + timedelta(minutes=4)) for i in (1, 2, 3)]
    before = START + timedelta(minutes=2, seconds=59)
    at = START + timedelta(minutes=3)
    assert decide(state, live, before, GROWING, anyone_to_offer=True, batch_size=3).slots == 0
    grown = decide(state, live, at, GROWING, anyone_to_offer=True, batch_size=3)
    assert grown.offer and grown.slots == 2  # three still out, two more asked
    assert next_wake(state, live, GROWING, before) == at
    assert next_wake(state, live, GROWING, at) == START + timedelta(minutes=4)
    # A batch already as big never shrinks, and an urgent request (everyone at once) never grows.
    assert batch_now(state, at, GROWING, 6) == 6
    assert batch_now(replace(state, urgent=True), at, GROWING, 3) == 3
    assert batch_now(state, at, TIMING, 3) == 3  # no growth configured


@given(states, pendings, moments, st.integers(min_value=1, max_value=6))
def test_the_batch_never_changes_before_the_next_wake(
    state: ClockState, pending: list[PendingOffer], now: datetime, batch: int
) -> None:
    wake = next_wake(state, pending, GROWING, now)
    if wake is None or wake <= now:
        return
    just_before = wake - timedelta(microseconds=1)
    assert batch_now(state, just_before, GROWING, batch) == batch_now(state, now, GROWING, batch)
