"""Offers to helpers and the race to accept: first accept wins, everyone else is told."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.events import Reply, Sent
from bot.model import HELPER_ROLES, Member, MemberId, RequestId, Role, Thread, Wanted
from bot.relay import new_alias, new_tag
from bot.routing import Policy, RoutingRequest, next_batch
from bot.storage.repository import (
    OfferState,
    RequestRecord,
    new_thread_id,
)
from handlers.base import Services, Turn
from handlers.common import crisis_lines
from handlers.router import Router

log = logging.getLogger(__name__)
router = Router()


def _policy(services: Services) -> Policy:
    routing = services.config.routing
    return Policy(
        max_threads_per_helper=routing.max_threads_per_helper, batch_size=routing.offer_batch
    )


def who_phrase(services: Services, wanted: Wanted) -> str:
    text = services.text
    return {
        Wanted.PEER: text.who_phrase_peer,
        Wanted.CHAPLAIN: text.who_phrase_chaplain,
        Wanted.EITHER: text.who_phrase_either,
    }[wanted]


async def open_request_of(services: Services, officer_id: MemberId) -> RequestRecord | None:
    for request in await services.repo.open_requests():
        if request.officer_id == officer_id:
            return request
    return None


async def open_request(turn: Turn, record: RequestRecord) -> None:
    services = turn.services
    await services.repo.create_request(record)
    goal = int(services.config.routing.contact_goal.total_seconds() // 60)
    await turn.say(
        turn.text.request_open.format(who=who_phrase(services, record.wanted), goal_minutes=goal),
        (turn.choice(turn.text.crisis_button, "crisis"),),
    )
    sent = await send_offers(services, record, turn.member, now=turn.now)
    if sent == 0:
        await services.repo.delete_request(record.id)
        lines = crisis_lines(turn.text, services.config.crisis)
        await turn.say(turn.text.request_none_free.format(lines=lines))
        log.info("request %s found no eligible helper", "closed")


async def send_offers(
    services: Services, record: RequestRecord, officer: Member, *, now: datetime
) -> int:
    """Offer the request to the next batch of eligible helpers. Returns how many got it."""
    offered = frozenset(o.helper_id for o in await services.repo.offers(record.id))
    routing_request = RoutingRequest(
        officer_id=record.officer_id,
        officer_agency_hash=officer.agency_hash,
        wanted=record.wanted,
        outside_agency=record.outside_agency,
        already_offered=offered,
    )
    helpers = await services.repo.members(roles=HELPER_ROLES)
    batch = next_batch(
        routing_request,
        helpers,
        live_threads=services.relay.loads(),
        now=now,
        policy=_policy(services),
    )
    text = services.text
    category = str(getattr(text, f"category_{record.category.value}"))
    expires = now + services.config.routing.offer_timeout
    delivered = 0
    for helper in batch:
        reply = Reply(
            text.offer.format(category=category, who=who_phrase(services, record.wanted)),
            (
                services.choice(text.offer_accept, "acc", record.id, helper.address),
                services.choice(text.offer_decline, "dec", record.id, helper.address),
            ),
            columns=2,
        )
        sent = await services.try_send(helper.address, reply)
        if sent is None:
            continue
        await services.repo.add_offer(record.id, helper.id, now, expires, sent.message_id)
        delivered += 1
    log.info("offers sent: %d", delivered)
    return delivered


async def close_request(services: Services, request: RequestRecord, notice: str) -> None:
    """Withdraw a request and edit every still-pending offer to `notice`."""
    offers = await services.repo.offers(request.id)
    if not await services.repo.delete_request(request.id):
        return
    for offer in offers:
        if offer.state is OfferState.PENDING:
            await _edit_offer(services, offer.helper_id, offer.message_id, notice)


async def _edit_offer(
    services: Services, helper_id: MemberId, message_id: str | None, notice: str
) -> None:
    helper = await services.repo.member(helper_id)
    if helper is None or message_id is None:
        return
    await services.try_edit(Sent(helper.address, message_id), Reply(notice))


def _edit_target(turn: Turn) -> Sent | None:
    message_id = turn.event.message_id
    return Sent(turn.event.address, message_id) if message_id else None


async def _answer_offer(turn: Turn, notice: str) -> None:
    target = _edit_target(turn)
    if target is not None:
        await turn.services.try_edit(target, Reply(notice))
    else:
        await turn.say(notice)


@router.choice("acc", roles=HELPER_ROLES)
async def accept(turn: Turn, arg: str) -> None:
    services = turn.services
    helper = turn.member
    request_id = RequestId(arg)
    request = await services.repo.request(request_id)
    if request is None:
        await _answer_offer(turn, turn.text.offer_closed)
        return
    if services.relay.load(helper.id) >= services.config.routing.max_threads_per_helper:
        await turn.say(turn.text.offer_busy)
        return
    offers = await services.repo.offers(request_id)
    # Deleting the request is the claim: exactly one accept can delete it.
    if not await services.repo.delete_request(request_id):
        await _answer_offer(turn, turn.text.offer_taken)
        return
    officer = await services.repo.member(request.officer_id)
    if officer is None:
        await _answer_offer(turn, turn.text.offer_closed)
        return
    thread = Thread(
        id=new_thread_id(),
        tag=new_tag(services.relay.taken_tags()),
        officer_id=officer.id,
        helper_id=helper.id,
        officer_alias=new_alias(),
        category=request.category,
        urgent=request.urgent,
        opened_at=turn.now,
    )
    await services.repo.save_thread(thread)
    services.relay.open(thread)
    await services.repo.mark_assigned(helper.id, turn.now)
    log.info("request matched; thread opened")
    for offer in offers:
        if offer.helper_id != helper.id and offer.state is OfferState.PENDING:
            await _edit_offer(services, offer.helper_id, offer.message_id, turn.text.offer_taken)
    await _answer_offer(
        turn, turn.text.thread_open_helper.format(alias=thread.officer_alias, tag=thread.tag)
    )
    role_phrase = (
        turn.text.role_phrase_chaplain
        if helper.role is Role.CHAPLAIN
        else turn.text.role_phrase_peer
    )
    await services.try_send(
        officer.address,
        Reply(
            turn.text.thread_open_officer.format(
                name=helper.display_name,
                role_phrase=role_phrase,
                confidentiality=services.config.program.confidentiality,
            )
        ),
    )


@router.choice("dec", roles=HELPER_ROLES)
async def decline(turn: Turn, arg: str) -> None:
    services = turn.services
    request_id = RequestId(arg)
    if not await services.repo.set_offer_state(request_id, turn.member.id, OfferState.DECLINED):
        await _answer_offer(turn, turn.text.offer_closed)
        return
    await _answer_offer(turn, turn.text.offer_declined)
    request = await services.repo.request(request_id)
    if request is None:
        return
    offers = await services.repo.offers(request_id)
    if any(o.state is OfferState.PENDING for o in offers):
        return
    officer = await services.repo.member(request.officer_id)
    if officer is None:
        return
    if await send_offers(services, request, officer, now=turn.now) == 0:
        await services.repo.delete_request(request_id)
        lines = crisis_lines(turn.text, services.config.crisis)
        await services.try_send(
            officer.address, Reply(turn.text.request_none_free.format(lines=lines))
        )
