"""After a conversation: an anonymous rating, and the officer's nickname preference."""

from __future__ import annotations

import secrets
from dataclasses import replace

from bot.events import Choice, Reply
from bot.model import ASKER_ROLES, Member, MemberId
from bot.relay import alias_from
from handlers.base import Services, Turn
from handlers.router import Router

router = Router()
OFFICERS = ASKER_ROLES
HELPED = ("yes", "no", "unsure")


async def ask_rating(services: Services, officer: Member, after: tuple[Choice, ...]) -> None:
    """One rating per conversation: the buttons carry a one-time token, kept in memory.
    Under them, last, `after`: the officer's private choices about that person."""
    token = secrets.token_hex(4)
    services.rating_tokens[token] = None
    while len(services.rating_tokens) > 10_000:
        del services.rating_tokens[next(iter(services.rating_tokens))]
    text = services.text_for(officer)
    scores = tuple(
        services.choice(str(score), "rate", f"{token}/{score}", officer.address)
        for score in range(1, 6)
    )
    await services.try_send(officer.address, Reply(text.rate_prompt, (*scores, *after), columns=5))


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
    return alias_from(digest, services.text_for(officer))


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
    again = None if private.again == helper.id else private.again
    await services.repo.save_officer_private(
        turn.member.id,
        replace(
            private,
            blocked=private.blocked | {helper.id},
            again=again,
            again_until=private.again_until if again else None,
        ),
    )
    await services.repo.fold_wal()
    await turn.say(turn.text.blocked.format(name=helper.display_name))


@router.choice("keep", roles=OFFICERS)
async def keep_helper(turn: Turn, arg: str) -> None:
    """The officer chose "the same person next time": sealed, and only until it expires."""
    services = turn.services
    helper = await services.repo.member(MemberId(int(arg))) if arg.isdigit() else None
    if helper is None or not helper.active or not helper.is_helper:
        await turn.say(turn.text.choice_expired)
        return
    keep_for = services.config.routing.remember_helper_for
    until = turn.now.date() + keep_for
    private = await services.repo.officer_private(turn.member.id)
    kept = replace(
        private, again=helper.id, again_until=until, blocked=private.blocked - {helper.id}
    )
    await services.repo.save_officer_private(turn.member.id, kept)
    await services.repo.fold_wal()
    forget = turn.choice(turn.text.forget_button, "forget")
    days = keep_for.days
    await turn.say(turn.text.kept.format(name=helper.display_name, days=days), (forget,))


@router.choice("forget", roles=OFFICERS)
async def forget_helper(turn: Turn, _arg: str) -> None:
    services = turn.services
    private = await services.repo.officer_private(turn.member.id)
    if private.again is not None:
        await services.repo.save_officer_private(
            turn.member.id, replace(private, again=None, again_until=None)
        )
        await services.repo.fold_wal()
    await turn.say(turn.text.forgotten)


@router.command("blocked", roles=OFFICERS)
async def blocked_list(turn: Turn) -> None:
    """The officer's own "not this person again" list, to see and to clear."""
    services = turn.services
    private = await services.repo.officer_private(turn.member.id)
    names = []
    for helper_id in sorted(private.blocked):
        helper = await services.repo.member(helper_id)
        if helper is not None:
            names.append((helper_id, helper.display_name))
    if not names:
        await turn.say(turn.text.blocked_none)
        return
    text = turn.text
    choices = tuple(
        turn.choice(text.unblock_button.format(name=name), "unblk", str(helper_id))
        for helper_id, name in names
    )
    if len(names) > 1:
        choices += (turn.choice(text.unblock_all_button, "unblk", "all"),)
    lines = "\n".join(name for _, name in names)
    await turn.say(text.blocked_list.format(names=lines), choices)


@router.choice("unblk", roles=OFFICERS)
async def unblock(turn: Turn, arg: str) -> None:
    services = turn.services
    private = await services.repo.officer_private(turn.member.id)
    if arg == "all":
        cleared = frozenset[MemberId]()
        answer = turn.text.unblocked_all
    elif arg.isdigit() and MemberId(int(arg)) in private.blocked:
        cleared = private.blocked - {MemberId(int(arg))}
        helper = await services.repo.member(MemberId(int(arg)))
        answer = turn.text.unblocked.format(name=helper.display_name if helper else "")
    else:
        await turn.say(turn.text.choice_expired)
        return
    await services.repo.save_officer_private(turn.member.id, replace(private, blocked=cleared))
    await services.repo.fold_wal()
    await turn.say(answer)
