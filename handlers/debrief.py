"""A helper's own debrief after a hard conversation: /debrief, with a clinician or a chaplain.

Routed like an officer's request, through handlers/matching.py (offers, timeouts, paging,
the crisis lines at 30 minutes), with the helper as the one who asks: the same rules apply (not
their own chain of command, never themselves, certified helpers only, "I was involved" honoured)
and it is never widened to peers. The conversation is relayed like any other and ends with
/end; nothing from it is kept.
"""

from __future__ import annotations

from bot.model import HELPER_ROLES, Category, Wanted
from bot.storage.repository import RequestRecord, new_request_id
from handlers import matching
from handlers.base import Turn
from handlers.router import Router

router = Router()
WITH = (Wanted.CLINICIAN, Wanted.CHAPLAIN)


async def _busy(turn: Turn) -> bool:
    """Already asking: a debrief (or anything else) open, or one under way."""
    services = turn.services
    if any(t.officer_id == turn.member.id for t in services.relay.threads_of(turn.member.id)):
        await turn.say(turn.text.debrief_already)
        return True
    if await matching.open_request_of(services, turn.member.id) is not None:
        await turn.say(turn.text.request_already_open)
        return True
    return False


@router.command("debrief", roles=HELPER_ROLES)
async def debrief(turn: Turn) -> None:
    if await _busy(turn):
        return
    text = turn.text
    choices = (
        turn.choice(text.debrief_with_clinician, "dbf", Wanted.CLINICIAN.value),
        turn.choice(text.who_chaplain, "dbf", Wanted.CHAPLAIN.value),
    )
    await turn.say(text.debrief_prompt, choices, crisis=True)


@router.choice("dbf", roles=HELPER_ROLES)
async def debrief_with(turn: Turn, arg: str) -> None:
    if arg not in {w.value for w in WITH}:
        await turn.say(turn.text.choice_expired)
        return
    if await _busy(turn):
        return
    record = RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=Category.DEBRIEF,
        wanted=Wanted(arg),
        outside_agency=False,
        urgent=False,
        created_at=turn.now,
    )
    await matching.open_request(turn.services, turn.member, record)
