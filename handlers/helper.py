"""Peers and chaplains (and coordinators, for paging): availability, hours, topics, name."""

from __future__ import annotations

import re
from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.catalog import Catalog
from bot.hours import HoursError, format_hours, parse_hours
from bot.i18n import listing
from bot.model import HELPER_ROLES, OPT_IN_ASKERS, TOPICS, Category, Member, Role
from handlers import matching
from handlers.base import Turn
from handlers.common import category_label
from handlers.router import Router

router = Router()
ON_CALL_ROLES = HELPER_ROLES | {Role.COORDINATOR}

_NAME = re.compile(r"^[\w][\w .'-]{0,31}$")


@router.command("available", roles=ON_CALL_ROLES)
async def available(turn: Turn) -> None:
    member = turn.member
    certified = member.certified_until is not None and member.certified_until >= turn.now.date()
    if member.is_helper and not certified:
        await turn.say(turn.text.not_certified)
        return
    if member.identity_hold:
        await turn.say(turn.text.identity_hold_helper)
        return
    await turn.services.repo.set_available(member.id, True)
    await turn.say(turn.text.now_available)
    # Someone may be waiting for exactly this person.
    await matching.tick(turn.services)


@router.command("away", roles=ON_CALL_ROLES)
async def away(turn: Turn) -> None:
    until = await matching.set_away(turn.services, turn.member)
    if until is None:
        await turn.say(turn.text.now_away)
    else:
        text = turn.text
        day = day_names(text)[until.weekday()]
        when = text.day_time.format(day=day, time=until.strftime("%H:%M"))
        await turn.say(text.now_away_until.format(until=when))


def day_names(text: Catalog) -> tuple[str, ...]:
    return (
        text.day_mon,
        text.day_tue,
        text.day_wed,
        text.day_thu,
        text.day_fri,
        text.day_sat,
        text.day_sun,
    )


def _hours_problem(text: Catalog, problem: HoursError) -> str:
    if problem.problem == "day":
        days = listing(text, day_names(text), style="or")
        return text.hours_bad_day.format(part=problem.detail, days=days)
    if problem.problem == "time":
        return text.hours_bad_time.format(time=problem.detail)
    if problem.problem == "empty":
        return text.hours_bad_empty
    return text.hours_bad_part.format(part=problem.detail)


def _zone(turn: Turn) -> str:
    return turn.member.timezone or turn.services.config.program.timezone


@router.command("hours", roles=ON_CALL_ROLES)
async def hours(turn: Turn) -> None:
    spec = turn.event.args.strip()
    zone = _zone(turn)
    text = turn.text
    days = day_names(text)
    if not spec:
        on_call = turn.member.on_call
        current = format_hours(on_call, days) if on_call else text.hours_none
        await turn.say(text.hours_prompt.format(zone=zone, current=current))
        return
    off_words = {"off", *(w.strip().lower() for w in text.hours_off_words.split(","))}
    if spec.lower() in off_words:
        await turn.services.repo.set_hours(turn.member.id, None, turn.member.timezone)
        await turn.say(text.hours_cleared)
        return
    try:
        parsed = parse_hours(spec, days)
    except HoursError as problem:
        await turn.say(_hours_problem(text, problem))
        return
    await turn.services.repo.set_hours(turn.member.id, parsed, turn.member.timezone)
    await turn.say(text.hours_set.format(hours=format_hours(parsed, days), zone=zone))


@router.command("timezone")  # everyone: on-call hours, quiet hours and check-ins use it
async def timezone(turn: Turn) -> None:
    name = turn.event.args.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        await turn.say(turn.text.timezone_bad)
        return
    await turn.services.repo.set_hours(turn.member.id, turn.member.on_call, name)
    await turn.say(turn.text.timezone_set.format(zone=name))


def support_label(text: Catalog, asker: Role) -> str:
    return text.support_family if asker is Role.FAMILY else text.support_retiree


async def _show_topics(turn: Turn, member: Member) -> None:
    """Topics rank offers; the two support choices decide whether a family member's or a
    retiree's request may be offered to this helper at all."""
    text = turn.text
    labels = [(category_label(text, c), c.value, c in member.topics) for c in TOPICS]
    labels += [(support_label(text, r), r.value, r in member.serves) for r in OPT_IN_ASKERS]
    choices = tuple(
        turn.choice(text.topic_on.format(label=label) if on else label, "top", value)
        for label, value, on in labels
    )
    await turn.say(text.topics_prompt, choices)


@router.command("load", roles=HELPER_ROLES)
async def load(turn: Turn) -> None:
    """A helper may lower their own cap on conversations at once (never raise it)."""
    text, arg = turn.text, turn.event.args.strip().lower()
    limit = turn.services.config.routing.max_threads_per_helper
    if not arg:
        now = min(turn.member.max_threads or limit, limit)
        await turn.say(text.load_now.format(cap=now, limit=limit))
        return
    cap: int | None = None
    if arg not in ("off", "none"):
        if not arg.isdigit() or not 1 <= int(arg) <= limit:
            await turn.say(text.load_bad.format(limit=limit))
            return
        cap = int(arg)
    await turn.services.repo.set_max_threads(turn.member.id, cap)
    await turn.say(text.load_set.format(cap=cap or limit))


@router.command("topics", roles=HELPER_ROLES)
async def topics(turn: Turn) -> None:
    await _show_topics(turn, turn.member)


@router.choice("top", roles=HELPER_ROLES)
async def toggle_topic(turn: Turn, arg: str) -> None:
    member = turn.member
    if arg in {c.value for c in TOPICS}:
        member = replace(member, topics=member.topics ^ {Category(arg)})
    elif arg in {r.value for r in OPT_IN_ASKERS}:
        member = replace(member, serves=member.serves ^ {Role(arg)})
    else:
        await turn.say(turn.text.choice_expired)
        return
    if not await turn.services.repo.set_topics(member.id, member.topics, member.serves):
        await turn.say(turn.text.choice_expired)  # the record is refused: nothing changed
        return
    await _show_topics(turn, member)


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
