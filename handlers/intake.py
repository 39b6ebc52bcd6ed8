"""An officer asks for a confidential check-in: /talk, a short intake, /cancel.

The intake: topic (or "I'm not safe right now", which skips everything), peer or chaplain,
outside my agency, the previous helper again if there was one, and a few optional words about
the incident that are shown in the offers and never stored.
"""

from __future__ import annotations

from datetime import timedelta

from bot.delivery import Priority, sending
from bot.events import Choice, Reply
from bot.model import (
    ASKER_ROLES,
    HELPER_ROLES,
    TOPICS,
    Category,
    MemberId,
    RequestId,
    Role,
    Thread,
    Wanted,
)
from bot.storage.repository import RequestRecord, new_request_id
from handlers import matching
from handlers.base import Intake, Turn
from handlers.common import category_label, crisis_lines
from handlers.router import Router

router = Router()
OFFICERS = ASKER_ROLES  # officers, family members and retirees ask the same way
INTAKE_TTL = timedelta(minutes=30)
NOTE_LIMIT = 200


@router.command("talk", roles=OFFICERS)
async def talk(turn: Turn) -> None:
    services = turn.services
    if services.relay.threads_of(turn.member.id):
        await turn.say(turn.text.already_in_thread)
        return
    if await matching.open_request_of(services, turn.member.id) is not None:
        await turn.say(turn.text.request_already_open)
        return
    intake = Intake(started_at=turn.now)
    services.intakes[turn.member.id] = intake
    if await matching.incident_of(services, turn.member) is not None:
        # A critical incident at their agency: that is the topic unless they say otherwise.
        intake.category = Category.CRITICAL_INCIDENT
        text = turn.text
        choices = (
            turn.choice(text.urgent_button, "urg"),
            *_who_choices(turn),
            turn.choice(text.intake_incident_other, "topics"),
        )
        await turn.say(text.intake_incident, choices)
        return
    await _ask_category(turn)


async def _ask_category(turn: Turn) -> None:
    text = turn.text
    choices = (
        turn.choice(text.urgent_button, "urg"),
        *(turn.choice(category_label(text, c), "cat", c.value) for c in TOPICS),
    )
    await turn.say(text.intake_category, choices)


@router.choice("topics", roles=OFFICERS)
async def other_topic(turn: Turn, _arg: str) -> None:
    if _intake(turn) is None:
        await turn.say(turn.text.intake_stale)
        return
    await _ask_category(turn)


def _who_choices(turn: Turn) -> tuple[Choice, ...]:
    text = turn.text
    return (
        turn.choice(text.who_peer, "who", Wanted.PEER.value),
        turn.choice(text.who_chaplain, "who", Wanted.CHAPLAIN.value),
        turn.choice(text.who_either, "who", Wanted.EITHER.value),
    )


def _intake(turn: Turn) -> Intake | None:
    intake = turn.services.intakes.get(turn.member.id)
    if intake is None or turn.now - intake.started_at > INTAKE_TTL:
        turn.services.intakes.pop(turn.member.id, None)
        return None
    return intake


@router.choice("urg", roles=OFFICERS)
async def not_safe(turn: Turn, _arg: str) -> None:
    """The urgent path: crisis lines at once, every available helper, coordinators paged.
    Pressed during a conversation (an old button): the crisis lines, and the helper is told."""
    with sending(Priority.RELAY):  # crisis lines go first when the rate limit binds
        await _not_safe(turn)


async def _not_safe(turn: Turn) -> None:
    turn.services.intakes.pop(turn.member.id, None)
    threads = turn.services.relay.threads_of(turn.member.id)
    if threads:
        await _not_safe_in_thread(turn, threads[0])
        return
    if await matching.open_request_of(turn.services, turn.member.id) is not None:
        await turn.say(turn.text.request_already_open)
        return
    record = RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=Category.NOT_SAFE,
        wanted=Wanted.EITHER,
        outside_agency=False,
        urgent=True,
        created_at=turn.now,
    )
    await matching.open_request(turn.services, turn.member, record)


