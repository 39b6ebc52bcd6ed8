"""A coordinator's everyday tools in the chat: /oncall, /waiting, /invite, /renew, /revoke.

Refused for every other role (the dispatcher admits members with coordinator rights too).
Nothing here names an officer or says who asked for help.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.i18n import listing
from bot.invites import create_invites, invite_links
from bot.model import HELPER_ROLES, Member, MemberId, RequestId, Role
from bot.oncall import ON_CALL_ROLES, on_call
from bot.storage.repository import OfferState
from handlers import matching, menus, thread
from handlers.base import Turn
from handlers.common import category_label
from handlers.router import COORDINATORS, Router

router = Router()

INVITE_ROLES = (Role.OFFICER, Role.FAMILY, Role.RETIREE, Role.PEER, Role.CHAPLAIN, Role.CLINICIAN)
MOST_INVITES = 20
INVITE_DAYS = 7
SHOWN_WAITING = 8


def _role_label(turn: Turn, role: Role) -> str:
    return str(getattr(turn.text, f"role_{role.value}"))


def _counts(turn: Turn, counts: dict[Role, int]) -> str:
    return listing(
        turn.text,
        (
            turn.text.oncall_count.format(role=_role_label(turn, role), count=counts[role])
            for role in ON_CALL_ROLES
        ),
    )


def _helper_label(member: Member) -> str:
    return f"{member.display_name or '-'} (#{member.id})"


@router.command("oncall", roles=COORDINATORS)
async def show_on_call(turn: Turn) -> None:
    zone = turn.services.config.program.timezone
    view = on_call(await turn.services.repo.members(), turn.now, zone)
    text = turn.text
    lines: list[str] = []
    if any(view.now.values()):
        counts = {role: len(people) for role, people in view.now.items()}
        lines.append(text.oncall_now.format(counts=_counts(turn, counts)))
        lines += [
            text.oncall_names.format(
                role=_role_label(turn, role),
                names=listing(text, (_helper_label(m) for m in people)),
            )
            for role, people in view.now.items()
            if people
        ]
    else:
        lines.append(text.oncall_nobody)
    ahead = "\n".join(
        text.oncall_ahead_line.format(time=moment.strftime("%H:%M"), counts=_counts(turn, counts))
        for moment, counts in view.ahead
    )
    lines.append(text.oncall_ahead.format(zone=zone, lines=ahead))
    await turn.say("\n\n".join(lines))


@router.command("waiting", roles=COORDINATORS)
async def show_waiting(turn: Turn) -> None:
    services, text = turn.services, turn.text
    waiting = sorted(await services.repo.open_requests(), key=lambda r: r.created_at)
    if not waiting:
        await turn.say(text.waiting_none)
        return
    lines = [text.waiting_header.format(count=len(waiting))]
    buttons = []
    for number, request in enumerate(waiting[:SHOWN_WAITING], start=1):
        offers = await services.repo.offers(request.id)
        paged = request.paged_at is not None
        if request.urgent:
            line = text.waiting_line_urgent_paged if paged else text.waiting_line_urgent
        else:
            line = text.waiting_line_paged if paged else text.waiting_line
        lines.append(
            line.format(
                number=number,
                minutes=int((turn.now - request.created_at).total_seconds() // 60),
                category=category_label(text, request.category),
                who=matching.who_phrase(text, request.wanted),
                pending=sum(1 for o in offers if o.state is OfferState.PENDING),
            )
        )
        buttons.append(turn.choice(text.push_button.format(number=number), "push", request.id))
    await turn.say("\n".join(lines), tuple(buttons))


@router.choice("push", roles=COORDINATORS)
async def push(turn: Turn, request_id: str) -> None:
    offered = await matching.offer_to_more(turn.services, RequestId(request_id))
    if offered is None:
        await turn.say(turn.text.push_gone)
    elif offered == 0:
        await turn.say(turn.text.push_nobody)
    else:
        await turn.say(turn.text.push_done.format(count=offered))


def _date(word: str) -> date | None:
    try:
        return date.fromisoformat(word)
    except ValueError:
        return None


def _parse_invite(args: str) -> tuple[Role, int, date | None, str | None] | None:
    words = args.split()
    if not words or words[0].lower() not in {r.value for r in INVITE_ROLES}:
        return None
    role, rest = Role(words[0].lower()), words[1:]
    count = 1
    if rest and rest[0].isdigit():
        count, rest = int(rest[0]), rest[1:]
    certified = _date(rest[0]) if rest else None
    if certified is not None:
        rest = rest[1:]
    if not 1 <= count <= MOST_INVITES:
        return None
    return role, count, certified, " ".join(rest) or None


@router.command("invite", roles=COORDINATORS)
async def invite(turn: Turn) -> None:
    text = turn.text
    parsed = _parse_invite(turn.event.args)
    if parsed is None:
        await turn.say(text.invite_usage.format(most=MOST_INVITES))
        return
    role, count, certified, agency = parsed
    today = turn.now.astimezone(ZoneInfo(turn.services.config.program.timezone)).date()
    if role in HELPER_ROLES and (certified is None or certified < today):
        await turn.say(text.invite_needs_date.format(role=role.value))
        return
    if role is Role.FAMILY and agency is None:
        await turn.say(text.invite_needs_agency)
        return
    codes = await create_invites(
        turn.services.repo,
        role=role,
        agency=agency,
        count=count,
        valid_for=timedelta(days=INVITE_DAYS),
        certified_until=certified if role in HELPER_ROLES else None,
        now=turn.now,
    )
    config = turn.services.config
    listed = "\n\n".join(
        "\n".join([code, *(link for _, link in invite_links(config, code))]) for code in codes
    )
    await turn.say(
        (text.invite_codes_agency if agency else text.invite_codes).format(
            count=count,
            role=role.value,  # the word typed after /invite, in every language
            agency=agency or "",
            days=INVITE_DAYS,
            codes=listed,
        )
    )


def _member_number(word: str) -> MemberId | None:
    return MemberId(int(word.removeprefix("#"))) if word.removeprefix("#").isdigit() else None


@router.command("renew", roles=COORDINATORS)
async def renew(turn: Turn) -> None:
    text = turn.text
    words = turn.event.args.split()
    number = _member_number(words[0]) if len(words) == 2 else None
    until = _date(words[1]) if number is not None else None
    if number is None or until is None or until < turn.now.date():
        await turn.say(text.renew_usage)
        return
    member = await turn.services.repo.member(number)
    if member is None:
        await turn.say(text.member_unknown.format(member=number))
    elif member.role not in HELPER_ROLES:
        await turn.say(text.renew_not_helper.format(member=number))
    else:
        await turn.services.repo.set_certified_until(member.id, until)
        await turn.say(text.renew_done.format(member=number, until=until.isoformat()))


@router.command("revoke", roles=COORDINATORS)
async def revoke(turn: Turn) -> None:
    text = turn.text
    words = turn.event.args.split()
    number = _member_number(words[0]) if len(words) == 1 else None
    if number is None:
        await turn.say(text.revoke_usage)
    elif number == turn.member.id:
        await turn.say(text.revoke_self)
    elif not await turn.services.repo.set_active(number, False):
        await turn.say(text.member_unknown.format(member=number))
    else:
        revoked = await turn.services.repo.member(number)
        if revoked is not None:
            menus.remove(turn.services, revoked.address)
        await turn.say(text.revoke_done.format(member=number))
        await thread.end_with_the_gone(turn.services)  # whoever they were talking with is told
