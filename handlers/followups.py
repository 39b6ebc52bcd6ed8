"""Check-in follow-ups: the plan told at the end of a conversation, a helper's own follow-up,
/checkin, /quiet, the nudge and its answers, and the dispatcher that sends what is due.

The schedule lives in the database (bot/storage/followups.py); when each nudge is due is
decided by bot/followups.py. Nudges go through the Messenger seam, so they reach members on
whichever platform they are on, with the same choices.

Every check-in screen to the person checked on (the plan, the question, the nudge and the
answers to it) carries a crisis line or a button to them (`crisis=True`): an officer's always
would, and so must a helper's after their own debrief, or anyone's on /checkin.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from bot.catalog import Catalog
from bot.events import Choice, DeliveryError, Reply
from bot.followups import (
    MONTHLY,
    WEEKLY,
    Answer,
    Decision,
    FollowUp,
    Kind,
    QuietHoursError,
    Schedule,
    answered,
    decide,
    first_due,
    parse_clock,
    parse_quiet,
    retry_at,
    snooze,
    zone_of,
)
from bot.i18n import day_and_date, listing
from bot.logs import where
from bot.model import ASKER_ROLES, HELPER_ROLES, Category, Member, MemberId, Thread, Wanted
from bot.relay import Deliver, UnknownReply
from bot.storage.repository import RequestRecord, new_followup_id, new_request_id
from handlers import matching
from handlers.base import FollowupAsk, Services, Turn
from handlers.matching import Line
from handlers.router import Router

log = logging.getLogger(__name__)
router = Router()
OFFICERS = ASKER_ROLES
# A claimed row is another dispatcher's for this long; a dispatcher that died is replaced then.
LEASE = timedelta(minutes=10)
CLAIM_BATCH = 500
_MAX_ASKS = 10_000
_DAYS = re.compile(r"^\s*(\d{1,3})\s*d?\s*$", re.IGNORECASE)


# -- the schedule of one member ------------------------------------------------------------


async def schedule_for(services: Services, member: Member) -> Schedule:
    config = services.config.followups
    quiet = await services.repo.quiet_hours(member.id)
    if quiet is None:
        quiet = config.quiet_hours
    return Schedule(
        zone=zone_of(member.timezone, services.config.program.timezone),
        quiet=parse_quiet(quiet) if quiet else None,
        send_at=parse_clock(config.send_at),
    )


async def _store(services: Services, followup: FollowUp, *, replacing: Kind | None) -> None:
    await services.repo.add_followup(followup, replacing=replacing)
    services.followups_changed(followup.due_at)


def in_days(text: Catalog, days: int) -> str:
    """ "1 day", "3 days", in the reader's language and plural rule."""
    return text.day_count.format(count=days)


# -- at the end of a conversation ----------------------------------------------------------


async def plan_after(services: Services, thread: Thread, officer: Member) -> FollowUp | None:
    """Store the officer's plan for the topic. Called as the thread is shredded, before anyone
    is told: a crash in between must not lose the plan."""
    config = services.config.followups
    days = config.plan_for(thread.category.value)
    if not config.enabled or not days:
        return None
    schedule = await schedule_for(services, officer)
    plan = FollowUp(
        id=new_followup_id(),
        member_id=officer.id,
        kind=Kind.PLAN,
        plan=thread.category.value,
        anchor=schedule.local(services.clock()).date(),
        offsets=days,
        step=0,
        due_at=services.clock(),
        category=thread.category,
        outside_agency=thread.outside_agency,
    )
    plan = first_due(plan, schedule)
    await _store(services, plan, replacing=Kind.PLAN)
    return plan


async def after_conversation(
    services: Services,
    thread: Thread,
    officer: Member,
    helper: Member | None,
    plan: FollowUp | None,
) -> None:
    """Tell the officer of their plan (`plan_after`) in one line, with a way to say no at
    once, and offer the helper to check in on them later."""
    config = services.config.followups
    if not config.enabled:
        return
    text = services.text_for(officer)
    if plan is not None:
        no = services.choice(text.plan_no, "fplan", plan.id, officer.address)
        # "1, 3, 7 and 30 days": the list in the officer's language, the form by the last.
        days = plan.offsets
        told = text.plan_told.format(days=listing(text, map(str, days)), last=days[-1])
        await services.try_send(officer.address, Reply(told, (no,)), crisis=True)
    if helper is not None and helper.active:
        ask = FollowupAsk(
            officer_id=officer.id,
            helper_id=helper.id,
            alias=thread.officer_alias,
            category=thread.category,
            outside_agency=thread.outside_agency,
            days=config.helper_days,
        )
        token = _remember(services, ask)
        text = services.text_for(helper)
        when = in_days(text, ask.days)
        label = text.followup_offer_button.format(when=when)
        offer = text.followup_offer_helper.format(alias=ask.alias, when=when)
        choice = services.choice(label, "fhelp", token, helper.address)
        await services.try_send(helper.address, Reply(offer, (choice,)))