@router.choice("cat", roles=OFFICERS)
async def chose_category(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or arg not in {c.value for c in TOPICS}:
        await turn.say(turn.text.intake_stale)
        return
    intake.category = Category(arg)
    await turn.say(turn.text.intake_who, _who_choices(turn))


@router.choice("who", roles=OFFICERS)
async def chose_who(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or intake.category is None or arg not in {w.value for w in Wanted}:
        await turn.say(turn.text.intake_stale)
        return
    intake.wanted = Wanted(arg)
    tied = await matching.incident_of(turn.services, turn.member) is not None
    if turn.member.role is Role.FAMILY or tied:
        # Always outside their (officer's) agency, and during an incident at the agency
        # always outside it (handlers/matching.py): nothing to ask.
        await _after_outside(turn, intake, outside=True)
        return
    text = turn.text
    choices = (
        turn.choice(text.outside_yes, "out", "1"),
        turn.choice(text.outside_no, "out", "0"),
    )
    await turn.say(text.intake_outside, choices)


@router.choice("out", roles=OFFICERS)
async def chose_outside(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or intake.wanted is None or arg not in ("0", "1"):
        await turn.say(turn.text.intake_stale)
        return
    await _after_outside(turn, intake, outside=arg == "1")


async def _after_outside(turn: Turn, intake: Intake, *, outside: bool) -> None:
    intake.outside_agency = outside
    services = turn.services
    private = await services.repo.officer_private(turn.member.id)
    previous = None
    again = private.wanted_again(turn.now.date())
    if again is not None:
        previous = await services.repo.member(again)
    if previous is not None and previous.active:
        text = turn.text
        name = previous.display_name
        choices = (
            turn.choice(text.again_yes.format(name=name), "again", str(previous.id)),
            turn.choice(text.again_no, "again", ""),
        )
        await turn.say(text.intake_again.format(name=name), choices)
        return
    await _ask_note(turn, intake)


@router.choice("again", roles=OFFICERS)
async def chose_again(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or intake.wanted is None:
        await turn.say(turn.text.intake_stale)
        return
    intake.preferred = MemberId(int(arg)) if arg.isdigit() else None
    await _ask_note(turn, intake)


async def _ask_note(turn: Turn, intake: Intake) -> None:
    intake.awaiting_note = True
    await turn.say(turn.text.intake_note, (turn.choice(turn.text.note_skip, "note"),))


def awaiting_note(turn: Turn) -> bool:
    intake = _intake(turn)
    return intake is not None and intake.awaiting_note


async def take_note(turn: Turn) -> None:
    """The officer typed a few words about the incident: memory only, shown in offers."""
    await _submit(turn, " ".join(turn.event.text.split())[:NOTE_LIMIT])


@router.choice("note", roles=OFFICERS)
async def skip_note(turn: Turn, _arg: str) -> None:
    await _submit(turn, "")


async def _submit(turn: Turn, note: str) -> None:
    intake = _intake(turn)
    turn.services.intakes.pop(turn.member.id, None)
    if intake is None or intake.category is None or intake.wanted is None:
        await turn.say(turn.text.intake_stale)
        return
    record = RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=intake.category,
        wanted=intake.wanted,
        outside_agency=intake.outside_agency,
        urgent=False,
        created_at=turn.now,
        preferred_helper=intake.preferred,
    )
    await matching.open_request(turn.services, turn.member, record, note)


@router.command("cancel", roles=OFFICERS | HELPER_ROLES)  # helpers: their own /debrief
async def cancel(turn: Turn) -> None:
    services = turn.services
    services.intakes.pop(turn.member.id, None)
    async with services.matching_lock:
        request = await matching.open_request_of(services, turn.member.id)
        if request is not None:
            await matching.close_request(services, request, lambda t: t.offer_closed)
    if request is None:
        await turn.say(turn.text.nothing_to_cancel)
        return
    await turn.say(turn.text.request_cancelled, crisis=True)  # a helper's debrief too


async def _not_safe_in_thread(turn: Turn, thread: Thread) -> None:
    services = turn.services
    text = turn.text
    helper = await services.repo.member(thread.helper_id)
    name = helper.display_name if helper else ""
    lines = crisis_lines(text, services.config.crisis)
    await turn.say(text.urgent_in_thread_officer.format(name=name, lines=lines))
    if helper is not None:
        alert = services.text_for(helper).urgent_in_thread_helper.format(
            alias=thread.officer_alias, tag=thread.tag
        )
        await services.try_send(helper.address, Reply(alert))


@router.choice("stop", roles=OFFICERS | HELPER_ROLES)
async def stop_looking(turn: Turn, arg: str) -> None:
    services = turn.services
    async with services.matching_lock:
        request = await services.repo.request(RequestId(arg))
        if request is None or request.officer_id != turn.member.id:
            await turn.say(turn.text.nothing_to_cancel)
            return
        await matching.close_request(services, request, lambda t: t.offer_closed)
    await turn.say(turn.text.request_cancelled, crisis=True)  # a helper's debrief too
