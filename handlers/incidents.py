"""Critical incidents: a coordinator opens one for an agency (/incident AGENCY, or the CLI) and
helpers from outside that agency are paged to be on call for its officers.

Pages work like offers: a batch goes out, a page that times out or is declined frees its slot,
which is refilled (the same refill rule and the same routing policy as requests, in
bot/escalation.py and bot/routing.py); an expired page can still be accepted while the incident
is open. The coordinator sees counts, and the names only of helpers who said they may be named.
Every step runs under the matching lock shared with the contact clock.

How requests of the agency's officers are routed while it is open is in handlers/matching.py
(`routing_view`); the intake defaults to the topic in handlers/intake.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC

from bot.catalog import Catalog
from bot.escalation import PendingOffer, refill
from bot.events import Choice, DeliveryError, Kind, Reply, Sent
from bot.model import HELPER_ROLES, Category, Member, Wanted
from bot.routing import RoutingRequest, indexed_batch
from bot.storage.incidents import Incident, IncidentId, PageRecord, PageState
from handlers import matching
from handlers.base import Services, Turn
from handlers.router import COORDINATORS, Router

log = logging.getLogger(__name__)
router = Router()

DEFAULT_PAGES = 5
MOST_PAGES = 50
# A page can be accepted, declined or answered "involved" while it waits, and accepted later.
_ANSWERABLE = frozenset({PageState.PENDING, PageState.EXPIRED})


# -- the coordinator ----------------------------------------------------------------------


def _parse(args: str) -> tuple[int, str] | None:
    """`[N] AGENCY` -> (N, agency); None when there is no agency or N is out of range."""
    words = args.split()
    count = DEFAULT_PAGES
    if words and words[0].isdigit():
        count, words = int(words[0]), words[1:]
    if not words or not 1 <= count <= MOST_PAGES:
        return None
    return count, " ".join(words)


@router.command("incident", roles=COORDINATORS)
async def incident_command(turn: Turn) -> None:
    services, text = turn.services, turn.text
    if turn.event.args.strip().casefold() in ("", "list", "close"):
        await show_incidents(turn)  # each open incident, with a button to close it
        return
    parsed = _parse(turn.event.args)
    if parsed is None:
        await turn.say(text.incident_usage.format(most=MOST_PAGES))
        return
    count, agency = parsed
    open_already = await services.repo.incident_for_agency(services.repo.agency_hash(agency))
    if open_already is not None:
        await turn.say(text.incident_already.format(agency=open_already.agency))
        await show_incidents(turn)
        return
    services.incident_drafts[turn.member.id] = (agency, count)
    prompt = text.incident_confirm.format(agency=agency, count=count)
    members = await services.repo.members()
    if not any(m.agency_hash == services.repo.agency_hash(agency) for m in members):
        prompt = f"{prompt}\n\n{text.incident_no_members}"
    choices = (
        turn.choice(text.incident_page_peers, "inc", "p"),
        turn.choice(text.incident_page_both, "inc", "pc"),
        turn.choice(text.incident_cancel, "inc", ""),
    )
    await turn.say(prompt, choices)


@router.choice("inc", roles=COORDINATORS)
async def confirm_incident(turn: Turn, arg: str) -> None:
    services, text = turn.services, turn.text
    draft = services.incident_drafts.pop(turn.member.id, None)
    if draft is None or arg not in ("p", "pc"):
        await turn.say(text.incident_cancelled)
        return
    agency, count = draft
    async with services.matching_lock:
        incident = await services.repo.open_incident(
            agency, wanted=count, chaplains=arg == "pc", opened_by=turn.member.id, now=turn.now
        )
        if incident is None:
            await turn.say(text.incident_already.format(agency=agency))
            return
        log.info("critical incident opened in the chat")
        services.tally["incidents opened"] += 1
        days = services.config.incidents.auto_close_days
        await turn.say(text.incident_opened.format(agency=incident.agency, days=days))
        await advance(services, incident)


async def show_incidents(turn: Turn) -> None:
    services, text = turn.services, turn.text
    incidents = [i for i in await services.repo.incidents() if not i.closing]
    if not incidents:
        await turn.say(text.incident_none_open)
        return
    days = services.config.incidents.auto_close_days
    lines = []
    for incident in incidents:
        closes = text.incident_closes_on.format(day=incident.closes_on(days).isoformat())
        lines.append(f"{await status_line(services, text, incident)}\n{closes}")
    buttons = tuple(
        turn.choice(text.incident_close_button.format(agency=i.agency), "incx", i.id)
        for i in incidents
    )
    await turn.say("\n\n".join(lines), buttons)


@router.choice("incx", roles=COORDINATORS)
async def close_button(turn: Turn, arg: str) -> None:
    services = turn.services
    async with services.matching_lock:
        incident = await services.repo.incident(IncidentId(arg))
        closed = await close(services, incident) if incident is not None else None
    if closed is None:
        await turn.say(turn.text.incident_gone)


async def status_line(services: Services, text: Catalog, incident: Incident) -> str:
    """Counts for the coordinator; names only of those on call who said they may be named."""
    pages = await services.repo.pages(incident.id)
    accepted = [p.helper_id for p in pages if p.state is PageState.ACCEPTED]
    line = text.incident_status.format(
        agency=incident.agency,
        day=incident.opened_on.isoformat(),
        accepted=len(accepted),
        wanted=incident.wanted,
        declined=sum(1 for p in pages if p.state is PageState.DECLINED),
        waiting=sum(1 for p in pages if p.state in _ANSWERABLE),
    )
    names = []
    for helper_id in accepted:
        helper = await services.repo.member(helper_id) if helper_id in incident.named else None
        if helper is not None:
            names.append(f"{helper.display_name or '-'} (#{helper.id})")
    if names:
        line = f"{line}\n{text.incident_named.format(names=', '.join(names))}"
    return line


async def _tell_coordinators(
    services: Services, incident: Incident, *, nobody_left: bool = False
) -> None:
    """Where the incident stands, to the coordinator who opened it (every coordinator when it
    was opened from the CLI)."""
    opener = await services.repo.member(incident.opened_by) if incident.opened_by else None
    people = [opener] if opener is not None and opener.active else []
    for coordinator in people or await services.repo.coordinators():
        text = services.text_for(coordinator)
        line = await status_line(services, text, incident)
        message = f"{line}\n\n{text.incident_nobody_left}" if nobody_left else line
        await services.try_send(coordinator.address, Reply(message))


# -- the contact clock of an incident -----------------------------------------------------


async def tick(services: Services) -> None:
    """Every open incident one step on (one closed from the CLI finished, one open for
    `[incidents] auto_close_days` closed): called with the contact clock's tick."""
    async with services.matching_lock:
        for incident in await services.repo.incidents():
            if incident.closing:
                await close(services, incident)
            elif _lasted(services, incident):
                await close(services, incident, by_itself=True)
            else:
                await advance(services, incident)


