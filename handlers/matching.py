"""Open requests and the contact clock that keeps each one moving: offers out, timeouts,
widening, paging coordinators, the crisis lines. Answers to offers are in handlers/offers.py.

Every step that changes an open request runs under one lock (`services.matching_lock`), so the
clock's tick, an accept and a cancel never interleave.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.catalog import Catalog
from bot.config import RoutingConfig
from bot.escalation import (
    ClockDecision,
    ClockState,
    PendingOffer,
    Timing,
    batch_now,
    can_widen,
    decide,
    effective_wanted,
    everyone_at_once,
    free_slots,
    next_wake,
)
from bot.events import Choice, DeliveryError, Reply, Sent
from bot.hours import current_window_end
from bot.logs import where
from bot.model import (
    ASKER_ROLES,
    HEAVY_CATEGORIES,
    HELPER_ROLES,
    OPT_IN_ASKERS,
    Category,
    Member,
    MemberId,
    RequestId,
    Role,
    ThreadId,
    Wanted,
)
from bot.routing import (
    BatchQuery,
    Policy,
    Roster,
    RoutingRequest,
    find_batch,
    is_available,
    local_time,
)
from bot.storage.base import week_of
from bot.storage.incidents import Incident, PageState
from bot.storage.repository import (
    OfferRecord,
    OfferState,
    RequestMetrics,
    RequestRecord,
)
from handlers.base import Services
from handlers.common import category_label, crisis_lines

log = logging.getLogger(__name__)

# A line picked from the catalog of whoever receives it, e.g. `lambda t: t.offer_closed`.
Line = Callable[[Catalog], str]


def routing_policy(services: Services) -> Policy:
    return policy_of(services.config.routing)


def policy_of(routing: RoutingConfig) -> Policy:
    return Policy(
        max_threads_per_helper=routing.max_threads_per_helper, batch_size=routing.offer_batch
    )


def clock_timing(services: Services) -> Timing:
    return timing_of(services.config.routing)


def timing_of(routing: RoutingConfig) -> Timing:
    return Timing(
        offer_timeout=routing.offer_timeout,
        widen_after=routing.escalate_to_chaplains_after,
        page_after=routing.page_coordinators_after,
        give_up_after=routing.give_up_after,
        grown_batch=routing.offer_batch_grows_to,
        grow_after=routing.offer_batch_grows_after,
        urgent_offers=routing.urgent_offers,
    )


def who_phrase(text: Catalog, wanted: Wanted) -> str:
    return {
        Wanted.PEER: text.who_phrase_peer,
        Wanted.CHAPLAIN: text.who_phrase_chaplain,
        Wanted.EITHER: text.who_phrase_either,
        Wanted.CLINICIAN: text.who_phrase_clinician,
    }[wanted]


def clock_state(request: RequestRecord) -> ClockState:
    """The parts of a stored request the contact clock decides on."""
    return ClockState(
        wanted=request.wanted,
        urgent=request.urgent,
        created_at=request.created_at,
        widened=request.widened,
        paged=request.paged_at is not None,
        gave_up=request.gave_up_at is not None,
        widenable=request.category is not Category.DEBRIEF,
    )


async def open_request_of(services: Services, officer_id: MemberId) -> RequestRecord | None:
    for request in await services.repo.open_requests():
        if request.officer_id == officer_id:
            return request
    return None


async def open_request(
    services: Services,
    officer: Member,
    record: RequestRecord,
    note: str = "",
    *,
    status: str | None = None,
) -> None:
    """Store a new request, tell the officer at once what happens next, start the clock."""
    text = services.text_for(officer)
    async with services.matching_lock:
        await services.repo.create_request(record)
        if note:
            services.notes[record.id] = note
        if record.urgent:
            lines = crisis_lines(text, services.config.crisis)
            await services.try_send(officer.address, Reply(text.urgent_now.format(lines=lines)))
        else:
            goal = int(services.config.routing.contact_goal.total_seconds() // 60)
            who = who_phrase(text, record.wanted)
            crisis = services.choice(text.crisis_button, "crisis", "", officer.address)
            opening = status or text.request_open.format(who=who, goal_minutes=goal)
            if record.category in HEAVY_CATEGORIES:
                opening = f"{opening}\n\n{text.crisis_reminder}"
            await services.try_send(officer.address, Reply(opening, (crisis,)))
        await services.repo.mark_request(record.id, first_status_at=services.clock())
        await advance(services, record.id)


async def tick(services: Services) -> None:
    """Move every open request along its clock. Safe to call at any time, any number of times."""
    async with services.matching_lock:
        for request in await services.repo.open_requests():
            try:
                await advance(services, request.id)
            except Exception as exc:
                log.error("clock step failed: %s at %s", type(exc).__name__, where(exc))


async def routing_view(
    services: Services,
    request: RequestRecord,
    officer: Member,
    wanted: Wanted,
    offers: list[OfferRecord],
    *,
    now: datetime,
    second_round: bool,
) -> RoutingRequest:
    """The policy's view of a request. In a second round, helpers whose offers merely timed
    out (or are timing out now) may be asked again; those who declined or were involved
    never are."""
    private = await services.repo.officer_private(officer.id)
    asked = {o.helper_id for o in offers}
    if second_round:
        asked -= _timed_out(offers, now)
    asked |= _handing_over(services, request)  # a hand-over goes to someone else
    involved = frozenset(o.helper_id for o in offers if o.involved)
    on_call: frozenset[MemberId] = frozenset()
    # Tied to a critical incident (the officer's agency has one open): outside the agency only,
    # never anyone involved in it, and those on call for it first.
    incident = await incident_of(services, officer)
    if incident is not None:
        involved |= incident.involved
        pages = await services.repo.pages(incident.id)
        on_call = frozenset(p.helper_id for p in pages if p.state is PageState.ACCEPTED)
    return RoutingRequest(
        officer_id=officer.id,
        officer_agency_hash=officer.agency_hash,
        wanted=wanted,
        # A spouse's agency is their officer's: never anyone from it, whatever was chosen.
        outside_agency=(
            request.outside_agency or officer.role is Role.FAMILY or incident is not None
        ),
        category=request.category,
        already_offered=frozenset(asked),
        involved=involved,
        blocked=private.blocked,
        conflicts=await services.repo.chain_of_command(officer.id),
        preferred=request.preferred_helper,
        asker_role=officer.role if officer.role in OPT_IN_ASKERS else Role.OFFICER,
        first=on_call,
    )


def _timed_out(offers: list[OfferRecord], now: datetime) -> frozenset[MemberId]:
    return frozenset(
        o.helper_id
        for o in offers
        if o.state is OfferState.EXPIRED or (o.state is OfferState.PENDING and o.expires_at <= now)
    )


def _handing_over(services: Services, request: RequestRecord) -> frozenset[MemberId]:
    """The helper handing this request over, never asked to take it back."""
    thread = services.relay.threads.get(request.transfer_thread or ThreadId(""))
    return frozenset() if thread is None else frozenset({thread.helper_id})


async def incident_of(services: Services, officer: Member) -> Incident | None:
    """The critical incident open at the officer's agency, if any: every request of theirs
    while it is open is tied to it, whatever its topic."""
    if officer.role is not Role.OFFICER:
        return None
    return await services.repo.incident_for_agency(officer.agency_hash)


async def advance(services: Services, request_id: RequestId) -> None:
    """One step of the contact clock for one request (caller holds the matching lock)."""
    repo = services.repo
    request = await repo.request(request_id)
    if request is None:
        return
    officer = await repo.member(request.officer_id)
    if officer is None or not officer.active:
        await close_request(services, request, lambda t: t.offer_closed)
        return
    now = services.clock()
    timing = clock_timing(services)
    offers = await repo.offers(request_id)
    state = clock_state(request)
    pending = [
        PendingOffer(o.helper_id, o.expires_at) for o in offers if o.state is OfferState.PENDING
    ]
    wake = next_wake(state, pending, timing, now)
    batch_size = services.config.routing.offer_batch
    slots = batch_now(state, now, timing, batch_size)
    if free_slots(state, pending, now, timing, slots) == 0 and (wake is None or now < wake):
        return  # every slot has a live offer and nothing is due: skip the routing work
    wanted = effective_wanted(state, now, timing)
    view = await routing_view(
        services, request, officer, wanted, offers, now=now, second_round=False
    )
    everyone = everyone_at_once(state, timing)
    query = BatchQuery(
        view,
        asked_again=_timed_out(offers, now) - _handing_over(services, request),
        live=any(o.expires_at > now for o in pending),
        everyone=everyone,
        widenable=can_widen(state),
        preferred_alone=not request.urgent,
    )
    found = find_batch(
        query,
        await helper_roster(services),
        live_threads=services.relay.loads(),
        now=now,
        policy=replace(routing_policy(services), batch_size=slots),
    )
    batch = found.helpers
    decision = decide(
        state,
        pending,
        now,
        timing,
        anyone_to_offer=bool(batch),
        batch_size=batch_size,
        widen_now=found.widened,
    )
    if not everyone:
        batch = batch[: decision.slots]  # refill only the slots that are free
    if not decision.idle:
        step = _Step(request, officer, decision, batch, offers, pending, now)
        await _carry_out(services, step)


async def helper_roster(services: Services) -> Roster:
    """The routing index of every active helper, kept while the helpers the repository
    serves are the very tuple it was built from, and updated for the helpers that changed
    (not built again) when they are not."""
    helpers = await services.repo.active_members(HELPER_ROLES)
    kept = services.helper_roster
    if kept is None:
        kept = (helpers, Roster.of(helpers, services.config.program.timezone))
    elif kept[0] is not helpers:
        kept = (helpers, kept[1].updated(helpers, since=kept[0]))
    services.helper_roster = kept
    return kept[1]


@dataclass(frozen=True, slots=True)
class _Step:
    """One clock decision and everything needed to carry it out."""

    request: RequestRecord
    officer: Member
    decision: ClockDecision
    batch: list[Member]
    offers: list[OfferRecord]
    pending: list[PendingOffer]
    now: datetime


async def _carry_out(services: Services, step: _Step) -> None:
    repo = services.repo
    request, officer, decision, batch, pending, now = (
        step.request,
        step.officer,
        step.decision,
        step.batch,
        step.pending,
        step.now,
    )
    request_id = request.id
    text = services.text_for(officer)
    for helper_id in decision.expire:
        await _expire_offer(services, request, helper_id, step.offers)
    if decision.widen:
        await repo.mark_request(request_id, widened=True)
        if not request.urgent:
            await services.try_send(officer.address, Reply(text.status_widened))
    live = any(o.expires_at > now for o in pending)
    nobody = not batch and not live
    sent = (
        await _send_offers(services, request, batch, step.offers, now, asker=officer)
        if decision.offer
        else 0
    )
    if decision.offer and sent == 0 and not live:
        # Everyone the policy found was unreachable: as good as nobody, so page now.
        nobody = True
        decision = replace(decision, page=request.paged_at is None)
    if decision.page:
        await repo.mark_request(request_id, paged_at=now)
        await _page_coordinators(services, request, now)
        if not request.urgent:
            notice = text.status_none_free if nobody else text.status_paged
            await services.try_send(officer.address, Reply(notice))
    if decision.give_up:
        await repo.mark_request(request_id, gave_up_at=now)
        lines = crisis_lines(text, services.config.crisis)
        stop = services.choice(text.stop_looking, "stop", request_id, officer.address)
        await services.try_send(
            officer.address, Reply(text.status_gave_up.format(lines=lines), (stop,))
        )


async def _send_offers(
    services: Services,
    request: RequestRecord,
    batch: list[Member],
    offers: list[OfferRecord],
    now: datetime,
    *,
    asker: Member,
) -> int:
    """Offer the request to `batch`; returns how many offers reached someone. A helper who
    cannot be reached at all (blocked the bot, account gone) is set away, not retried. A
    helper asked again gets a new message (it notifies); the old one keeps only its Accept
    button, so a yes on its way when the offer timed out still counts."""
    earlier = {o.helper_id: o.message_id for o in offers}
    note = services.notes.get(request.id, "")
    expires = now + services.config.routing.offer_timeout
    delivered = 0
    for helper in batch:
        text = services.text_for(helper)
        body = _offer_text(text, request, asker.role, note)
        reply = Reply(
            body,
            (
                services.choice(text.offer_accept, "acc", request.id, helper.address),
                services.choice(text.offer_decline, "dec", request.id, helper.address),
                services.choice(text.offer_involved, "inv", request.id, helper.address),
            ),
            columns=2,
        )
        try:
            sent = await services.send(helper.address, reply)
        except DeliveryError as exc:
            log.warning("offer not delivered (permanent=%s)", exc.permanent)
            if exc.permanent:
                await services.repo.set_away(helper.id, None)
            continue
        await services.repo.add_offer(request.id, helper.id, now, expires, sent.message_id)
        await services.repo.mark_offered(helper.id, now)
        delivered += 1
        if earlier.get(helper.id) is not None:
            await edit_offer(
                services,
                helper.id,
                earlier[helper.id],
                lambda t: t.offer_repeated,
                late_accept=request.id,
            )
    if delivered:
        await services.repo.mark_request(request.id, first_offer_at=now)
    services.tally["offers sent"] += delivered
    return delivered


def asker_group(role: Role) -> str:
    """Who asked, as the statistics count it: a group, never a person."""
    if role in ASKER_ROLES:
        return role.value
    return "helper"


def asker_line(text: Catalog, role: Role, who: str) -> str:
    """Who is asking, as helpers are told: an officer, an officer's family, a retiree."""
    line = {
        Role.FAMILY: text.offer_asker_family,
        Role.RETIREE: text.offer_asker_retiree,
    }.get(role, text.offer_asker_officer if role is Role.OFFICER else text.offer_asker_helper)
    return line.format(who=who)


