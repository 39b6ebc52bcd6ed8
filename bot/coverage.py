"""The coverage forecast: the hours of the coming week with fewer than K helpers on call, by
role, so coordinators can fill the night and weekend holes before an officer meets one.

Pure: members and `now` in, holes out. Counted from each helper's weekly on-call hours
(`/hours`, in their own time zone) with the same rules routing uses for who may be offered
anything (active, certified on that day, no Signal identity hold). /available is a moment's
choice and cannot be forecast: it only ever adds to these numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.hours import is_on_call
from bot.model import Member, Role
from bot.routing import local_time

FORECAST_ROLES = (Role.PEER, Role.CHAPLAIN)
WEEK_HOURS = 7 * 24


@dataclass(frozen=True, slots=True)
class Hole:
    """From `start` for `hours` hours (program time) at most `fewest` of `role` are on call."""

    role: Role
    start: datetime
    hours: int
    fewest: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


def on_call_count(helpers: Iterable[Member], role: Role, moment: datetime, zone: str) -> int:
    """How many helpers of `role` are inside their on-call hours at `moment`."""
    day = moment.astimezone(ZoneInfo(zone)).date()
    return sum(
        1
        for h in helpers
        if h.role is role
        and h.active
        and not h.identity_hold
        and h.certified_until is not None
        and h.certified_until >= day
        and h.on_call is not None
        and is_on_call(h.on_call, local_time(h, moment, zone))
    )


def forecast(
    helpers: Sequence[Member],
    now: datetime,
    *,
    minimum: int,
    zone: str,
    hours: int = WEEK_HOURS,
    roles: Sequence[Role] = FORECAST_ROLES,
) -> list[Hole]:
    """Every run of whole hours from the next full hour on in which fewer than `minimum` of a
    role are on call (sampled at the start of each hour: on-call windows start on the hour or
    half hour, so a window that starts at :30 counts from the next hour). Sorted by time."""
    first = now.astimezone(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
    first += timedelta(hours=1)
    holes: list[Hole] = []
    for role in roles:
        run_start: datetime | None = None
        fewest = 0
        for index in range(hours + 1):
            moment = first + timedelta(hours=index)
            count = on_call_count(helpers, role, moment, zone) if index < hours else minimum
            if count < minimum:
                if run_start is None:
                    run_start, fewest = moment, count
                fewest = min(fewest, count)
            elif run_start is not None:
                span = int((moment - run_start).total_seconds() // 3600)
                holes.append(Hole(role, run_start, span, fewest))
                run_start = None
    return sorted(holes, key=lambda h: (h.start, h.role.value))