def _lasted(services: Services, incident: Incident) -> bool:
    """Open for its whole time: only the day it opened is kept, so counted in days."""
    closes_on = incident.closes_on(services.config.incidents.auto_close_days)
    return services.clock().astimezone(UTC).date() >= closes_on


async def advance(services: Services, incident: Incident) -> None:
    """Expire pages past their time, then refill the free slots from the helpers the routing
    policy ranks first (caller holds the matching lock)."""
    repo = services.repo
    now = services.clock()
    pages = await repo.pages(incident.id)
    for page in pages:
        if page.state is PageState.PENDING and page.expires_at <= now:
            await _expire(services, incident, page)
    pending = [
        PendingOffer(p.helper_id, p.expires_at) for p in pages if p.state is PageState.PENDING
    ]
    accepted = sum(1 for p in pages if p.state is PageState.ACCEPTED)
    slots = refill(pending, now, incident.wanted - accepted)
    if slots == 0:
        return
    wanted = Wanted.EITHER if incident.chaplains else Wanted.PEER
    request = RoutingRequest(
        officer_id=None,
        officer_agency_hash=incident.agency_hash,
        wanted=wanted,
        outside_agency=True,
        category=Category.CRITICAL_INCIDENT,
        already_offered=frozenset(p.helper_id for p in pages),
        involved=incident.involved,
    )
    batch = indexed_batch(
        request,
        await matching.helper_roster(services),
        live_threads=services.relay.loads(),
        now=now,
        policy=replace(matching.routing_policy(services), batch_size=slots),
    )
    sent = await _send_pages(services, incident, batch)
    nobody_left = sent < slots  # fewer could be paged than the free slots wanted
    if nobody_left and incident.id not in services.incidents_exhausted:
        services.incidents_exhausted.add(incident.id)  # said once per incident (memory only)
        await _tell_coordinators(services, incident, nobody_left=True)