def _remember(services: Services, ask: FollowupAsk) -> str:
    token = secrets.token_hex(6)
    services.followup_asks[token] = ask
    while len(services.followup_asks) > _MAX_ASKS:
        del services.followup_asks[next(iter(services.followup_asks))]
    return token


@router.choice("fplan", roles=OFFICERS | HELPER_ROLES)
async def drop_plan(turn: Turn, arg: str) -> None:
    services = turn.services
    plan = await services.repo.followup(arg)
    if plan is not None and plan.member_id == turn.member.id:
        await services.repo.delete_followups([plan.id])
        await services.repo.count_followup(plan.plan, 0, Answer.DECLINED)
    await turn.say(turn.text.plan_dropped, crisis=True)


# -- a helper's own follow-up --------------------------------------------------------------


@router.choice("fhelp", roles=HELPER_ROLES)
async def helper_offer_taken(turn: Turn, arg: str) -> None:
    ask = turn.services.followup_asks.get(arg)
    if ask is None or ask.helper_id != turn.member.id:
        await turn.say(turn.text.choice_expired)
        return
    await _ask_officer(turn, arg, ask)


@router.command("followup", roles=HELPER_ROLES)
async def followup_command(turn: Turn) -> None:
    services = turn.services
    if not services.config.followups.enabled:
        await turn.say(turn.text.checkin_disabled)
        return
    most = services.config.followups.max_helper_days
    match = _DAYS.match(turn.event.args)
    days = int(match[1]) if match else 0
    route = services.relay.route(turn.member.id, turn.event.reply_to_id)
    if isinstance(route, UnknownReply):
        route = services.relay.route(turn.member.id)
    if not (1 <= days <= most) or not isinstance(route, Deliver):
        await turn.say(turn.text.followup_usage.format(most=most))
        return
    thread = route.thread
    ask = FollowupAsk(
        officer_id=thread.officer_id,
        helper_id=turn.member.id,
        alias=thread.officer_alias,
        category=thread.category,
        outside_agency=thread.outside_agency,
        days=days,
    )
    await _ask_officer(turn, _remember(services, ask), ask)


async def _ask_officer(turn: Turn, token: str, ask: FollowupAsk) -> None:
    services = turn.services
    officer = await services.repo.member(ask.officer_id)
    if officer is None or not officer.active:
        await turn.say(turn.text.choice_expired)
        return
    text = services.text_for(officer)
    when = in_days(text, ask.days)
    question = text.followup_ask_officer.format(name=turn.member.display_name, when=when)
    choices = (
        services.choice(text.followup_yes, "fyes", token, officer.address),
        services.choice(text.followup_no, "fno", token, officer.address),
    )
    asked = Reply(question, choices, columns=2)
    if await services.try_send(officer.address, asked, crisis=True) is None:
        await turn.say(turn.text.choice_expired)
        return
    await turn.say(turn.text.followup_asked)


async def _officer_answer(turn: Turn, token: str) -> FollowupAsk | None:
    ask = turn.services.followup_asks.get(token)
    if ask is None or ask.officer_id != turn.member.id:
        await turn.say(turn.text.choice_expired)
        return None
    del turn.services.followup_asks[token]
    return ask


@router.choice("fyes", roles=OFFICERS | HELPER_ROLES)  # whoever asked (a debrief too)
async def officer_agrees(turn: Turn, arg: str) -> None:
    ask = await _officer_answer(turn, arg)
    if ask is None:
        return
    services = turn.services
    schedule = await schedule_for(services, turn.member)
    followup = FollowUp(
        id=new_followup_id(),
        member_id=turn.member.id,
        kind=Kind.HELPER,
        plan="helper",
        anchor=schedule.local(turn.now).date(),
        offsets=(ask.days,),
        step=0,
        due_at=turn.now,
        helper_id=ask.helper_id,
        alias=ask.alias,
        category=ask.category,
        outside_agency=ask.outside_agency,
    )
    await _store(services, first_due(followup, schedule), replacing=None)
    when = in_days(turn.text, ask.days)
    await turn.say(turn.text.followup_agreed_officer.format(when=when), crisis=True)
    await _tell_helper(services, ask.helper_id, lambda t: t.followup_agreed_helper, ask, ask.alias)


