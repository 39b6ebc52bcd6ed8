"""Running the program: coordinators' view of it (/stats). Numbers only, k-anonymous."""

from __future__ import annotations

from bot import stats
from bot.model import TOPICS, Category
from bot.stats_collect import collect
from handlers.base import Turn
from handlers.common import category_label
from handlers.helper import ON_CALL_ROLES
from handlers.router import Router

router = Router()
CHAT_WEEKS = 4


@router.command("stats", roles=ON_CALL_ROLES)
async def show_stats(turn: Turn) -> None:
    if not turn.member.is_coordinator:
        await turn.say(turn.text.coordinators_only)
        return
    services = turn.services
    k = services.config.program.stats_k
    inputs = await collect(services.repo, turn.now)
    topics = [c.value for c in (*TOPICS, Category.NOT_SAFE)]
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
                week=week.week.strftime("%d %b"),
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
        f"{category_label(text, Category(name))} {n(cell)}"
        for name, cell in zip(report.topics.columns[:-1], totals, strict=False)
        if cell != 0
    ]
    if topic_parts:
        lines.append(text.stats_topics.format(topics=", ".join(topic_parts)))
    ratings = " ".join(f"{n(c)}" for c in report.ratings.cells[-1][:-1])
    helped = "/".join(n(c) for c in report.helped.cells[-1][:-1])
    lines.append(text.stats_ratings.format(ratings=ratings, helped=helped))
    load = ", ".join(
        f"{name}: {n(cell)}"
        for name, cell in zip(report.load.columns[:-1], report.load.cells[-1], strict=False)
    )
    lines.append(text.stats_load.format(load=load, cooling=n(report.cooling_down)))
    lines.append(text.stats_more)
    return "\n".join(lines)