async def _send_pages(services: Services, incident: Incident, batch: list[Member]) -> int:
    now = services.clock()
    expires = now + services.config.routing.offer_timeout
    sent = 0
    for helper in batch:
        text = services.text_for(helper)
        buttons = _page_buttons(services, helper, incident.id)
        reply = Reply(text.page.format(agency=incident.agency), buttons)
        try:
            message = await services.send(helper.address, reply)
        except DeliveryError as exc:
            log.warning("page not delivered (permanent=%s)", exc.permanent)
            continue
        await services.repo.add_page(incident.id, helper.id, now, expires, message.message_id)
        sent += 1
    services.tally["pages sent"] += sent
    return sent


def _page_buttons(services: Services, helper: Member, incident_id: str) -> tuple[Choice, ...]:
    text = services.text_for(helper)
    return (
        services.choice(text.page_accept, "pga", incident_id, helper.address),
        services.choice(text.page_decline, "pgd", incident_id, helper.address),
        services.choice(text.offer_involved, "pgi", incident_id, helper.address),
    )


async def _expire(services: Services, incident: Incident, page: PageRecord) -> None:
    """No answer in time: the slot is refilled, and the page keeps its Yes button."""
    if not await services.repo.set_page_state(incident.id, page.helper_id, PageState.EXPIRED):
        return
    helper = await services.repo.member(page.helper_id)
    if helper is None or page.message_id is None:
        return
    text = services.text_for(helper)
    yes = services.choice(text.page_accept, "pga", incident.id, helper.address)
    await services.try_edit(
        Sent(helper.address, page.message_id),
        Reply(text.page_expired.format(agency=incident.agency), (yes,)),
    )


async def close(services: Services, incident: Incident, *, by_itself: bool = False) -> int | None:
    """Fold the incident into numbers and delete it, then tell the helpers and coordinators
    (`by_itself`: it lasted its time, and they are told so). How many were on call; None if it
    was closed already (caller holds the matching lock)."""
    pages = await services.repo.pages(incident.id)
    metrics = await services.repo.close_incident(incident.id)
    if metrics is None:
        return None
    await services.repo.fold_wal()  # the incident, its pages and involvement leave the WAL
    services.incidents_exhausted.discard(incident.id)
    services.tally["incidents closed"] += 1
    for page in pages:
        helper = await services.repo.member(page.helper_id)
        if helper is None:
            continue
        text = services.text_for(helper)
        if page.state is PageState.ACCEPTED:
            notice = text.page_closed_on_call.format(agency=incident.agency)
            await services.try_send(helper.address, Reply(notice))
        elif page.state in _ANSWERABLE and page.message_id is not None:
            await services.try_edit(
                Sent(helper.address, page.message_id),
                Reply(text.page_closed.format(agency=incident.agency)),
            )
    opener = await services.repo.member(incident.opened_by) if incident.opened_by else None
    people = [opener] if opener is not None and opener.active else []
    days = services.config.incidents.auto_close_days
    for coordinator in people or await services.repo.coordinators():
        text = services.text_for(coordinator)
        if by_itself:
            notice = text.incident_auto_closed.format(agency=incident.agency, days=days)
        else:
            notice = text.incident_closed.format(
                agency=incident.agency, count=metrics.pages_accepted
            )
        await services.try_send(coordinator.address, Reply(notice))
    return metrics.pages_accepted