@router.choice("fno", roles=OFFICERS | HELPER_ROLES)
async def officer_refuses(turn: Turn, arg: str) -> None:
    ask = await _officer_answer(turn, arg)
    if ask is None:
        return
    await turn.say(turn.text.followup_refused_officer, crisis=True)
    refused: Line = lambda t: t.followup_refused_helper  # noqa: E731 - a line picked per reader
    await _tell_helper(turn.services, ask.helper_id, refused, ask, ask.alias)


async def _tell_helper(
    services: Services,
    helper_id: MemberId | None,
    line: Line,
    ask: FollowupAsk | None,
    alias: str | None,
) -> None:
    """Tell the helper `line`, in the helper's language."""
    helper = await services.repo.member(helper_id) if helper_id is not None else None
    if helper is None or not helper.active:
        return
    text = services.text_for(helper)
    when = in_days(text, ask.days) if ask is not None else ""
    template = line(text)
    await services.try_send(helper.address, Reply(template.format(alias=alias or "", when=when)))


# -- opt-in wellness check-ins, and quiet hours ----------------------------------------------


@router.command("checkin")
async def checkin(turn: Turn) -> None:
    services = turn.services
    text = turn.text
    if not services.config.followups.enabled:
        await turn.say(text.checkin_disabled)
        return
    choice = turn.event.args.strip().lower()
    mine = await services.repo.followups_of(turn.member.id)
    current = next((f for f in mine if f.kind is Kind.WELLNESS), None)
    if choice == "off":
        if current is not None:
            await services.repo.delete_followups([current.id])
        await turn.say(text.checkin_stopped)
        return
    if choice not in (WEEKLY, MONTHLY):
        state = text.checkin_state_off
        if current is not None:
            state = text.checkin_weekly if current.plan == WEEKLY else text.checkin_monthly
        await turn.say(text.checkin_prompt.format(state=state))
        return
    schedule = await schedule_for(services, turn.member)
    followup = FollowUp(
        id=new_followup_id(),
        member_id=turn.member.id,
        kind=Kind.WELLNESS,
        plan=choice,
        anchor=schedule.local(turn.now).date(),
        offsets=(),
        step=0,
        due_at=turn.now,
    )
    followup = first_due(followup, schedule)
    await _store(services, followup, replacing=Kind.WELLNESS)
    period = text.checkin_weekly if choice == WEEKLY else text.checkin_monthly
    day = day_and_date(text, schedule.local(followup.due_at).date())
    await turn.say(text.checkin_set.format(period=period, day=day))


@router.command("quiet")
async def quiet(turn: Turn) -> None:
    services = turn.services
    text = turn.text
    zone = turn.member.timezone or services.config.program.timezone
    spec = turn.event.args.strip()
    if spec.lower() in ("off", "none"):
        await services.repo.set_quiet_hours(turn.member.id, "")
        await turn.say(text.quiet_off)
        return
    if spec:
        try:
            parsed = parse_quiet(spec)
        except QuietHoursError as exc:
            await turn.say(text.quiet_bad_same if exc.empty else text.quiet_bad)
            return
        await services.repo.set_quiet_hours(turn.member.id, str(parsed))
        await turn.say(text.quiet_set.format(quiet=parsed, zone=zone))
        return
    schedule = await schedule_for(services, turn.member)
    if schedule.quiet is None:
        await turn.say(text.quiet_none.format(zone=zone))
    else:
        await turn.say(text.quiet_show.format(quiet=schedule.quiet, zone=zone))


# -- the nudge and its answers ---------------------------------------------------------------

ANSWERS = {
    "ok": Answer.OK,
    "talk": Answer.TALK,
    "later": Answer.NOT_NOW,
    "stop": Answer.STOP,
}


def nudge(services: Services, member: Member, followup: FollowUp, step: int) -> Reply:
    text = services.text_for(member)
    labels = [("ok", text.nudge_ok)]
    if member.asks:
        labels.append(("talk", text.nudge_talk))
    labels += [("later", text.nudge_not_now), ("stop", text.nudge_stop)]
    audience = services.audience(member.address)  # one keyed hash for all four buttons
    choices = tuple(
        Choice(label, services.codec.encode("fu", f"{followup.id}/{step}/{code}", audience))
        for code, label in labels
    )
    return Reply(text.nudge, choices, columns=2)


