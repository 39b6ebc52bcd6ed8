"""Read what the statistics are built from: anonymous rows and counts, and each helper's
current load as a bare number (`stats.Inputs`). Nothing here keeps or returns who is who."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from bot.model import HELPER_ROLES
from bot.stats import Inputs, MetricRow
from bot.storage.base import week_of
from bot.storage.repository import Repository


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def collect(repo: Repository, now: datetime) -> Inputs:
    metrics = [
        MetricRow(
            week=monday(m.week),
            category=m.category.value,
            urgent=m.urgent,
            matched=m.outcome == "matched",
            secs_to_status=m.secs_to_status,
            secs_to_accept=m.secs_to_accept,
            met_goal=m.met_goal,
            widened=m.widened,
            paged=m.paged,
            handover=m.handover,
            referral=m.referral,
            asker=m.asker,
        )
        for m in await repo.metrics()
    ]
    helpers = await repo.members(roles=HELPER_ROLES)
    live = Counter(thread.helper_id for thread in await repo.live_threads())
    # Only each helper's latest rest is kept (sealed): one that ends after this week began
    # means they rested at some point this week. Counted per helper, never named.
    week_start = datetime.combine(week_of(now), time(), UTC)
    rests = [h.cooldown_until for h in helpers if h.cooldown_until is not None]
    return Inputs(
        metrics=metrics,
        ratings=await repo.ratings(),
        followups=await repo.followup_counts(),
        helper_loads=[live.get(helper.id, 0) for helper in helpers],
        cooling_down=sum(1 for until in rests if until > now),
        rested_earlier=sum(1 for until in rests if week_start < until <= now),
        incidents=[
            (monday(i.week), i.pages_sent, i.pages_accepted) for i in await repo.incident_metrics()
        ],
    )