def _offer_text(text: Catalog, request: RequestRecord, role: Role, note: str) -> str:
    category = category_label(text, request.category)
    asker = asker_line(text, role, who_phrase(text, request.wanted))
    if note:
        body = text.offer_with_note.format(category=category, asker=asker, note=note)
    else:
        body = text.offer.format(category=category, asker=asker)
    return f"{text.offer_urgent}\n\n{body}" if request.urgent else body


async def _expire_offer(
    services: Services, request: RequestRecord, helper_id: MemberId, offers: list[OfferRecord]
) -> None:
    repo = services.repo
    if not await repo.set_offer_state(request.id, helper_id, OfferState.EXPIRED):
        return
    offer = next((o for o in offers if o.helper_id == helper_id), None)
    # The Accept button stays: an accept that comes late still counts while the request is open.
    await edit_offer(
        services,
        helper_id,
        offer.message_id if offer else None,
        lambda t: t.offer_expired.format(category=category_label(t, request.category)),
        late_accept=request.id,
    )
    ignored = await repo.count_ignored_offer(helper_id)
    if ignored < services.config.routing.ignored_offers_before_away:
        return
    helper = await repo.member(helper_id)
    if helper is None:
        return
    await repo.set_away(helper_id, _away_until(services, helper))
    await repo.reset_ignored_offers(helper_id)
    log.info("helper set away after ignored offers")
    notice = services.text_for(helper).ignored_set_away.format(count=ignored)
    await services.try_send(helper.address, Reply(notice))


