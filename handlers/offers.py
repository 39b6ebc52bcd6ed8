"""Helpers answer offers: Accept (first one wins), Decline, or "I was involved".

Every step runs under the matching lock shared with the contact clock (handlers/matching.py).
The accept is one transaction: the request row is deleted (the claim), the thread stored, and a
thread being handed over shredded, or nothing changes.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.escalation import effective_wanted
from bot.events import Kind, Reply, Sent
from bot.model import (
    HELPER_ROLES,
    Member,
    OfficerPrivate,
    RequestId,
    Role,
    Thread,
    ThreadId,
    Wanted,
)
from bot.relay import new_alias, new_tag
from bot.routing import capacity, is_eligible
from bot.storage.repository import OfferState, RequestRecord, new_thread_id
from handlers import aftercare, matching
from handlers.base import Services, Turn
from handlers.common import category_label
from handlers.router import Router

log = logging.getLogger(__name__)
router = Router()


async def _answer_offer(turn: Turn, notice: str, offer_message: str | None = None) -> list[str]:
    """Answer a helper about an offer: the offer message itself is edited (so its note and
    buttons go); when they answered by typing its number they also get the answer as a new
    message. Returns the ids of the messages that now show `notice`."""
    shown: list[str] = []
    message_id = offer_message
    if message_id is None and turn.event.kind is Kind.CHOICE:
        message_id = turn.event.message_id
    if message_id:
        await turn.services.try_edit(Sent(turn.event.address, message_id), Reply(notice))
        shown.append(message_id)
    if turn.event.kind is not Kind.CHOICE or not message_id:
        sent = await turn.services.try_send(turn.event.address, Reply(notice))
        if sent is not None:
            shown.append(sent.message_id)
    return shown


@router.choice("acc", roles=HELPER_ROLES)
async def accept(turn: Turn, arg: str) -> None:
    """Accepting attests "I was not a responder, witness or party to this incident"."""
    services = turn.services
    async with services.matching_lock:
        await _accept(turn, RequestId(arg))


async def _still_eligible(
    services: Services, helper: Member, request: RequestRecord, officer: Member
) -> bool:
    """At the moment of accepting, every rule but availability is checked again: a cool-down,
    a lapsed certification or a new chain-of-command record since the offer went out."""
    now = services.clock()
    routing_request = await matching.routing_view(
        services, request, officer, request.wanted, [], now=now, second_round=True
    )
    widened = matching.clock_state(request)
    routing_request = replace(
        routing_request, wanted=effective_wanted(widened, now, matching.clock_timing(services))
    )
    return is_eligible(
        helper,
        routing_request,
        live_threads=services.relay.load(helper.id),
        now=now,
        policy=matching.routing_policy(services),
        default_zone=services.config.program.timezone,
        check_availability=False,
    )


async def _accept(turn: Turn, request_id: RequestId) -> None:
    services = turn.services
    helper = turn.member
    repo = services.repo
    text = turn.text
    request = await repo.request(request_id)
    if request is None:
        taken = services.closed.get(request_id) == "taken"
        await _answer_offer(turn, text.offer_taken if taken else text.offer_closed)
        return
    offers = await repo.offers(request_id)
    mine = next((o for o in offers if o.helper_id == helper.id), None)
    offer_message = mine.message_id if mine is not None else None
    if services.relay.load(helper.id) >= capacity(helper, matching.routing_policy(services)):
        await turn.services.try_send(turn.event.address, Reply(text.offer_busy))
        return
    officer = await repo.member(request.officer_id)
    old = services.relay.threads.get(request.transfer_thread or ThreadId(""))
    asking = (
        [t for t in services.relay.threads_of(officer.id) if t.officer_id == officer.id]
        if officer
        else []
    )
    if officer is None or (old is None and asking):
        # Gone, or already talking with someone (this is not a hand-over): nothing to join.
        await matching.close_request(services, request, lambda t: t.offer_closed)
        await _answer_offer(turn, text.offer_closed)
        return
    usable = mine is not None and not mine.involved and mine.state is not OfferState.DECLINED
    if not usable or not await _still_eligible(services, helper, request, officer):
        await _answer_offer(turn, text.offer_closed, offer_message)
        return
    now = turn.now
    private = await repo.officer_private(officer.id)
    thread = Thread(
        id=new_thread_id(),
        tag=new_tag(services.relay.taken_tags()),
        officer_id=officer.id,
        helper_id=helper.id,
        officer_alias=_officer_alias(services, officer, stable=private.stable_alias),
        category=request.category,
        urgent=request.urgent,
        opened_at=now,
        outside_agency=request.outside_agency,
    )
    # The claim: request gone, thread stored (and a handed-over thread shredded), or nothing.
    if not await repo.claim_request(request_id, thread, old.id if old else None):
        await _answer_offer(turn, text.offer_taken, offer_message)
        return
    if old is not None:
        services.relay.close(old.id)  # in the same step as the open: no message falls between
    services.relay.open(thread)
    services.notes.pop(request_id, None)  # shown in the offers only; gone at the match
    services.remember_closed(request_id, "taken")
    services.tally["matched"] += 1  # counted, never logged one by one with its time
    await repo.mark_assigned(helper.id, now)
    await repo.reset_ignored_offers(helper.id)
    private = await _count_return(services, officer, request, private, handing_over=bool(old))
    await matching.record_metrics(services, request, matched_at=now)
    await repo.fold_wal()  # the claimed request and the accept's writes leave the WAL now
    if old is not None:
        await _hand_over(services, old, thread, helper)
    for offer in offers:
        if offer.helper_id != helper.id and offer.state is not OfferState.DECLINED:
            await matching.edit_offer(
                services, offer.helper_id, offer.message_id, lambda t: t.offer_taken
            )
    connected = text.thread_open_helper.format(alias=thread.officer_alias, tag=thread.tag)
    for message_id in await _answer_offer(turn, connected, offer_message):
        services.relay.shown(thread.id, helper.id, message_id)
    opened = await services.try_send(
        officer.address, Reply(_thread_open(services, officer, helper))
    )
    if opened is not None:
        services.relay.shown(thread.id, officer.id, opened.message_id)
    await _maybe_suggest_referral(services, thread, helper, private)


async def announce_open_threads(services: Services) -> int:
    """After a crash: both sides of every live conversation are told again that it is open.
    An accept is stored before anyone is told of it, so a crash in between would otherwise
    leave the officer waiting for a helper who is already there. Returns how many."""
    told = 0
    for thread in list(services.relay.threads.values()):
        officer = await services.repo.member(thread.officer_id)
        helper = await services.repo.member(thread.helper_id)
        if officer is None or helper is None:
            continue
        connected = services.text_for(helper).thread_open_helper.format(
            alias=thread.officer_alias, tag=thread.tag
        )
        for member, line in (
            (helper, connected),
            (officer, _thread_open(services, officer, helper)),
        ):
            sent = await services.try_send(member.address, Reply(line))
            if sent is not None:
                services.relay.shown(thread.id, member.id, sent.message_id)
        told += 1
    return told


def _officer_alias(services: Services, officer: Member, *, stable: bool) -> str:
    if stable:
        return aftercare.stable_alias(services, officer)
    return new_alias(services.text_for(officer))


def _thread_open(services: Services, officer: Member, helper: Member) -> str:
    """What the officer reads when someone picks up: short, in the officer's language."""
    text = services.text_for(officer)
    role_phrase = {
        Role.CHAPLAIN: text.role_phrase_chaplain,
        Role.CLINICIAN: text.role_phrase_clinician,
    }.get(helper.role, text.role_phrase_peer)
    return text.thread_open_officer.format(name=helper.display_name, role_phrase=role_phrase)


