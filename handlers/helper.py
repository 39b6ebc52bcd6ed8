"""Peers and chaplains: /available, /away, /name."""

from __future__ import annotations

import re

from bot.model import HELPER_ROLES
from handlers.base import Turn
from handlers.router import Router

router = Router()

_NAME = re.compile(r"^[\w][\w .'-]{0,31}$")


@router.command("available", roles=HELPER_ROLES)
async def available(turn: Turn) -> None:
    member = turn.member
    if member.certified_until is None or member.certified_until < turn.now.date():
        await turn.say(turn.text.not_certified)
        return
    await turn.services.repo.set_available(member.id, True)
    await turn.say(turn.text.now_available)


@router.command("away", roles=HELPER_ROLES)
async def away(turn: Turn) -> None:
    await turn.services.repo.set_available(turn.member.id, False)
    await turn.say(turn.text.now_away)


@router.command("name", roles=HELPER_ROLES)
async def set_name(turn: Turn) -> None:
    name = " ".join(turn.event.args.split())
    if not name:
        await turn.say(turn.text.name_prompt)
        return
    if not _NAME.match(name):
        await turn.say(turn.text.name_bad)
        return
    await turn.services.repo.set_display_name(turn.member.id, name)
    await turn.say(turn.text.name_set.format(name=name))