@router.choice("fu")
async def nudge_answered(turn: Turn, arg: str) -> None:
    services = turn.services
    repo = services.repo
    text = turn.text
    followup_id, _, rest = arg.partition("/")
    step_text, _, code = rest.partition("/")
    answer = ANSWERS.get(code)
    followup = await repo.followup(followup_id)
    if (
        answer is None
        or followup is None
        or followup.member_id != turn.member.id
        or not step_text.isdigit()
        or followup.asked != int(step_text)
    ):
        await turn.say(text.nudge_over, crisis=True)
        return
    step = int(step_text)
    await repo.count_followup(followup.plan, step, answer)
    report: Line | None = None
    if answer is Answer.NOT_NOW:
        schedule = await schedule_for(services, turn.member)
        later = snooze(followup, turn.now, schedule)
        await repo.save_followup(later)
        services.followups_changed(later.due_at)
        await turn.say(text.nudge_not_now_reply, crisis=True)
        return
    if answer is Answer.STOP:
        await repo.delete_followups([followup.id])
        report = lambda t: t.followup_report_none  # noqa: E731 - a line picked per reader
        await turn.say(text.nudge_stop_reply, crisis=True)
    else:
        after = answered(followup)
        if after is None:
            await repo.delete_followups([followup.id])
        else:
            await repo.save_followup(after)
        if answer is Answer.OK:
            report = lambda t: t.followup_report_ok  # noqa: E731 - a line picked per reader
            await turn.say(text.nudge_ok_reply, crisis=True)
        else:
            request = await _wants_to_talk(turn, followup)
            first = request is not None and request.preferred_helper == followup.helper_id
            talk: Line = (
                (lambda t: t.followup_report_talk)
                if first
                else (lambda t: t.followup_report_talk_plain)
            )
            if followup.kind is Kind.HELPER:  # told before the offer can reach them
                await _tell_helper(services, followup.helper_id, talk, None, followup.alias)
            if request is not None:
                await matching.open_request(services, turn.member, request)
            return
    if followup.kind is Kind.HELPER:
        await _tell_helper(services, followup.helper_id, report, None, followup.alias)


async def _wants_to_talk(turn: Turn, followup: FollowUp) -> RequestRecord | None:
    """The request to open: offered first to the helper who asked for the check-in when that
    person is free, the usual routing otherwise. None when the officer has been answered
    otherwise (already talking or looking, not an officer, or asked about their previous
    helper first)."""
    services = turn.services
    if not turn.member.asks:
        await turn.say(turn.text.nudge_talk_staff, crisis=True)
        return None
    if services.relay.threads_of(turn.member.id) or (
        await matching.open_request_of(services, turn.member.id)
    ):
        await turn.say(turn.text.nudge_talk_busy, crisis=True)
        return None
    private = await services.repo.officer_private(turn.member.id)
    preferred = followup.helper_id if followup.kind is Kind.HELPER else None
    category = followup.category or Category.OTHER
    tail = f"{category.value}/{1 if followup.outside_agency else 0}"
    again = private.wanted_again(turn.now.date())
    if preferred is None and again is not None:
        previous = await services.repo.member(again)
        if previous is not None and previous.active:
            text = turn.text
            name = previous.display_name
            choices = (
                turn.choice(text.again_yes.format(name=name), "ftalk", f"{previous.id}/{tail}"),
                turn.choice(text.again_no, "ftalk", f"/{tail}"),
            )
            await turn.say(text.intake_again.format(name=name), choices)
            return None
    if preferred is not None and preferred in private.blocked:
        preferred = None
    return _request(turn, preferred, category, followup.outside_agency)


@router.choice("ftalk", roles=OFFICERS)
async def talk_with(turn: Turn, arg: str) -> None:
    helper, category, outside = [*arg.split("/"), "", "", ""][:3]
    if category not in {c.value for c in Category}:
        await turn.say(turn.text.choice_expired)
        return
    if turn.services.relay.threads_of(turn.member.id) or (
        await matching.open_request_of(turn.services, turn.member.id)
    ):
        await turn.say(turn.text.nudge_talk_busy)
        return
    preferred = MemberId(int(helper)) if helper.isdigit() else None
    request = _request(turn, preferred, Category(category), outside == "1")
    await matching.open_request(turn.services, turn.member, request)


