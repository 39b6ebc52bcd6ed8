"""A month of requests through the real routing policy and contact clock, on a virtual clock.

Run with ``python -m bench.routing_sim`` (``make bench``). No database, no network, no sleeping:
an event heap of (time, seq, event) drives the same pure functions the app uses —
`bot.escalation.effective_wanted`, `bot.routing.find_batch` (the first round, the second round
that may re-offer helpers whose offers merely expired, the other role when exhausted),
`bot.escalation.decide` and `bot.escalation.next_wake` — exactly as `handlers.matching.advance`
combines them. Only the bookkeeping the database would hold (requests, offers, live threads,
helpers' records) is kept here in plain Python; helpers are updated with `dataclasses.replace`,
as the repository would.

What helpers and officers do (arrivals, acceptance delays, declines, no-shows, conversation
lengths, /available toggles, on-call hours) is a stochastic model whose knobs are CLI flags.
"""

from __future__ import annotations

import argparse
import enum
import heapq
import json
import math
import random
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import coverage_fill, sim_limits
from bench.coverage_fill import Shift, Taken
from bench.sim_compare import Pooled, percentile, render_grid
from bench.sim_limits import Ask, Limits, Reach
from bot.config import ProgramConfig, RoutingConfig
from bot.coverage import FORECAST_ROLES
from bot.escalation import (
    ClockState,
    PendingOffer,
    batch_now,
    can_widen,
    decide,
    effective_wanted,
    everyone_at_once,
    next_wake,
)
from bot.events import Address, Platform
from bot.hours import DAYS, current_window_end, parse_hours
from bot.model import HEAVY_CATEGORIES, TOPICS, Category, Member, MemberId, Role, Wanted
from bot.routing import (
    BatchQuery,
    FoundBatch,
    Roster,
    RoutingRequest,
    find_batch,
    is_available,
    local_time,
)
from handlers.matching import policy_of, timing_of

