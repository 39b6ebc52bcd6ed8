"""Running the program: coordinators' view of it. /stats (numbers only, k-anonymous) and
/coverage (the coming week's hours with too few helpers on call, also sent every Monday)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import stats
from bot.catalog import Catalog
from bot.coverage import Hole, forecast
from bot.events import Reply
from bot.i18n import day_and_month, listing, weekday_and_time
from bot.model import HELPER_ROLES, REPORTED, Category, Role
from bot.stats_collect import collect
from handlers.base import Services, Turn
from handlers.common import category_label
from handlers.helper import ON_CALL_ROLES
from handlers.router import Router

router = Router()
CHAT_WEEKS = 4
CHAT_HOLES = 20  # a message stays readable; the CLI lists them all


@router.command("stats", roles=ON_CALL_ROLES)
async def show_stats(turn: Turn) -> None:
    if not turn.member.is_coordinator:
        await turn.say(turn.text.coordinators_only)
        return
    services = turn.services
    k = services.config.program.stats_k
    inputs = await collect(services.repo, turn.now)
    topics = [c.value for c in REPORTED]
    report = stats.build(inputs, topics, k)
    await turn.say(stats_message(turn, report))


def stats_message(turn: Turn, report: stats.Report) -> str:
    text, k = turn.text, report.k
    goal = int(turn.services.config.routing.contact_goal.total_seconds() // 60)

    def n(cell: stats.Cell) -> str:
        return stats.HIDDEN if cell is None else str(cell)

    def minutes(seconds: float | None) -> str:
        return "–" if seconds is None else f"{seconds / 60:.0f}"

    lines = [text.stats_title.format(weeks=CHAT_WEEKS, k=k)]
    weeks = report.weeks[-CHAT_WEEKS:]
    if not weeks:
        lines.append(text.stats_none)
    for week in weeks:
        share = "–" if week.within_goal is None else f"{100 * week.within_goal:.0f}%"
        lines.append(
            text.stats_week.format(
                week=day_and_month(text, week.week),
                requests=n(week.requests),
                matched=n(week.matched),
                p50=minutes(week.human_p50_s),
                p90=minutes(week.human_p90_s),
                goal=share,
                goal_minutes=goal,
            )
        )
        lines.append(
            text.stats_week_more.format(
                widened=n(week.widened),
                paged=n(week.paged),
                handovers=n(week.handovers),
                referrals=n(week.referrals),
            )
        )
    totals = report.topics.cells[-1]
    topic_parts = [
        text.stats_topic.format(topic=category_label(text, Category(name)), count=n(cell))
        for name, cell in zip(report.topics.columns[:-1], totals, strict=False)
        if cell != 0
    ]
    if topic_parts:
        lines.append(text.stats_topics.format(topics=listing(text, topic_parts)))
    askers = dict(zip(report.askers.columns, report.askers.cells[-1], strict=True))
    if askers[stats.TOTAL]:
        lines.append(text.stats_askers.format(**{a: n(askers[a]) for a in stats.ASKERS}))
    ratings = " ".join(f"{n(c)}" for c in report.ratings.cells[-1][:-1])
    helped = "/".join(n(c) for c in report.helped.cells[-1][:-1])
    lines.append(text.stats_ratings.format(ratings=ratings, helped=helped))
    load = ", ".join(
        f"{name}: {n(cell)}"
        for name, cell in zip(report.load.columns[:-1], report.load.cells[-1], strict=False)
    )
    lines.append(
        text.stats_load.format(
            load=load, cooling=n(report.cooling_down), cooling_week=n(report.cooled_this_week)
        )
    )
    if len(report.incidents.rows) > 1:  # more than the total row: some incident has closed
        incidents, sent, accepted = report.incidents.cells[-1]
        lines.append(
            text.stats_incidents.format(incidents=n(incidents), sent=n(sent), accepted=n(accepted))
        )
    lines.append(text.stats_more)
    return "\n".join(lines)


@router.command("coverage", roles=ON_CALL_ROLES)
async def show_coverage(turn: Turn) -> None:
    if not turn.member.is_coordinator:
        await turn.say(turn.text.coordinators_only)
        return
    program = turn.services.config.program
    holes = await coverage_holes(turn.services, turn.now)
    await turn.say(describe_holes(turn.text, holes, program.coverage_minimum, program.timezone))


async def coverage_holes(services: Services, now: datetime) -> list[Hole]:
    program = services.config.program
    helpers = await services.repo.members(roles=HELPER_ROLES)
    return forecast(helpers, now, minimum=program.coverage_minimum, zone=program.timezone)


def describe_holes(
    text: Catalog, holes: list[Hole], minimum: int, zone: str, limit: int | None = CHAT_HOLES
) -> str:
    if not holes:
        return text.coverage_none.format(minimum=minimum)
    role_names = {Role.PEER: text.coverage_role_peer, Role.CHAPLAIN: text.coverage_role_chaplain}
    lines = [text.coverage_title.format(minimum=minimum)]
    for hole in holes[:limit]:
        start = hole.start.astimezone(ZoneInfo(zone))
        end = hole.end.astimezone(ZoneInfo(zone))
        lines.append(
            text.coverage_hole.format(
                start=weekday_and_time(text, start),
                end=weekday_and_time(text, end),
                role=role_names.get(hole.role, hole.role.value),
                fewest=hole.fewest,
            )
        )
    if limit is not None and len(holes) > limit:
        lines.append(text.coverage_more.format(count=len(holes) - limit))
    return "\n".join(lines)


async def send_weekly_coverage(services: Services) -> int:
    """The forecast to every coordinator (the Monday job), each in their own language;
    returns how many got it."""
    holes = await coverage_holes(services, services.clock())
    program = services.config.program
    sent = 0
    for coordinator in await services.repo.coordinators():
        text = services.text_for(coordinator)
        message = describe_holes(text, holes, program.coverage_minimum, program.timezone)
        if await services.try_send(coordinator.address, Reply(message)) is not None:
            sent += 1
    return sent
