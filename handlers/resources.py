"""Help beyond the chat: the program's directory (/resources) and a short self-check
(/selfcheck), the PC-PTSD-5, a public-domain screen from the VA's National Center for PTSD.

The self-check is scored in memory (`Services.selfchecks`) and the entry goes at the end, with
the result shown only to the person. Nothing about it is written to the database or the log.
"""

from __future__ import annotations

from datetime import timedelta

from bot.catalog import Catalog
from bot.config import RESOURCE_KINDS
from bot.events import Choice, Kind, Reply, Sent
from handlers.base import SelfCheck, Turn
from handlers.common import crisis_lines
from handlers.router import Router

router = Router()
ITEMS = 5
# The PC-PTSD-5's sensitive cut-point: 3 or more "yes" answers suggest a clinician.
THRESHOLD = 3
TTL = timedelta(minutes=30)


@router.command("resources")
async def resources(turn: Turn) -> None:
    text = turn.text
    entries = turn.services.config.resources.entries
    lines = [text.resources_title if entries else text.resources_none]
    for kind in RESOURCE_KINDS:
        listed = [e for e in entries if e.kind == kind]
        if not listed:
            continue
        lines.append("")
        lines.append(_kind_heading(text, kind))
        lines += [
            text.resources_entry.format(
                name=e.name, contact=e.contact, note=f" ({e.note})" if e.note else ""
            )
            for e in listed
        ]
    if not entries:
        lines.append(crisis_lines(text, turn.services.config.crisis))
    choices = (
        turn.choice(text.resources_selfcheck_button, "chk", "start"),
        turn.choice(text.crisis_button, "crisis"),
    )
    await turn.say("\n".join(lines), choices)


@router.command("selfcheck")
async def selfcheck(turn: Turn) -> None:
    await _start(turn)


async def _start(turn: Turn) -> None:
    turn.services.selfchecks[turn.member.id] = SelfCheck(started_at=turn.now)
    await _show(turn, turn.text.selfcheck_intro, question=True, edit=False)


@router.choice("chk")
async def answer(turn: Turn, arg: str) -> None:
    if arg == "start":
        await _start(turn)
        return
    services = turn.services
    check = services.selfchecks.get(turn.member.id)
    if check is None or turn.now - check.started_at > TTL or arg not in ("y", "n"):
        services.selfchecks.pop(turn.member.id, None)
        await turn.say(turn.text.selfcheck_expired)
        return
    if check.step == 0 and arg == "n":
        await _finish(turn, high=False)  # no event: the screen scores 0
        return
    if check.step > 0 and arg == "y":
        check.score += 1
    if check.step == ITEMS:
        await _finish(turn, high=check.score >= THRESHOLD)
        return
    check.step += 1
    await _show(turn, _items(turn.text)[check.step - 1], question=True)


def _kind_heading(text: Catalog, kind: str) -> str:
    return {
        "education": text.resources_kind_education,
        "clinician": text.resources_kind_clinician,
        "family": text.resources_kind_family,
        "chaplain": text.resources_kind_chaplain,
        "financial": text.resources_kind_financial,
    }[kind]


def _items(text: Catalog) -> tuple[str, ...]:
    return (
        text.selfcheck_item_1,
        text.selfcheck_item_2,
        text.selfcheck_item_3,
        text.selfcheck_item_4,
        text.selfcheck_item_5,
    )


async def _finish(turn: Turn, *, high: bool) -> None:
    turn.services.selfchecks.pop(turn.member.id, None)
    text = turn.text
    await _show(turn, text.selfcheck_high if high else text.selfcheck_low, question=False)


async def _show(turn: Turn, body: str, *, question: bool, edit: bool = True) -> None:
    """The next screen: the same message edited when they pressed a button (only the result
    stays in the chat), a new one otherwise. The crisis button is on every screen."""
    text = turn.text
    choices: tuple[Choice, ...] = (turn.choice(text.crisis_button, "crisis"),)
    if question:
        choices = (
            turn.choice(text.selfcheck_yes, "chk", "y"),
            turn.choice(text.selfcheck_no, "chk", "n"),
            *choices,
        )
    message_id = turn.event.message_id
    if edit and turn.event.kind is Kind.CHOICE and message_id:
        await turn.services.try_edit(Sent(turn.event.address, message_id), Reply(body, choices))
        return
    await turn.say(body, choices)