def _request(
    turn: Turn, preferred: MemberId | None, category: Category, outside: bool
) -> RequestRecord:
    return RequestRecord(
        id=new_request_id(),
        officer_id=turn.member.id,
        category=category,
        wanted=Wanted.EITHER,
        outside_agency=outside,
        urgent=False,
        created_at=turn.now,
        preferred_helper=preferred,
    )


# -- the dispatcher --------------------------------------------------------------------------


async def dispatch_due(services: Services) -> int:
    """Send every nudge that is due, once. Rows are claimed first (so another dispatcher, or
    this one after a restart, never takes the same row), their next state is written (the
    mark), and only then is anything sent: a crash between mark and send loses that nudge
    rather than sending it twice (docs/followups.md). Returns how many nudges went out."""
    sent = 0
    while True:
        now = services.clock()
        token, claimed = await services.repo.claim_due(now, lease=LEASE, limit=CLAIM_BATCH)
        if not claimed:
            return sent
        sent += await _dispatch_batch(services, token, claimed, now)
        if len(claimed) < CLAIM_BATCH:
            return sent


async def _dispatch_batch(
    services: Services, token: str, claimed: list[FollowUp], now: datetime
) -> int:
    config = services.config.followups
    keep: list[FollowUp] = []
    done: list[str] = []
    work: list[tuple[FollowUp, Decision, Member | None]] = []
    # Looked up once per member per batch (a member may have several rows due).
    members: dict[MemberId, Member | None] = {}
    schedules: dict[MemberId, Schedule] = {}
    for followup in claimed:
        if followup.member_id not in members:
            members[followup.member_id] = await services.repo.member(followup.member_id)
        member = members[followup.member_id]
        if member is None or not member.active:
            done.append(followup.id)
            work.append((followup, Decision(), None))
            continue
        if services.relay.threads_of(member.id):  # talking now: ask another time
            keep.append(replace(followup, due_at=retry_at(now, config.retry_after)))
            continue
        if member.id not in schedules:
            schedules[member.id] = await schedule_for(services, member)
        schedule = schedules[member.id]
        decision = decide(
            followup,
            now,
            schedule,
            stale_after=config.stale_after,
            answer_days=config.answer_days,
        )
        if decision.after is None:
            done.append(followup.id)
        else:
            keep.append(decision.after)
        work.append((followup, decision, member))
    settled = await services.repo.settle_claimed(token, keep, done)
    sent = 0
    for followup, decision, member in work:
        if followup.id not in settled:
            continue  # answered meanwhile, or no longer this dispatcher's
        try:
            sent += await _carry_out(services, followup, decision, member, now)
        except Exception as exc:
            log.error("follow-up step failed: %s at %s", type(exc).__name__, where(exc))
    if sent:
        log.info("check-ins sent: %d", sent)
    return sent


async def _carry_out(
    services: Services,
    followup: FollowUp,
    decision: Decision,
    member: Member | None,
    now: datetime,
) -> int:
    repo = services.repo
    if member is None:
        await repo.count_followup(followup.plan, followup.step, Answer.UNREACHABLE)
        await _helper_not_answered(services, followup)
        return 0
    if decision.unanswered is not None:
        await repo.count_followup(followup.plan, decision.unanswered, Answer.NO_ANSWER)
    for step in decision.skipped:
        await repo.count_followup(followup.plan, step, Answer.SKIPPED)
    if decision.send is None:
        if decision.after is None:
            await _helper_not_answered(services, followup)
        return 0
    try:
        reply = nudge(services, member, followup, decision.send)
        await services.send(member.address, reply, crisis=True)
    except DeliveryError as exc:
        log.warning("check-in not delivered (permanent=%s)", exc.permanent)
        if exc.permanent:
            await repo.delete_followups([followup.id])
            await repo.count_followup(followup.plan, decision.send, Answer.UNREACHABLE)
            await _helper_not_answered(services, followup)
        else:
            retry = retry_at(now, services.config.followups.retry_after)
            await repo.save_followup(
                replace(followup, step=decision.send, asked=None, due_at=retry)
            )
        return 0
    return 1


async def _helper_not_answered(services: Services, followup: FollowUp) -> None:
    if followup.kind is Kind.HELPER:
        await _tell_helper(
            services, followup.helper_id, lambda t: t.followup_report_none, None, followup.alias
        )