ZONE = ProgramConfig().timezone  # "America/Chicago", the program's default zone
# Monday 2 November 2026, local midnight (the day after the autumn clock change).
START = datetime(2026, 11, 2, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
OFFICER_IDS = 1_000_000  # officers' ids start here; helpers are 1..N


class InvariantError(AssertionError):
    """The simulation saw something the routing rules promise can never happen."""


@dataclass(frozen=True, slots=True)
class Params:
    seed: int = 7
    days: int = 30
    helpers: int = 800
    agencies: int = 40
    chaplain_share: float = 0.15
    lapsed_share: float = 0.03
    available_share: float = 0.10  # said /available, at any moment
    night_available_factor: float = 1.0  # scales available_share 23:00-07:00 local
    toggle_every_hours: float = 3.0
    toggle_fraction: float = 0.5  # share of helpers whose /available is redrawn per toggle
    on_call_share: float = 0.60
    requests_per_day: float = 15.0
    urgent_share: float = 0.10
    outside_share: float = 0.40
    chaplain_wanted_share: float = 0.15  # of non-urgent requests
    either_wanted_share: float = 0.30  # of non-urgent requests; the rest want a peer
    bursts: int = 2
    burst_size: int = 12
    burst_window_minutes: float = 120.0
    accept_median_minutes: float = 2.5
    accept_sigma: float = 0.5
    decline_share: float = 0.20
    no_show_share: float = 0.35
    decline_median_minutes: float = 1.5
    thread_median_minutes: float = 40.0
    thread_sigma: float = 0.6
    patience_minutes: float = 120.0  # the officer stops looking after this long unmatched
    # An expired offer keeps its Accept button (handlers.matching._expire_offer), and so does
    # an offer sent again in a newer message (_send_offers); handlers.offers._accept takes it
    # while the request is open, unless the helper has declined since. --no-late-accepts models
    # the old behaviour (the expiry edit removed the buttons, so a late accept was lost).
    no_late_accepts: bool = False
    # The behaviour before 2026-11-29: asking a helper again edited the old offer's Accept away,
    # so a yes already on its way was lost.
    re_ask_removes_accept: bool = False
    verify_prefilter: bool = False  # also run find_batch on every helper and compare
    # The coordinator acts on the coverage forecast (bench/coverage_fill.py): at the start and
    # every Monday 08:00, as the app's weekly job, helpers sign up for extra on-call hours until
    # at least this many of each role are on call in every hour of the coming week. 0: off.
    coverage_fill: int = 0
    coverage_fill_peers_only: bool = False  # the forecast and the fill for peers alone
    # [routing] settings to try (the defaults are RoutingConfig's).
    offer_batch: int = RoutingConfig().offer_batch
    offer_batch_grows_to: int = RoutingConfig().offer_batch_grows_to
    offer_batch_grows_after_minutes: float = (
        RoutingConfig().offer_batch_grows_after.total_seconds() / 60
    )
    urgent_offers: int = RoutingConfig().urgent_offers  # 0: every eligible helper at once


def routing_config(params: Params) -> RoutingConfig:
    return replace(
        RoutingConfig(),
        offer_batch=params.offer_batch,
        offer_batch_grows_to=params.offer_batch_grows_to,
        offer_batch_grows_after=timedelta(minutes=params.offer_batch_grows_after_minutes),
        urgent_offers=params.urgent_offers,
    )


# -- the world -------------------------------------------------------------------------------


def _agency(index: int) -> bytes:
    return f"agency-{index:02d}".encode()


def _agency_weights(count: int) -> list[float]:
    """A few big departments and many small ones (Zipf-like, exponent 0.8)."""
    return [1.0 / (rank + 1) ** 0.8 for rank in range(count)]


def _on_call_text(rng: random.Random) -> str:
    """2-3 weekdays, one 4-6 hour evening or overnight window, e.g. "tue 21:00-03:00, ..."."""
    days = sorted(rng.sample(range(5), rng.choice((2, 3))))
    start = rng.choice((17, 18, 19, 20)) if rng.random() < 0.5 else rng.choice((21, 22, 23))
    end = (start + rng.choice((4, 5, 6))) % 24
    return ", ".join(f"{DAYS[d]} {start:02d}:00-{end:02d}:00" for d in days)


def build_helpers(params: Params, rng: random.Random) -> list[Member]:
    weights = _agency_weights(params.agencies)
    helpers: list[Member] = []
    for index in range(1, params.helpers + 1):
        role = Role.CHAPLAIN if rng.random() < params.chaplain_share else Role.PEER
        lapsed = rng.random() < params.lapsed_share
        cert_days = -rng.randint(1, 200) if lapsed else rng.randint(60, 3 * 365)
        hours = parse_hours(_on_call_text(rng)) if rng.random() < params.on_call_share else None
        helpers.append(
            Member(
                id=MemberId(index),
                role=role,
                address=Address(Platform.TELEGRAM, str(index)),
                agency_hash=_agency(rng.choices(range(params.agencies), weights)[0]),
                display_name=f"helper {index}",
                available=not lapsed and rng.random() < params.available_share,
                certified_until=START.date() + timedelta(days=cert_days),
                active=True,
                joined_at=START - timedelta(days=rng.randint(30, 900)),
                timezone=ZONE if hours is not None else None,
                on_call=hours,
                topics=frozenset(rng.sample(TOPICS, rng.randint(1, 3))),
            )
        )
    return helpers


# -- requests, offers, outcomes --------------------------------------------------------------


class OfferState(enum.Enum):
    PENDING = "pending"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(slots=True)
class Offer:
    helper_id: MemberId
    expires_at: datetime
    token: int  # which sending of the offer a helper's answer belongs to
    state: OfferState = OfferState.PENDING


@dataclass(slots=True)
class Request:
    id: int
    officer_id: MemberId
    agency: bytes
    wanted: Wanted
    urgent: bool
    outside_agency: bool
    category: Category
    created_at: datetime
    burst: bool
    offers: dict[MemberId, Offer] = field(default_factory=dict)
    widened: bool = False
    paged_at: datetime | None = None
    gave_up_at: datetime | None = None
    first_status_at: datetime | None = None
    first_offer_at: datetime | None = None
    offers_sent: int = 0
    asks: list[Ask] = field(default_factory=list)
    reachable: dict[MemberId, datetime] = field(default_factory=dict)  # within the goal


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request, as the metrics table would record it (seconds from the request)."""

    id: int
    day: int  # 0-based simulation day (local)
    local_hour: int
    burst: bool
    burst_day: bool
    urgent: bool
    wanted: str
    outside_agency: bool
    officer_agency: str
    secs_to_status: float | None
    secs_to_first_offer: float | None
    secs_to_accept: float | None
    helper_id: int | None
    helper_agency: str | None
    helper_role: str | None
    widened: bool
    paged: bool
    gave_up: bool
    offers_sent: int


def clock_view(request: Request) -> tuple[ClockState, list[PendingOffer]]:
    """What the contact clock decides on, as handlers.matching.clock_state builds it."""
    state = ClockState(
        wanted=request.wanted,
        urgent=request.urgent,
        created_at=request.created_at,
        widened=request.widened,
        paged=request.paged_at is not None,
        gave_up=request.gave_up_at is not None,
    )
    pending = [
        PendingOffer(o.helper_id, o.expires_at)
        for o in request.offers.values()
        if o.state is OfferState.PENDING
    ]
    return state, pending


def assert_match_allowed(request: Request, helper: Member) -> None:
    """The rules the accepted helper must keep, checked at the moment of the match."""
    if request.outside_agency and helper.agency_hash == request.agency:
        raise InvariantError(f"request {request.id}: outside-agency matched to own agency")
    if not request.wanted.admits(helper.role) and not (request.widened or request.urgent):
        raise InvariantError(f"request {request.id}: {helper.role} not asked for")
    if helper.certified_until is None or helper.certified_until < request.created_at.date():
        raise InvariantError(f"request {request.id}: matched to an uncertified helper")


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrive:
    request: Request


@dataclass(frozen=True, slots=True)
class Wake:
    request_id: int


@dataclass(frozen=True, slots=True)
class Answer:
    request_id: int
    helper_id: MemberId
    token: int
    accept: bool


@dataclass(frozen=True, slots=True)
class ThreadEnd:
    helper_id: MemberId
    heavy: bool


@dataclass(frozen=True, slots=True)
class Recheck:
    """Something may have become free (a cooldown ended, an on-call hour began)."""


@dataclass(frozen=True, slots=True)
class Toggle:
    """Some helpers say /available or stop being available."""


@dataclass(frozen=True, slots=True)
class GiveUpWaiting:
    request_id: int


@dataclass(frozen=True, slots=True)
class FillCoverage:
    """The coordinator reads the coverage forecast and fills its holes."""


Event = Arrive | Wake | Answer | ThreadEnd | Recheck | Toggle | GiveUpWaiting | FillCoverage


@dataclass(slots=True)
class Counters:
    batch_searches: int = 0  # find_batch calls
    helpers_searched: int = 0  # helpers handed to find_batch, summed
    decisions: int = 0  # decide calls
    offers_sent: int = 0
    accepts: int = 0
    late_accepts: int = 0  # the helper answered after the offer had expired
    busy_accepts: int = 0  # refused: the helper was at capacity by then
    declines: int = 0
    expiries: int = 0
    set_away: int = 0  # helpers set away after ignored offers
    events: int = 0


@dataclass(slots=True)
class SimResult:
    params: Params
    outcomes: list[Outcome]
    counters: Counters
    burst_days: list[int]
    runtime_s: float
    reach: dict[int, Reach] = field(default_factory=dict)
    shifts: list[Shift] = field(default_factory=list)  # on-call hours taken on (--coverage-fill)


# -- the simulator ---------------------------------------------------------------------------


class Simulator:
    def __init__(self, params: Params) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        routing = routing_config(params)
        # As handlers.matching.routing_policy and clock_timing build them from the config.
        self.policy = policy_of(routing)
        self.timing = timing_of(routing)
        self.cooldown = routing.cooldown_after_urgent
        self.goal = routing.contact_goal
        self.ignored_before_away = routing.ignored_offers_before_away
        self.helpers: dict[MemberId, Member] = {h.id: h for h in build_helpers(params, self.rng)}
        self.loads: dict[MemberId, int] = {}
        self.ignored: dict[MemberId, int] = {}
        self.open: dict[int, Request] = {}
        self.outcomes: list[Outcome] = []
        self.counters = Counters()
        self.heap: list[tuple[datetime, int, Event]] = []
        self.seq = 0
        self.tokens = 0
        self.now = START
        self.planned_wake: dict[int, datetime] = {}
        self.avail_cache: dict[MemberId, tuple[int, bool]] = {}
        self.pool: tuple[int, Roster] | None = None  # (clock hour, candidates)
        self.end = START + timedelta(days=params.days)
        self.burst_days: list[int] = []
        self.reach: dict[int, Reach] = {}
        # Its own stream, so the fill leaves the world's draws (arrivals, answers) as they were.
        self.fill_rng = random.Random(f"coverage-fill-{params.seed}")
        self.shifts: list[Shift] = []

    # -- plumbing ----------------------------------------------------------------------------

    def push(self, at: datetime, event: Event) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, event))

    def minutes(self, median: float, sigma: float) -> timedelta:
        return timedelta(minutes=self.rng.lognormvariate(math.log(median), sigma))

    def set_helper(self, helper: Member) -> None:
        self.helpers[helper.id] = helper
        self.avail_cache.pop(helper.id, None)
        self.pool = None

    # -- arrivals ----------------------------------------------------------------------------

    def schedule_arrivals(self) -> None:
        p = self.p
        weights = _agency_weights(p.agencies)
        arrivals: list[tuple[datetime, bool, bytes | None]] = []
        t = START
        while True:
            t += timedelta(days=self.rng.expovariate(p.requests_per_day))
            if t >= self.end:
                break
            arrivals.append((t, False, None))
        bursts = min(p.bursts, p.days)
        self.burst_days = sorted(self.rng.sample(range(p.days), bursts))
        for day in self.burst_days:
            agency = _agency(self.rng.choices(range(p.agencies), weights)[0])
            incident = START + timedelta(days=day, hours=self.rng.uniform(0, 22))
            for _ in range(p.burst_size):
                at = incident + timedelta(minutes=self.rng.uniform(0, p.burst_window_minutes))
                arrivals.append((at, True, agency))
        arrivals.sort(key=lambda a: a[0])
        for index, (at, burst, burst_agency) in enumerate(arrivals):
            urgent = self.rng.random() < p.urgent_share
            if urgent:
                wanted, category = Wanted.EITHER, Category.NOT_SAFE
            else:
                u = self.rng.random()
                wanted = (
                    Wanted.CHAPLAIN
                    if u < p.chaplain_wanted_share
                    else Wanted.EITHER
                    if u < p.chaplain_wanted_share + p.either_wanted_share
                    else Wanted.PEER
                )
                category = Category.CRITICAL_INCIDENT if burst else self.rng.choice(TOPICS)
            agency = burst_agency or _agency(self.rng.choices(range(p.agencies), weights)[0])
            request = Request(
                id=index,
                officer_id=MemberId(OFFICER_IDS + index),
                agency=agency,
                wanted=wanted,
                urgent=urgent,
                outside_agency=burst or self.rng.random() < p.outside_share,
                category=category,
                created_at=at,
                burst=burst,
            )
            self.push(at, Arrive(request))

    def schedule_world(self) -> None:
        horizon = self.end + timedelta(minutes=self.p.patience_minutes)
        hour = START + timedelta(hours=1)
        while hour <= horizon:  # on-call windows start and end on the hour
            self.push(hour, Recheck())
            hour += timedelta(hours=1)
        toggle = START + timedelta(hours=self.p.toggle_every_hours * self.rng.random())
        while toggle <= horizon:
            self.push(toggle, Toggle())
            toggle += timedelta(hours=self.p.toggle_every_hours)
        if self.p.coverage_fill > 0:
            for moment in fill_moments(self.end):
                self.push(moment, FillCoverage())

    def fill_coverage(self) -> None:
        """What a coordinator does with the forecast the app sends: the real forecast, the
        helpers' new hours applied as the repository would (and routing then sees them)."""
        helpers, shifts = coverage_fill.fill(
            list(self.helpers.values()),
            self.now,
            minimum=self.p.coverage_fill,
            zone=ZONE,
            rng=self.fill_rng,
            roles=(Role.PEER,) if self.p.coverage_fill_peers_only else FORECAST_ROLES,
        )
        for helper in helpers:
            self.set_helper(replace(self.helpers[helper.id], on_call=helper.on_call))
        self.shifts.extend(shifts)
        self.advance_all()

    # -- availability ------------------------------------------------------------------------

    def available(self, helper: Member) -> bool:
        """`is_available`, memoised per helper and clock hour: on-call windows start and end on
        the hour, /away lasts to a window's end, and any change to the helper drops the entry."""
        bucket = int(self.now.timestamp()) // 3600
        cached = self.avail_cache.get(helper.id)
        if cached is not None and cached[0] == bucket:
            return cached[1]
        value = is_available(helper, self.now, ZONE)
        self.avail_cache[helper.id] = (bucket, value)
        return value

    def candidates(self) -> Roster:
        """Helpers who could possibly be offered anything now (availability only); the choice
        among them is find_batch's. Rebuilt whenever a helper's record changes or the hour
        turns, so find_batch always sees current records."""
        bucket = int(self.now.timestamp()) // 3600
        if self.pool is None or self.pool[0] != bucket:
            pool = [h for h in self.helpers.values() if self.available(h)]
            self.pool = (bucket, Roster.of(pool, ZONE))
        return self.pool[1]

    # -- the contact clock: mirrors handlers.matching.advance ---------------------------------

    def batch_query(
        self, request: Request, wanted: Wanted, *, live: bool, widenable: bool, everyone: bool
    ) -> BatchQuery:
        """As handlers.matching.advance builds it: everyone asked is excluded; those whose
        offers timed out (expired, or pending past their deadline now) may be asked again."""
        again = frozenset(
            o.helper_id
            for o in request.offers.values()
            if o.state is OfferState.EXPIRED
            or (o.state is OfferState.PENDING and o.expires_at <= self.now)
        )
        routing_request = RoutingRequest(
            officer_id=request.officer_id,
            officer_agency_hash=request.agency,
            wanted=wanted,
            outside_agency=request.outside_agency,
            category=request.category,
            already_offered=frozenset(request.offers),
        )
        return BatchQuery(
            routing_request,
            asked_again=again,
            live=live,
            everyone=everyone,
            widenable=widenable,
            preferred_alone=not request.urgent,
        )

    def find_batch(self, query: BatchQuery, pool: Roster, slots: int) -> FoundBatch:
        self.counters.batch_searches += 1
        self.counters.helpers_searched += len(pool.helpers)
        policy = replace(self.policy, batch_size=slots)
        found = find_batch(query, pool, live_threads=self.loads, now=self.now, policy=policy)
        if self.p.verify_prefilter:
            full = find_batch(
                query,
                Roster.of(self.helpers.values(), ZONE),
                live_threads=self.loads,
                now=self.now,
                policy=policy,
            )
            if [h.id for h in full.helpers] != [h.id for h in found.helpers]:
                raise InvariantError("pre-filtering by availability changed find_batch")
        return found

    def advance(self, request: Request) -> None:
        if request.id not in self.open:
            return
        now = self.now
        state, pending = clock_view(request)
        wanted = effective_wanted(state, now, self.timing)
        live = any(o.expires_at > now for o in pending)
        everyone = everyone_at_once(state, self.timing)
        query = self.batch_query(
            request, wanted, live=live, widenable=can_widen(state), everyone=everyone
        )
        slots = batch_now(state, now, self.timing, self.policy.batch_size)
        found = self.find_batch(query, self.candidates(), slots)
        batch = found.helpers
        self.counters.decisions += 1
        decision = decide(
            state,
            pending,
            now,
            self.timing,
            anyone_to_offer=bool(batch),
            batch_size=self.policy.batch_size,
            widen_now=found.widened,
        )
        if not everyone:
            batch = batch[: decision.slots]  # refill only the slots that are free
        if not decision.idle:
            for helper_id in decision.expire:
                self.expire(request, helper_id)
            if decision.widen:
                request.widened = True
            if decision.offer:
                self.send_offers(request, batch)
            if decision.page:
                request.paged_at = now
            if decision.give_up:
                request.gave_up_at = now
        live_now = sum(1 for o in request.offers.values() if o.state is OfferState.PENDING)
        if not everyone and live_now > slots:
            raise InvariantError(f"request {request.id}: {live_now} offers out, {slots} slots")
        self.plan_wake(request)

    def plan_wake(self, request: Request) -> None:
        state, pending = clock_view(request)
        wake = next_wake(state, pending, self.timing, self.now)
        if wake is None:
            self.planned_wake.pop(request.id, None)
            return
        if wake <= self.now:
            raise InvariantError(f"request {request.id}: next_wake is not in the future")
        if self.planned_wake.get(request.id) != wake:
            self.planned_wake[request.id] = wake
            self.push(wake, Wake(request.id))

    def expire(self, request: Request, helper_id: MemberId) -> None:
        """handlers.matching._expire_offer: count the ignored offer; away after too many."""
        offer = request.offers[helper_id]
        if offer.state is not OfferState.PENDING:
            return
        offer.state = OfferState.EXPIRED
        self.counters.expiries += 1
        ignored = self.ignored.get(helper_id, 0) + 1
        self.ignored[helper_id] = ignored
        if ignored < self.ignored_before_away:
            return
        helper = self.helpers[helper_id]
        until = None
        if helper.on_call is not None:
            until = current_window_end(helper.on_call, local_time(helper, self.now, ZONE))
        self.set_helper(replace(helper, available=False, away_until=until))
        self.ignored[helper_id] = 0
        self.counters.set_away += 1

    def send_offers(self, request: Request, batch: Iterable[Member]) -> None:
        p = self.p
        expires = self.now + self.timing.offer_timeout
        for helper in batch:
            self.tokens += 1
            request.offers[helper.id] = Offer(helper.id, expires, self.tokens)
            self.set_helper(replace(helper, last_offered_at=self.now))  # as add_offer records
            request.offers_sent += 1
            self.counters.offers_sent += 1
            u = self.rng.random()
            drawn, delay = sim_limits.Answer.SILENT, None
            if u < p.decline_share:
                drawn, delay = (
                    sim_limits.Answer.DECLINE,
                    self.minutes(p.decline_median_minutes, 0.6),
                )
                self.push(self.now + delay, Answer(request.id, helper.id, self.tokens, False))
            elif u >= p.decline_share + p.no_show_share:
                drawn, delay = (
                    sim_limits.Answer.ACCEPT,
                    self.minutes(p.accept_median_minutes, p.accept_sigma),
                )
                self.push(self.now + delay, Answer(request.id, helper.id, self.tokens, True))
            request.asks.append(Ask(helper.id, self.now, drawn, delay))
        if request.first_offer_at is None:
            request.first_offer_at = self.now

    # -- event handlers ----------------------------------------------------------------------

    def arrive(self, request: Request) -> None:
        self.open[request.id] = request
        request.first_status_at = self.now  # sent before any routing in open_request
        self.push(
            request.created_at + timedelta(minutes=self.p.patience_minutes),
            GiveUpWaiting(request.id),
        )
        self.advance(request)

    def answer(self, event: Answer) -> None:
        request = self.open.get(event.request_id)
        if request is None:
            return  # taken by someone else or withdrawn: the offer was edited away
        offer = request.offers.get(event.helper_id)
        if offer is None or (self.p.re_ask_removes_accept and offer.token != event.token):
            return
        if offer.token != event.token or offer.state is not OfferState.PENDING:
            # Expired, or sent again in a newer message: the old message kept only its Accept
            # button (matching._expire_offer, _send_offers), and _accept takes it unless the
            # helper has declined since.
            if not event.accept:
                return
            self.counters.late_accepts += 1
            if self.p.no_late_accepts or offer.state is OfferState.DECLINED:
                return
        if not event.accept:
            offer.state = OfferState.DECLINED
            self.ignored[event.helper_id] = 0
            self.counters.declines += 1
            self.advance(request)
            return
        if self.loads.get(event.helper_id, 0) >= self.policy.max_threads_per_helper:
            self.counters.busy_accepts += 1  # "you're at capacity"; the offer stays pending
            return
        self.match(request, self.helpers[event.helper_id])

    def match(self, request: Request, helper: Member) -> None:
        assert_match_allowed(request, helper)
        self.counters.accepts += 1
        del self.open[request.id]
        self.planned_wake.pop(request.id, None)
        self.loads[helper.id] = self.loads.get(helper.id, 0) + 1
        self.set_helper(replace(helper, last_assigned_at=self.now))
        self.ignored[helper.id] = 0
        self.record(request, helper)
        heavy = request.urgent or request.category in HEAVY_CATEGORIES
        length = self.minutes(self.p.thread_median_minutes, self.p.thread_sigma)
        self.push(self.now + length, ThreadEnd(helper.id, heavy))

    def thread_end(self, event: ThreadEnd) -> None:
        self.loads[event.helper_id] -= 1
        if event.heavy:  # handlers.thread.close_thread: a rest after a heavy thread
            helper = self.helpers[event.helper_id]
            self.set_helper(replace(helper, cooldown_until=self.now + self.cooldown))
            self.push(self.now + self.cooldown, Recheck())
        self.advance_all()

    def toggle(self) -> None:
        p = self.p
        for helper in list(self.helpers.values()):
            if self.rng.random() >= p.toggle_fraction:
                continue
            hour = local_time(helper, self.now, ZONE).hour
            share = p.available_share
            if hour >= 23 or hour < 7:
                share *= p.night_available_factor
            now_available = self.rng.random() < share
            certified = helper.certified_until is not None and (
                helper.certified_until >= self.now.date()
            )
            if now_available and not certified:
                continue  # /available refuses a helper whose certification has lapsed
            if now_available != helper.available:
                self.set_helper(replace(helper, available=now_available))
        self.advance_all()

    def give_up_waiting(self, request_id: int) -> None:
        request = self.open.pop(request_id, None)
        if request is not None:  # the officer pressed "stop looking"
            self.planned_wake.pop(request_id, None)
            self.record(request, None)

    def note_reachable(self) -> None:
        """After every event (nothing routing sees changes between events): who could be asked
        now, for each request still inside its goal. Everyone eligible by `find_batch` over the
        available helpers, nobody excluded for having been asked, in any role the clock may
        widen to."""
        if not self.open:
            return
        pool = self.candidates()
        for request in self.open.values():
            if self.now - request.created_at >= self.goal:
                continue
            state, _ = clock_view(request)
            wanted = (
                Wanted.EITHER
                if can_widen(state)
                else effective_wanted(state, self.now, self.timing)
            )
            query = BatchQuery(
                RoutingRequest(
                    officer_id=request.officer_id,
                    officer_agency_hash=request.agency,
                    wanted=wanted,
                    outside_agency=request.outside_agency,
                    category=request.category,
                ),
                live=True,
                everyone=True,
            )
            found = find_batch(
                query, pool, live_threads=self.loads, now=self.now, policy=self.policy
            )
            sim_limits.first_reachable(request.reachable, [h.id for h in found.helpers], self.now)

    def advance_all(self) -> None:
        """What the app's 5-second tick does once something may have become free."""
        if not self.open:
            return
        for request in list(self.open.values()):
            self.advance(request)

    def record(self, request: Request, helper: Member | None) -> None:
        def since(moment: datetime | None) -> float | None:
            return (moment - request.created_at).total_seconds() if moment else None

        local = request.created_at.astimezone(ZoneInfo(ZONE))
        day = (local.date() - START.astimezone(ZoneInfo(ZONE)).date()).days
        self.reach[request.id] = Reach(request.created_at, request.reachable, tuple(request.asks))
        self.outcomes.append(
            Outcome(
                id=request.id,
                day=day,
                local_hour=local.hour,
                burst=request.burst,
                burst_day=day in self.burst_days,
                urgent=request.urgent,
                wanted=request.wanted.value,
                outside_agency=request.outside_agency,
                officer_agency=request.agency.decode(),
                secs_to_status=since(request.first_status_at),
                secs_to_first_offer=since(request.first_offer_at),
                secs_to_accept=since(self.now) if helper is not None else None,
                helper_id=int(helper.id) if helper is not None else None,
                helper_agency=(
                    helper.agency_hash.decode()
                    if helper is not None and helper.agency_hash is not None
                    else None
                ),
                helper_role=helper.role.value if helper is not None else None,
                widened=request.widened,
                paged=request.paged_at is not None,
                gave_up=request.gave_up_at is not None,
                offers_sent=request.offers_sent,
            )
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> SimResult:
        began = time.perf_counter()
        self.schedule_arrivals()
        self.schedule_world()
        while self.heap:
            at, _, event = heapq.heappop(self.heap)
            self.now = at
            self.counters.events += 1
            match event:
                case Arrive(request):
                    self.arrive(request)
                case Wake(request_id):
                    waiting = self.open.get(request_id)
                    if waiting is not None and self.planned_wake.get(request_id) == at:
                        self.advance(waiting)
                case Answer():
                    self.answer(event)
                case ThreadEnd():
                    self.thread_end(event)
                case Recheck():
                    self.advance_all()
                case Toggle():
                    self.toggle()
                case GiveUpWaiting(request_id):
                    self.give_up_waiting(request_id)
                case FillCoverage():
                    self.fill_coverage()
            self.note_reachable()
        if self.open:
            raise InvariantError("requests left open after the run")
        self.outcomes.sort(key=lambda o: o.id)
        return SimResult(
            self.p,
            self.outcomes,
            self.counters,
            self.burst_days,
            time.perf_counter() - began,
            self.reach,
            self.shifts,
        )


def fill_moments(end: datetime) -> list[datetime]:
    """The start, then every Monday 08:00 program time before `end` (the app's weekly job)."""
    zone = ZoneInfo(ZONE)
    moments = [START]
    day = START.astimezone(zone).date()
    day -= timedelta(days=day.weekday())  # this week's Monday
    while True:
        moment = datetime(day.year, day.month, day.day, 8, tzinfo=zone).astimezone(UTC)
        if moment >= end:
            return moments
        if moment > START:
            moments.append(moment)
        day += timedelta(days=7)


def simulate(params: Params) -> SimResult:
    return Simulator(params).run()


# -- the report ------------------------------------------------------------------------------


def summarize(outcomes: Sequence[Outcome], goal_s: float = 1800.0) -> dict[str, Any]:
    n = len(outcomes)
    accepts = [o.secs_to_accept for o in outcomes if o.secs_to_accept is not None]
    offers = [o.secs_to_first_offer for o in outcomes if o.secs_to_first_offer is not None]
    status = [o.secs_to_status for o in outcomes if o.secs_to_status is not None]

    def share(count: int) -> float | None:
        return count / n if n else None

    return {
        "requests": n,
        "status_p50_s": percentile(status, 50),
        "status_max_s": max(status, default=None),
        "first_offer_p50_s": percentile(offers, 50),
        "first_offer_p90_s": percentile(offers, 90),
        "never_offered": n - len(offers),
        "human_p50_s": percentile(accepts, 50),
        "human_p90_s": percentile(accepts, 90),
        "human_p99_s": percentile(accepts, 99),
        "within_goal": share(sum(1 for a in accepts if a <= goal_s)),
        "widened": share(sum(o.widened for o in outcomes)),
        "paged": share(sum(o.paged for o in outcomes)),
        "gave_up": share(sum(o.gave_up for o in outcomes)),
        "never_matched": share(n - len(accepts)),
        "offers_per_request": (sum(o.offers_sent for o in outcomes) / n) if n else None,
    }


def groups(result: SimResult) -> dict[str, list[Outcome]]:
    out = result.outcomes
    return {
        "all": list(out),
        "non-urgent": [o for o in out if not o.urgent],
        "urgent": [o for o in out if o.urgent],
        "day 07-19": [o for o in out if 7 <= o.local_hour < 19],
        "eve 19-23": [o for o in out if 19 <= o.local_hour < 23],
        "night 23-07": [o for o in out if o.local_hour >= 23 or o.local_hour < 7],
        "burst days": [o for o in out if o.burst_day],
        "burst reqs": [o for o in out if o.burst],
    }


def _minutes_text(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _minutes_exact(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.2f} min"


def _share_text(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


ROWS: tuple[tuple[str, str, bool], ...] = (
    ("requests simulated", "requests", False),
    ("time to first status (p50)", "status_p50_s", True),
    ("time to first offer p50", "first_offer_p50_s", True),
    ("time to first offer p90", "first_offer_p90_s", True),
    ("time to a human p50", "human_p50_s", True),
    ("time to a human p90", "human_p90_s", True),
    ("time to a human p99", "human_p99_s", True),
    ("matched within 30 min", "within_goal", False),
    ("needed widening", "widened", False),
    ("coordinators paged", "paged", False),
    ("gave up (crisis lines)", "gave_up", False),
    ("never matched", "never_matched", False),
    ("offers sent per request", "offers_per_request", False),
)


def render(result: SimResult, columns: Sequence[str] | None = None) -> str:
    summaries = {name: summarize(items) for name, items in groups(result).items()}
    names = list(columns or summaries)
    width = 28
    lines = [
        f"| {'':{width}} | " + " | ".join(f"{n:>11}" for n in names) + " |",
        f"|{'-' * (width + 2)}|" + "|".join("-" * 12 + ":" for _ in names) + "|",
    ]
    for label, key, is_time in ROWS:
        cells = []
        for name in names:
            value = summaries[name][key]
            if is_time:
                text = _minutes_text(value)
            elif key == "requests":
                text = str(value)
            elif key == "offers_per_request":
                text = "–" if value is None else f"{value:.1f}"
            else:
                text = _share_text(value)
            cells.append(f"{text:>11}")
        lines.append(f"| {label:{width}} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def result_limits(result: SimResult) -> Limits:
    """Who could have been asked for each request missed at the goal, and the best share
    asking each of them once (bench/sim_limits.py)."""
    to_accept = {o.id: o.secs_to_accept for o in result.outcomes}
    return sim_limits.limits(to_accept, result.reach, RoutingConfig().contact_goal)


def render_misses(result: SimResult) -> str:
    found = result_limits(result)
    zone = ZoneInfo(ZONE)
    by_id = {o.id: o for o in result.outcomes}
    when = {
        m.request_id: f"d{by_id[m.request_id].day + 1} "
        + result.reach[m.request_id].created_at.astimezone(zone).strftime("%a %H:%M")
        for m in found.misses
    }
    return sim_limits.render_limits(found, when, RoutingConfig().contact_goal)


def report(result: SimResult) -> str:
    c = result.counters
    p = result.params
    head = (
        f"Peerline routing simulation: {p.days} days, {p.helpers} helpers, "
        f"{p.requests_per_day}/day + {len(result.burst_days)} burst(s) of {p.burst_size}, "
        f"seed {p.seed}"
    )
    burst_days = ", ".join(str(d + 1) for d in result.burst_days) or "none"
    tail = [
        "",
        f"burst on day(s): {burst_days}",
        f"wall-clock runtime:  {result.runtime_s:.2f} s ({c.events} events)",
        f"policy evaluations:  {c.batch_searches} find_batch calls over "
        f"{c.helpers_searched} helper records; {c.decisions} clock decisions",
        f"offers: {c.offers_sent} sent, {c.accepts} accepted, {c.declines} declined, "
        f"{c.expiries} expired ({c.late_accepts} would-be accepts arrived after expiry), "
        f"{c.busy_accepts} refused at capacity; "
        f"{c.set_away} helpers set away after ignored offers",
    ]
    return "\n".join([head, "", render(result), *tail, "", render_misses(result)])


def to_json(result: SimResult, burst_alone: SimResult | None = None) -> dict[str, Any]:
    def one(run: SimResult) -> dict[str, Any]:
        return {
            "params": asdict(run.params),
            "burst_days": run.burst_days,
            "runtime_s": run.runtime_s,
            "counters": asdict(run.counters),
            "summaries": {name: summarize(items) for name, items in groups(run).items()},
            "limits": _limits_json(result_limits(run)),
        }

    data = one(result)
    if burst_alone is not None:
        data["burst_day_alone"] = one(burst_alone)
    return data


def _limits_json(found: Limits) -> dict[str, Any]:
    return {
        "measured_within_goal": found.measured,
        "best_possible_asking_each_once": found.best_possible,
        "misses": [
            {
                "request": m.request_id,
                "reachable": m.reachable,
                "asked": m.asked,
                "asked_again": m.asked_again,
                "never_asked": m.never_asked,
                "first_answers": {k.value: v for k, v in m.first_answers.items()},
                "yes_in_time_if_asked_at_once": m.late_yes,
            }
            for m in found.misses
        ],
    }


def burst_day_alone(params: Params) -> Params:
    """One day with one incident burst and the usual background, from an idle start."""
    return replace(params, days=1, bursts=1)


SEED_COLUMNS = (
    "seed",
    "requests",
    "human p90",
    "human p99",
    "urgent p90",
    "urgent p99",
    "<= 30 min",
    "urgent <= 30 min",
    "best possible asking once",
    "offers / request",
    "offers / non-urgent",
    "offers / urgent",
    "misses by reachable 0/1/2/3+",
    "on-call h added a week (helpers, most one took)",
)


def seed_row(
    label: str, outcomes: Sequence[Outcome], found: Limits, taken: Taken, runs: int = 1
) -> list[str]:
    """`taken`: the hours the fill added over `runs` runs (shown as a mean per run)."""
    every = summarize(outcomes)
    urgent = summarize([o for o in outcomes if o.urgent])
    calm = summarize([o for o in outcomes if not o.urgent])

    def per_request(summary: dict[str, Any]) -> str:
        value = summary["offers_per_request"]
        return "–" if value is None else f"{value:.2f}"

    return [
        label,
        str(every["requests"]),
        _minutes_exact(every["human_p90_s"]),
        _minutes_exact(every["human_p99_s"]),
        _minutes_exact(urgent["human_p90_s"]),
        _minutes_exact(urgent["human_p99_s"]),
        f"{100 * found.measured:.1f}%",
        _share_text(urgent["within_goal"]),
        f"{100 * found.best_possible:.1f}%",
        per_request(every),
        per_request(calm),
        per_request(urgent),
        "/".join(str(n) for n in reachable_counts(found)),
        f"{round(taken.hours / runs, 1):g} ({round(taken.helpers / runs, 1):g}, {taken.most} h)",
    ]


def reachable_counts(found: Limits) -> list[int]:
    """Misses with 0, 1, 2 and 3 or more helpers reachable in their first 30 minutes."""
    counts = [0, 0, 0, 0]
    for miss in found.misses:
        counts[min(miss.reachable, 3)] += 1
    return counts


def render_seeds(results: Sequence[SimResult]) -> str:
    """One line per seed, and every seed's requests pooled (percentiles over all of them)."""
    rows = [
        seed_row(str(r.params.seed), r.outcomes, result_limits(r), Taken.of(r.shifts))
        for r in results
    ]
    pooled = [o for r in results for o in r.outcomes]
    taken = [Taken.of(r.shifts) for r in results]
    all_taken = Taken(
        sum(t.hours for t in taken), sum(t.helpers for t in taken), max(t.most for t in taken)
    )
    found = [result_limits(r) for r in results]
    total = Limits(
        requests=sum(f.requests for f in found),
        within_goal=sum(f.within_goal for f in found),
        misses=tuple(m for f in found for m in f.misses),
    )
    rows.append(seed_row("pooled", pooled, total, all_taken, len(results)))
    lines = ["| " + " | ".join(SEED_COLUMNS) + " |", "|" + "--:|" * len(SEED_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def seed_list(text: str) -> list[int]:
    """ "1,2,5" or "1-5"."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


@dataclass(frozen=True, slots=True)
class Command:
    params: Params
    json_path: Path | None
    burst_run: bool
    seeds: list[int]
    urgent_grid: list[int]


def parse_args(argv: Sequence[str] | None = None) -> Command:
    defaults = Params()
    parser = argparse.ArgumentParser(prog="python -m bench.routing_sim", description=__doc__)
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true", default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value, metavar="N")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    parser.add_argument(
        "--no-burst-run", action="store_true", help="skip the separate burst-day-alone run"
    )
    parser.add_argument(
        "--seeds",
        type=seed_list,
        default=[],
        metavar="1-5",
        help="run each seed and print one summary line per seed (no burst run, no JSON)",
    )
    parser.add_argument(
        "--urgent-offers-grid",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        metavar="0,20,70",
        help="with --seeds: each seed at each urgent_offers; the urgent requests pooled, and "
        "how far each setting is from the first (bench/sim_compare.py)",
    )
    args = vars(parser.parse_args(argv))
    json_path = args.pop("json")
    burst_run = not args.pop("no_burst_run")
    seeds = args.pop("seeds")
    grid = args.pop("urgent_offers_grid")
    return Command(Params(**args), json_path, burst_run, seeds, grid)


def pooled(label: str, results: Sequence[SimResult]) -> Pooled:
    outcomes = [o for r in results for o in r.outcomes]
    urgent = [o for o in outcomes if o.urgent]
    return Pooled(
        label,
        tuple(o.secs_to_accept for o in urgent),
        sum(o.offers_sent for o in urgent),
        len(outcomes),
        sum(o.offers_sent for o in outcomes),
    )


def run_seeds(params: Params, seeds: Sequence[int]) -> list[SimResult]:
    results = []
    for seed in seeds:
        results.append(simulate(replace(params, seed=seed)))
        print(
            f"seed {seed}, urgent_offers {params.urgent_offers}: {results[-1].runtime_s:.2f} s",
            file=sys.stderr,
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    command = parse_args(argv)
    params, json_path, burst_run = command.params, command.json_path, command.burst_run
    if command.seeds and command.urgent_grid:
        rows = [
            pooled(str(n), run_seeds(replace(params, urgent_offers=n), command.seeds))
            for n in command.urgent_grid
        ]
        goal = RoutingConfig().contact_goal.total_seconds()
        print(render_grid(rows, goal))
        return 0
    if command.seeds:
        results = run_seeds(params, command.seeds)
        print(render_seeds(results))
        if params.coverage_fill > 0:
            shifts = [s for r in results for s in r.shifts]
            print(f"\nOn-call hours added a week, mean per seed (program time {ZONE}):\n")
            print(coverage_fill.render_parts(shifts, len(results), ZONE))
        return 0
    result = simulate(params)
    print(report(result))
    alone = None
    if burst_run:
        alone = simulate(burst_day_alone(params))
        print(
            f"\nBurst day alone: 1 simulated day, one burst of "
            f"{params.burst_size} outside-agency requests in {params.burst_window_minutes:g} min "
            f"on top of the usual arrivals; runtime {alone.runtime_s:.2f} s\n"
        )
        print(render(alone, ["all", "burst reqs", "non-urgent", "urgent"]))
    if json_path is not None:
        json_path.write_text(json.dumps(to_json(result, alone), indent=2, default=str) + "\n")
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
