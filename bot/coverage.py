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

from bot.hours import WeeklyHours, is_on_call, on_call_through
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


def on_call_count(
    helpers: Iterable[Member],
    role: Role,
    moment: datetime,
    zone: str,
    *,
    until: datetime | None = None,
) -> int:
    """How many helpers of `role` are inside their on-call hours at `moment` (with `until`:
    for all of the time from `moment` to `until`)."""
    day = moment.astimezone(ZoneInfo(zone)).date()

    def on_call(h: Member, hours: WeeklyHours) -> bool:
        start = local_time(h, moment, zone)
        if until is None:
            return is_on_call(hours, start)
        return on_call_through(hours, start, local_time(h, until, zone))

    return sum(
        1
        for h in helpers
        if h.role is role
        and h.active
        and not h.identity_hold
        and h.certified_until is not None
        and h.certified_until >= day
        and h.on_call is not None
        and on_call(h, h.on_call)
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
    role are on call for all of the hour (a window that starts or ends at :30 leaves that hour
    to others: someone who stops at 22:30 is not cover from 22:30 to 23:00). Sorted by time."""
    first = now.astimezone(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
    first += timedelta(hours=1)
    holes: list[Hole] = []
    for role in roles:
        run_start: datetime | None = None
        fewest = 0
        for index in range(hours + 1):
            moment = first + timedelta(hours=index)
            count = (
                on_call_count(helpers, role, moment, zone, until=moment + timedelta(hours=1))
                if index < hours
                else minimum
            )
            if count < minimum:
                if run_start is None:
                    run_start, fewest = moment, count
                fewest = min(fewest, count)
            elif run_start is not None:
                span = int((moment - run_start).total_seconds() // 3600)
                holes.append(Hole(role, run_start, span, fewest))
                run_start = None
    return sorted(holes, key=lambda h: (h.start, h.role.value))