# -- the helpers paged --------------------------------------------------------------------


async def _answer(
    turn: Turn, notice: str, page_message: str | None, choices: tuple[Choice, ...] = ()
) -> None:
    """Edit the page to the answer (its buttons go); answered by typing its number (Signal),
    the answer is also sent as a new message."""
    message_id = page_message
    if message_id is None and turn.event.kind is Kind.CHOICE:
        message_id = turn.event.message_id
    if message_id:
        await turn.services.try_edit(Sent(turn.event.address, message_id), Reply(notice, choices))
    if turn.event.kind is not Kind.CHOICE or not message_id:
        await turn.services.try_send(turn.event.address, Reply(notice, choices))


async def _page_of(turn: Turn, arg: str) -> tuple[Incident, PageRecord] | None:
    """The open incident and this helper's page, if the page can still be answered."""
    incident = await turn.services.repo.incident(IncidentId(arg))
    if incident is None or incident.closing:
        return None
    pages = await turn.services.repo.pages(incident.id)
    page = next((p for p in pages if p.helper_id == turn.member.id), None)
    return (incident, page) if page is not None and page.state in _ANSWERABLE else None


@router.choice("pga", roles=HELPER_ROLES)
async def accept_page(turn: Turn, arg: str) -> None:
    services, text = turn.services, turn.text
    async with services.matching_lock:
        found = await _page_of(turn, arg)
        if found is None or turn.member.id in found[0].involved:
            await turn.say(text.choice_expired)
            return
        incident, page = found
        await services.repo.set_page_state(
            incident.id, page.helper_id, PageState.ACCEPTED, or_expired=True
        )
        await services.repo.set_available(turn.member.id, True)
        services.tally["pages accepted"] += 1
        named = (
            turn.choice(text.page_name_yes, "pgn", f"{incident.id}/1"),
            turn.choice(text.page_name_no, "pgn", f"{incident.id}/0"),
        )
        notice = text.page_accepted.format(agency=incident.agency)
        await _answer(turn, notice, page.message_id, named)
        await _tell_coordinators(services, incident)


@router.choice("pgn", roles=HELPER_ROLES)
async def name_on_page(turn: Turn, arg: str) -> None:
    services, text = turn.services, turn.text
    incident_id, _, answer = arg.partition("/")
    async with services.matching_lock:
        incident = await services.repo.incident(IncidentId(incident_id))
        pages = await services.repo.pages(incident.id) if incident is not None else []
        on_call = any(
            p.helper_id == turn.member.id and p.state is PageState.ACCEPTED for p in pages
        )
        if incident is None or incident.closing or not on_call:
            await turn.say(text.choice_expired)
            return
        if answer != "1":
            await _answer(turn, text.page_counted, None)
            return
        await services.repo.note_named(incident.id, turn.member.id)
        await _answer(turn, text.page_named, None)
        updated = await services.repo.incident(incident.id)
        await _tell_coordinators(services, updated or incident)


async def _decline_page(turn: Turn, arg: str, *, involved: bool) -> None:
    services, text = turn.services, turn.text
    async with services.matching_lock:
        found = await _page_of(turn, arg)
        if found is None:
            await turn.say(text.choice_expired)
            return
        incident, page = found
        await services.repo.set_page_state(
            incident.id, page.helper_id, PageState.DECLINED, or_expired=True
        )
        if involved:
            await services.repo.note_involved(incident.id, turn.member.id)
        notice = text.page_involved_ack if involved else text.page_declined
        await _answer(turn, notice, page.message_id)
        await _tell_coordinators(services, incident)
        await advance(services, incident)


@router.choice("pgd", roles=HELPER_ROLES)
async def decline_page(turn: Turn, arg: str) -> None:
    await _decline_page(turn, arg, involved=False)


@router.choice("pgi", roles=HELPER_ROLES)
async def involved_in_incident(turn: Turn, arg: str) -> None:
    """Involved: never paged again for it, and skipped for every request tied to it."""
    await _decline_page(turn, arg, involved=True)