async def _count_return(
    services: Services,
    officer: Member,
    request: RequestRecord,
    private: OfficerPrivate,
    *,
    handing_over: bool,
) -> OfficerPrivate:
    """A new conversation (not a hand-over) counts one more on its topic, in the officer's
    sealed record: a number, with no time and no helper."""
    if handing_over:
        return private
    private = private.returned(request.category.value)
    await services.repo.save_officer_private(officer.id, private)
    return private


async def _maybe_suggest_referral(
    services: Services, thread: Thread, helper: Member, private: OfficerPrivate
) -> None:
    """The same officer keeps coming back about the same topic: prompt the helper (never a
    clinician already) to suggest a clinician hand-over, which the officer must agree to."""
    count = private.returns_for(thread.category.value)
    if helper.role is Role.CLINICIAN or count < services.config.routing.referral_after:
        return
    text = services.text_for(helper)
    prompt = text.referral_prompt.format(
        topic=category_label(text, thread.category).lower(), count=count
    )
    button = services.choice(
        text.referral_button, "xfer", f"{thread.id}/{Wanted.CLINICIAN.value}", helper.address
    )
    await services.try_send(helper.address, Reply(prompt, (button,)))
    log.info("referral suggested to the helper")


async def _hand_over(services: Services, old: Thread, new: Thread, new_helper: Member) -> None:
    """The new helper picked up (the old thread's key went with the claim): tell the old
    helper they have left."""
    previous = await services.repo.member(old.helper_id)
    if previous is None:
        return
    text = services.text_for(previous)
    who = {
        Role.CHAPLAIN: text.who_phrase_chaplain,
        Role.CLINICIAN: text.who_phrase_clinician,
    }.get(new_helper.role, text.who_phrase_peer)
    notice = text.transfer_done_helper.format(alias=old.officer_alias, tag=old.tag, who=who)
    await services.try_send(previous.address, Reply(notice))
    services.tally["handed over"] += 1


async def _decline(turn: Turn, request_id: RequestId, *, involved: bool) -> None:
    services = turn.services
    async with services.matching_lock:
        offers = await services.repo.offers(request_id)
        mine = next((o for o in offers if o.helper_id == turn.member.id), None)
        offer_message = mine.message_id if mine is not None else None
        declined = await services.repo.set_offer_state(
            request_id, turn.member.id, OfferState.DECLINED, involved=involved
        )
        if not declined:
            await _answer_offer(turn, turn.text.offer_closed, offer_message)
            return
        await services.repo.reset_ignored_offers(turn.member.id)
        if involved:
            await _involved_in_incident(services, request_id, turn.member)
        text = turn.text
        notice = text.offer_involved_ack if involved else text.offer_declined
        await _answer_offer(turn, notice, offer_message)
        await matching.advance(services, request_id)


async def _involved_in_incident(services: Services, request_id: RequestId, helper: Member) -> None:
    """Involved in a request tied to a critical incident: involved in the incident, so no
    request tied to it comes to them again, not only this one."""
    request = await services.repo.request(request_id)
    officer = await services.repo.member(request.officer_id) if request is not None else None
    incident = await matching.incident_of(services, officer) if officer is not None else None
    if incident is not None:
        await services.repo.note_involved(incident.id, helper.id)


@router.choice("dec", roles=HELPER_ROLES)
async def decline(turn: Turn, arg: str) -> None:
    await _decline(turn, RequestId(arg), involved=False)


@router.choice("inv", roles=HELPER_ROLES)
async def declare_involved(turn: Turn, arg: str) -> None:
    """The privilege does not cover a helper who was a responder, witness or party."""
    await _decline(turn, RequestId(arg), involved=True)
