"""An officer asks for a confidential check-in: /talk, a three-tap intake, /cancel."""

from __future__ import annotations

from datetime import timedelta

from bot.model import Category, Role, Wanted
from bot.storage.repository import RequestRecord, new_request_id
from handlers import matching
from handlers.base import Intake, Turn
from handlers.router import Router

router = Router()
OFFICERS = frozenset({Role.OFFICER})
INTAKE_TTL = timedelta(minutes=30)


def category_label(turn: Turn, category: Category) -> str:
    return str(getattr(turn.text, f"category_{category.value}"))


@router.command("talk", roles=OFFICERS)
async def talk(turn: Turn) -> None:
    services = turn.services
    if services.relay.threads_of(turn.member.id):
        await turn.say(turn.text.request_already_open)
        return
    if await matching.open_request_of(services, turn.member.id) is not None:
        await turn.say(turn.text.request_already_open)
        return
    services.intakes[turn.member.id] = Intake(started_at=turn.now)
    choices = tuple(turn.choice(category_label(turn, c), "cat", c.value) for c in Category)
    await turn.say(turn.text.intake_category, choices)


def _intake(turn: Turn) -> Intake | None:
    intake = turn.services.intakes.get(turn.member.id)
    if intake is None or turn.now - intake.started_at > INTAKE_TTL:
        turn.services.intakes.pop(turn.member.id, None)
        return None
    return intake


@router.choice("cat", roles=OFFICERS)
async def chose_category(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or arg not in Category.__members__.values():
        await turn.say(turn.text.intake_stale)
        return
    intake.category = Category(arg)
    text = turn.text
    choices = (
        turn.choice(text.who_peer, "who", Wanted.PEER.value),
        turn.choice(text.who_chaplain, "who", Wanted.CHAPLAIN.value),
        turn.choice(text.who_either, "who", Wanted.EITHER.value),
    )
    await turn.say(text.intake_who, choices)


@router.choice("who", roles=OFFICERS)
async def chose_who(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    if intake is None or intake.category is None or arg not in Wanted.__members__.values():
        await turn.say(turn.text.intake_stale)
        return
    intake.wanted = Wanted(arg)
    text = turn.text
    choices = (
        turn.choice(text.outside_yes, "out", "1"),
        turn.choice(text.outside_no, "out", "0"),
    )
    await turn.say(text.intake_outside, choices)


@router.choice("out", roles=OFFICERS)
async def chose_outside(turn: Turn, arg: str) -> None:
    intake = _intake(turn)
    turn.services.intakes.pop(turn.member.id, None)
    if intake is None or intake.category is None or intake.wanted is None or arg not in "01":
        await turn.say(turn.text.intake_stale)
        return
    record = RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=intake.category,
        wanted=intake.wanted,
        outside_agency=arg == "1",
        urgent=False,
        created_at=turn.now,
    )
    await matching.open_request(turn, record)


@router.command("cancel", roles=OFFICERS)
async def cancel(turn: Turn) -> None:
    services = turn.services
    services.intakes.pop(turn.member.id, None)
    request = await matching.open_request_of(services, turn.member.id)
    if request is None:
        await turn.say(turn.text.nothing_to_cancel)
        return
    await matching.close_request(services, request, turn.text.offer_closed)
    await turn.say(turn.text.request_cancelled)
