"""After a conversation: an anonymous rating, and the officer's nickname preference."""

from __future__ import annotations

import secrets
from dataclasses import replace

from bot.events import Reply
from bot.model import Member, MemberId, Role
from bot.relay import alias_from
from handlers.base import Services, Turn
from handlers.router import Router

router = Router()
OFFICERS = frozenset({Role.OFFICER})
HELPED = ("yes", "no", "unsure")


async def ask_rating(services: Services, officer: Member) -> None:
    """One rating per conversation: the buttons carry a one-time token, kept in memory."""
    token = secrets.token_hex(4)
    services.rating_tokens[token] = None
    while len(services.rating_tokens) > 10_000:
        del services.rating_tokens[next(iter(services.rating_tokens))]
    choices = tuple(
        services.choice(str(score), "rate", f"{token}/{score}", officer.address)
        for score in range(1, 6)
    )
    await services.try_send(officer.address, Reply(services.text.rate_prompt, choices, columns=5))


@router.choice("rate", roles=OFFICERS)
async def rated(turn: Turn, arg: str) -> None:
    """Only the number is stored: no member, no thread, no time."""
    token, _, score = arg.partition("/")
    if score not in {"1", "2", "3", "4", "5"} or token not in turn.services.rating_tokens:
        await turn.say(turn.text.choice_expired)
        return
    del turn.services.rating_tokens[token]
    rating = await turn.services.repo.add_rating(int(score), None)
    text = turn.text
    labels = (text.helped_yes, text.helped_no, text.helped_unsure)
    choices = tuple(
        turn.choice(label, "helped", f"{rating}/{value}")
        for label, value in zip(labels, HELPED, strict=True)
    )
    await turn.say(text.helped_prompt, choices, columns=3)


@router.choice("helped", roles=OFFICERS)
async def helped(turn: Turn, arg: str) -> None:
    number, _, value = arg.partition("/")
    if not number.isdigit() or value not in HELPED:
        await turn.say(turn.text.choice_expired)
        return
    await turn.services.repo.set_rating_helped(int(number), value)
    await turn.say(turn.text.rating_thanks)


@router.command("nickname", roles=OFFICERS)
async def nickname(turn: Turn) -> None:
    """Toggle between a new nickname per conversation (default) and the same one each time."""
    repo = turn.services.repo
    private = await repo.officer_private(turn.member.id)
    stable = not private.stable_alias
    await repo.save_officer_private(turn.member.id, replace(private, stable_alias=stable))
    if stable:
        alias = stable_alias(turn.services, turn.member)
        await turn.say(turn.text.nickname_stable.format(alias=alias))
    else:
        await turn.say(turn.text.nickname_random)


def stable_alias(services: Services, officer: Member) -> str:
    """The same nickname every time, derived with a keyed hash: it reveals nothing itself."""
    digest = services.vault.lookup_hash(str(officer.id).encode(), purpose="alias")
    return alias_from(digest)


@router.choice("blk", roles=OFFICERS)
async def block_helper(turn: Turn, arg: str) -> None:
    """The officer's private "not this person again": sealed, never shown to anyone."""
    services = turn.services
    if not arg.isdigit():
        await turn.say(turn.text.choice_expired)
        return
    helper = await services.repo.member(MemberId(int(arg)))
    if helper is None:
        await turn.say(turn.text.choice_expired)
        return
    private = await services.repo.officer_private(turn.member.id)
    last = None if private.last_helper == helper.id else private.last_helper
    await services.repo.save_officer_private(
        turn.member.id, replace(private, blocked=private.blocked | {helper.id}, last_helper=last)
    )
    await turn.say(turn.text.blocked.format(name=helper.display_name))
