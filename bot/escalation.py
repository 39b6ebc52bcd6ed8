"""The contact clock: what must happen to an open request now. Pure functions of state and now.

The ladder (all times from the request, all configurable): offers go to a batch of helpers; a
slot whose offer times out or is declined is refilled at once (a silent helper holds back only
their own slot, never the whole batch). Once the request has waited `grow_after` unmatched, the
batch grows to `grown_batch` slots (more helpers asked at once only where the first ones were
slow, instead of a bigger batch for every request). An urgent request has `urgent_offers` slots
from the start, refilled the same way, and never grows (0: it goes to every eligible helper at
once, and round again only once none of those offers is live). After `widen_after`, or at once
when nobody of the role asked for is left, the search takes chaplains as well as peers (or peers
as well as chaplains); after `page_after` the on-call coordinators are paged; after
`give_up_after` the officer gets the crisis lines and the option to keep waiting. Nobody waits
silently: with no one to offer to, coordinators are paged at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.model import MemberId, Wanted


@dataclass(frozen=True, slots=True)
class Timing:
    offer_timeout: timedelta = timedelta(minutes=3)
    widen_after: timedelta = timedelta(minutes=10)
    page_after: timedelta = timedelta(minutes=15)
    give_up_after: timedelta = timedelta(minutes=30)
    # From `grow_after` on, this many slots instead of the batch size (no more than the batch
    # size: no growth).
    grown_batch: int = 0
    grow_after: timedelta = timedelta(minutes=3)
    # An urgent request's slots (0: every eligible helper at once, no slots).
    urgent_offers: int = 0


@dataclass(frozen=True, slots=True)
class ClockState:
    """The parts of an open request the clock looks at."""

    wanted: Wanted
    urgent: bool
    created_at: datetime
    widened: bool
    paged: bool
    gave_up: bool
    # False for a debrief: a clinician or a chaplain was asked for, never a peer instead.
    widenable: bool = True


@dataclass(frozen=True, slots=True)
class PendingOffer:
    helper_id: MemberId
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ClockDecision:
    expire: tuple[MemberId, ...] = ()  # pending offers past their deadline
    widen: bool = False  # take the other helper role too, from now on
    offer: bool = False  # a slot is free and someone can be asked: send offers
    slots: int = 0  # how many new offers (`everyone_at_once`: any number, every eligible)
    page: bool = False  # page the on-call coordinators now
    give_up: bool = False  # crisis lines and "we'll keep looking" to the officer

    @property
    def idle(self) -> bool:
        return self == ClockDecision()


# Only a choice between peer and chaplain is widened; a referral to a clinician is not.
_WIDENABLE = frozenset({Wanted.PEER, Wanted.CHAPLAIN})


def can_widen(state: ClockState) -> bool:
    """A choice between peer and chaplain that has not been widened yet."""
    return state.widenable and not state.widened and state.wanted in _WIDENABLE


def effective_wanted(state: ClockState, now: datetime, timing: Timing) -> Wanted:
    """Whom to search for right now: widened on urgency or once `widen_after` has passed."""
    if not state.widenable or state.wanted not in _WIDENABLE:
        return state.wanted
    if state.urgent or state.widened or now - state.created_at >= timing.widen_after:
        return Wanted.EITHER
    return state.wanted


def everyone_at_once(state: ClockState, timing: Timing) -> bool:
    """An urgent request with no cap (`urgent_offers` 0): offered to every eligible helper at
    once, not slot by slot."""
    return state.urgent and timing.urgent_offers == 0


def batch_now(state: ClockState, now: datetime, timing: Timing, batch_size: int) -> int:
    """How many slots a request has now: `batch_size`, grown once it has waited `grow_after`;
    an urgent request `urgent_offers` from the start, never grown. (With no cap it has no
    slots: `batch_size` then only says whether to go round again.)"""
    if state.urgent:
        return timing.urgent_offers or batch_size
    if now - state.created_at < timing.grow_after:
        return batch_size
    return max(batch_size, timing.grown_batch)


def free_slots(
    state: ClockState, pending: Sequence[PendingOffer], now: datetime, timing: Timing, slots: int
) -> int:
    """How many new offers may go out now: each of the request's `slots` (`batch_now`) whose
    offer is no longer live (timed out, declined, never sent). An urgent request with no cap
    was offered to everyone eligible at once; it goes round again only once none of those
    offers is live."""
    if everyone_at_once(state, timing):
        return 0 if any(o.expires_at > now for o in pending) else max(1, slots)
    return refill(pending, now, slots)


def refill(pending: Sequence[PendingOffer], now: datetime, slots: int) -> int:
    """How many of `slots` have no live offer: each one a silent, declined or never-sent
    offer left free. (A critical incident's pages refill the same way.)"""
    return max(0, slots - sum(1 for o in pending if o.expires_at > now))


def decide(
    state: ClockState,
    pending: Sequence[PendingOffer],
    now: datetime,
    timing: Timing,
    *,
    anyone_to_offer: bool,
    batch_size: int = 1,
    widen_now: bool = False,
) -> ClockDecision:
    """What the clock requires now. `anyone_to_offer`: the routing policy found at least one
    eligible helper (for the effective wanted) who has not had this request yet. `widen_now`:
    nobody of the role asked for can be asked and no offer is live, but the other role can:
    widen at once rather than leave the officer waiting for `widen_after`."""
    waited = now - state.created_at
    expire = tuple(o.helper_id for o in pending if o.expires_at <= now)
    still_pending = len(pending) - len(expire)
    batch = batch_now(state, now, timing, batch_size)
    slots = free_slots(state, pending, now, timing, batch) if anyone_to_offer else 0
    offer = slots > 0
    widen = can_widen(state) and (state.urgent or waited >= timing.widen_after or widen_now)
    nobody = still_pending == 0 and not anyone_to_offer
    page = not state.paged and (state.urgent or waited >= timing.page_after or nobody)
    give_up = not state.gave_up and waited >= timing.give_up_after
    return ClockDecision(
        expire=expire, widen=widen, offer=offer, slots=slots, page=page, give_up=give_up
    )


def next_wake(
    state: ClockState, pending: Sequence[PendingOffer], timing: Timing, now: datetime
) -> datetime | None:
    """The next moment the clock has something to decide (None: nothing scheduled). A moment
    already due may be returned (an offer past its deadline, a step not yet taken); the batch's
    growth only while it is still ahead."""
    moments = [o.expires_at for o in pending]
    grows_at = state.created_at + timing.grow_after
    if timing.grown_batch > 0 and not state.urgent and now < grows_at:
        moments.append(grows_at)
    if can_widen(state):
        moments.append(state.created_at + timing.widen_after)
    if not state.paged:
        moments.append(state.created_at + timing.page_after)
    if not state.gave_up:
        moments.append(state.created_at + timing.give_up_after)
    return min(moments, default=None)
