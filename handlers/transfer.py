"""Hand-over with consent: a helper proposes a chaplain, a clinician or another peer; the
officer decides; the routing policy finds the new helper; the old one leaves when they pick up.
"""

from __future__ import annotations

from bot.events import Reply
from bot.model import ASKER_ROLES, HELPER_ROLES, Thread, ThreadId, Wanted
from bot.relay import Ambiguous, Deliver
from bot.storage.repository import RequestRecord, new_request_id
from handlers import matching
from handlers.base import Turn
from handlers.router import Router

router = Router()
OFFICERS = ASKER_ROLES
TARGETS = (Wanted.CHAPLAIN, Wanted.CLINICIAN, Wanted.PEER)
TARGET_VALUES = frozenset(w.value for w in TARGETS)


def _target_label(turn: Turn, wanted: Wanted) -> str:
    text = turn.text
    return {
        Wanted.CHAPLAIN: text.transfer_to_chaplain,
        Wanted.CLINICIAN: text.transfer_to_clinician,
        Wanted.PEER: text.transfer_to_peer,
    }[wanted]


async def _ask_target(turn: Turn, thread: Thread) -> None:
    choices = tuple(
        turn.choice(_target_label(turn, wanted), "xfer", f"{thread.id}/{wanted.value}")
        for wanted in TARGETS
    )
    await turn.say(turn.text.transfer_which, choices)


@router.command("transfer", roles=HELPER_ROLES)
async def transfer(turn: Turn) -> None:
    route = turn.services.relay.route(turn.member.id, turn.event.reply_to_id)
    if isinstance(route, Deliver):
        await _ask_target(turn, route.thread)
    elif isinstance(route, Ambiguous):
        choices = tuple(
            turn.choice(turn.text.thread_line.format(tag=t.tag, alias=t.officer_alias), "xt", t.id)
            for t in route.threads
        )
        await turn.say(turn.text.transfer_thread_which, choices)
    else:
        await turn.say(turn.text.not_in_thread_helper)


@router.choice("xt", roles=HELPER_ROLES)
async def transfer_which_thread(turn: Turn, arg: str) -> None:
    thread = _own_thread(turn, arg, as_helper=True)
    if thread is None:
        await turn.say(turn.text.switch_unknown)
        return
    await _ask_target(turn, thread)


@router.choice("xfer", roles=HELPER_ROLES)
async def propose(turn: Turn, arg: str) -> None:
    services = turn.services
    thread_id, _, wanted_value = arg.partition("/")
    thread = _own_thread(turn, thread_id, as_helper=True)
    if thread is None or wanted_value not in TARGET_VALUES:
        await turn.say(turn.text.switch_unknown)
        return
    officer = await services.repo.member(thread.officer_id)
    if officer is None:
        await turn.say(turn.text.switch_unknown)
        return
    wanted = Wanted(wanted_value)
    text = services.text_for(officer)
    name = turn.member.display_name
    choices = (
        services.choice(text.transfer_yes, "xok", f"{thread.id}/{wanted.value}", officer.address),
        services.choice(text.transfer_no.format(name=name), "xno", thread.id, officer.address),
    )
    who = matching.who_phrase(text, wanted)
    await services.try_send(
        officer.address, Reply(text.transfer_ask.format(name=name, who=who), choices)
    )
    await turn.say(turn.text.transfer_asked)


def _own_thread(turn: Turn, thread_id: str, *, as_helper: bool) -> Thread | None:
    """The live thread named by button data, if the presser is on the side it is meant for."""
    thread = turn.services.relay.threads.get(ThreadId(thread_id))
    if thread is None:
        return None
    side = thread.helper_id if as_helper else thread.officer_id
    return thread if side == turn.member.id else None


@router.choice("xok", roles=OFFICERS | HELPER_ROLES)  # the side that asked (a debrief too)
async def agree(turn: Turn, arg: str) -> None:
    services = turn.services
    thread_id, _, wanted_value = arg.partition("/")
    thread = _own_thread(turn, thread_id, as_helper=False)
    if thread is None or wanted_value not in TARGET_VALUES:
        await turn.say(turn.text.choice_expired)
        return
    if await matching.open_request_of(services, turn.member.id) is not None:
        await turn.say(turn.text.request_already_open)
        return
    helper = await services.repo.member(thread.helper_id)
    name = helper.display_name if helper else ""
    wanted = Wanted(wanted_value)
    record = RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=thread.category,
        wanted=wanted,
        outside_agency=thread.outside_agency,
        urgent=thread.urgent,
        created_at=turn.now,
        transfer_thread=thread.id,
    )
    if helper is not None:
        helper_text = services.text_for(helper)
        agreed = helper_text.transfer_agreed.format(
            alias=thread.officer_alias, who=matching.who_phrase(helper_text, wanted)
        )
        await services.try_send(helper.address, Reply(agreed))
    who = matching.who_phrase(turn.text, wanted)
    status = turn.text.transfer_searching.format(who=who, name=name)
    await matching.open_request(services, turn.member, record, status=status)


@router.choice("xno", roles=OFFICERS | HELPER_ROLES)
async def refuse(turn: Turn, arg: str) -> None:
    thread = _own_thread(turn, arg, as_helper=False)
    if thread is None:
        await turn.say(turn.text.choice_expired)
        return
    helper = await turn.services.repo.member(thread.helper_id)
    if helper is not None:
        notice = turn.services.text_for(helper).transfer_refused_helper.format(
            alias=thread.officer_alias
        )
        await turn.services.try_send(helper.address, Reply(notice))
    name = helper.display_name if helper else ""
    await turn.say(turn.text.transfer_refused_officer.format(name=name))