def _away_until(services: Services, member: Member) -> datetime | None:
    """Inside on-call hours, /away lasts until the window ends; otherwise until /available."""
    if member.on_call is None:
        return None
    now = services.clock()
    local = local_time(member, now, services.config.program.timezone)
    return current_window_end(member.on_call, local)


async def set_away(services: Services, member: Member) -> datetime | None:
    until = _away_until(services, member)
    await services.repo.set_away(member.id, until)
    return until


async def _page_coordinators(services: Services, request: RequestRecord, now: datetime) -> None:
    coordinators = await services.repo.coordinators()
    zone = services.config.program.timezone
    on_call = [c for c in coordinators if is_available(c, now, zone)]
    minutes = int((now - request.created_at).total_seconds() // 60)
    paged = 0
    for coordinator in on_call or coordinators:
        text = services.text_for(coordinator)
        if request.urgent:
            page = text.page_coordinator_urgent.format(minutes=minutes)
        else:
            category = category_label(text, request.category)
            page = text.page_coordinator.format(minutes=minutes, category=category)
        # A way to act, not just news: offer it to more helpers who are free, at once.
        push = services.choice(text.push_page_button, "push", request.id, coordinator.address)
        if await services.try_send(coordinator.address, Reply(page, (push,))) is not None:
            paged += 1
    if paged == 0:
        log.warning("no coordinator could be paged")
    else:
        log.info("coordinators paged: %d", paged)


async def offer_to_more(services: Services, request_id: RequestId) -> int | None:
    """A coordinator's push: widen the search and offer the request now to as many more
    helpers at once as an urgent request gets (`urgent_offers`; 0: every eligible helper who
    does not have it yet), the best-ranked who never had it first, then those whose offers
    timed out. Each press asks the next ones. How many offers went out; None if it no longer
    waits."""
    async with services.matching_lock:
        repo = services.repo
        request = await repo.request(request_id)
        officer = await repo.member(request.officer_id) if request is not None else None
        if request is None or officer is None or not officer.active:
            return None
        now = services.clock()
        if not request.widened:
            await repo.mark_request(request_id, widened=True)
            request = replace(request, widened=True)
        wanted = effective_wanted(clock_state(request), now, clock_timing(services))
        offers = await repo.offers(request_id)
        most = services.config.routing.urgent_offers
        everyone = most == 0
        query = BatchQuery(
            # Everyone: those whose offers timed out too, in the same search, as before the cap.
            await routing_view(
                services, request, officer, wanted, offers, now=now, second_round=everyone
            ),
            asked_again=_timed_out(offers, now) - _handing_over(services, request),
            everyone=everyone,
            preferred_alone=False,
        )
        found = find_batch(
            query,
            await helper_roster(services),
            live_threads=services.relay.loads(),
            now=now,
            policy=replace(routing_policy(services), batch_size=max(1, most)),
        )
        if not found.helpers:
            return 0
        return await _send_offers(services, request, found.helpers, offers, now, asker=officer)


async def close_request(services: Services, request: RequestRecord, notice: Line) -> None:
    """Withdraw a request (the officer cancelled) and edit every pending offer to `notice`."""
    offers = await services.repo.offers(request.id)
    if not await services.repo.delete_request(request.id):
        return
    services.notes.pop(request.id, None)
    services.remember_closed(request.id, "closed")
    services.tally["withdrawn"] += 1
    await record_metrics(services, request, matched_at=None)
    for offer in offers:
        if offer.state is not OfferState.DECLINED:  # an expired offer still shows Accept
            await edit_offer(services, offer.helper_id, offer.message_id, notice)
    await services.repo.fold_wal()  # the withdrawn request and its offers leave the WAL


async def record_metrics(
    services: Services, request: RequestRecord, matched_at: datetime | None
) -> None:
    def since(moment: datetime | None) -> float | None:
        return (moment - request.created_at).total_seconds() if moment else None

    to_accept = since(matched_at)
    goal = services.config.routing.contact_goal.total_seconds()
    asker = await services.repo.member(request.officer_id)
    await services.repo.record_metrics(
        RequestMetrics(
            week=week_of(request.created_at),
            category=request.category,
            urgent=request.urgent,
            outcome="matched" if matched_at else "cancelled",
            secs_to_status=since(request.first_status_at),
            secs_to_first_offer=since(request.first_offer_at),
            secs_to_accept=to_accept,
            met_goal=to_accept is not None and to_accept <= goal,
            widened=request.widened,
            paged=request.paged_at is not None,
            handover=request.transfer_thread is not None,
            referral=request.wanted is Wanted.CLINICIAN,
            asker=asker_group(asker.role) if asker is not None else "officer",
        )
    )


async def edit_offer(
    services: Services,
    helper_id: MemberId,
    message_id: str | None,
    notice: Line,
    *,
    late_accept: RequestId | None = None,
) -> None:
    """Edit an offer to `notice`, in the helper's language; with `late_accept`, its Accept
    button stays."""
    helper = await services.repo.member(helper_id)
    if helper is None or message_id is None:
        return
    text = services.text_for(helper)
    buttons: tuple[Choice, ...] = ()
    if late_accept is not None:
        buttons = (services.choice(text.offer_accept, "acc", late_accept, helper.address),)
    await services.try_edit(Sent(helper.address, message_id), Reply(notice(text), buttons))
