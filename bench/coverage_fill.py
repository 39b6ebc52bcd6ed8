"""The coordinator acting on the coverage forecast, for the routing simulation.

`fill` calls the real `bot.coverage.forecast` on the roster and, for every hole it reports,
signs one more helper of that role up for each stretch of it: a helper who would count there
(counted by the real `bot.coverage.on_call_count`, so active, certified and without a hold),
who is not on call then, fewest weekly on-call hours first (ties in a fixed random order). The
new window is written as the helper would send it with /hours ("tue 05:00-09:00") and parsed
with the real `parse_hours`, together with their old hours. Then it asks the forecast again,
until it reports no hole.

A shift is at most `MAX_SHIFT_HOURS` long and, where anyone can, keeps `REST_HOURS` clear of
the helper's other on-call hours before and after, so nobody is signed up for twelve hours
straight or two stints in one night; only when nobody of that role can is the rest dropped.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.coverage import FORECAST_ROLES, Hole, forecast, on_call_count
from bot.hours import DAYS, parse_hours
from bot.model import Member, MemberId, Role

MAX_SHIFT_HOURS = 6
REST_HOURS = 8
HOUR = timedelta(hours=1)


class FillError(AssertionError):
    """The roster cannot give the forecast's minimum (too few helpers of a role)."""


@dataclass(frozen=True, slots=True)
class Shift:
    """One weekly on-call window a helper took on. `start` in program time."""

    helper_id: MemberId
    role: Role
    start: datetime
    hours: int
    text: str  # as the helper would send it with /hours, e.g. "tue 05:00-09:00"


def weekly_hours(helper: Member) -> float:
    """On-call hours a week by the helper's own /hours."""
    if helper.on_call is None:
        return 0.0
    return sum(w.minutes() for w in helper.on_call.windows) / 60


def shift_text(start_local: datetime, hours: int) -> str:
    end = start_local + timedelta(hours=hours)
    return f"{DAYS[start_local.weekday()]} {start_local:%H:%M}-{end:%H:%M}"


def with_shift(helper: Member, text: str) -> Member:
    """The helper after sending /hours with their old hours and `text`."""
    spec = text if helper.on_call is None else f"{helper.on_call}, {text}"
    return replace(helper, on_call=parse_hours(spec))


def _counts(helper: Member, moments: Iterable[datetime], zone: str) -> bool:
    return all(on_call_count([helper], helper.role, m, zone) == 1 for m in moments)


def _off_call(helper: Member, moments: Iterable[datetime], zone: str) -> bool:
    return all(on_call_count([helper], helper.role, m, zone) == 0 for m in moments)


def _hours(start: datetime, count: int) -> list[datetime]:
    return [start + HOUR * index for index in range(count)]


class Filler:
    def __init__(self, helpers: Sequence[Member], zone: str, rng: random.Random) -> None:
        self.helpers = {h.id: h for h in helpers}
        self.zone = zone
        # One fixed order breaks ties between helpers with the same hours, drawn once.
        self.tiebreak = {h.id: rng.random() for h in helpers}
        self.shifts: list[Shift] = []

    def recruit(self, role: Role, start: datetime, longest: int) -> Shift:
        """Sign someone of `role` up from `start` for up to `longest` hours."""
        local = start.astimezone(ZoneInfo(self.zone))
        ranked = sorted(
            (h for h in self.helpers.values() if h.role is role),
            key=lambda h: (weekly_hours(h), self.tiebreak[h.id]),
        )
        for rest in (REST_HOURS, 0):
            for hours in range(longest, 0, -1):
                text = shift_text(local, hours)
                clear = _hours(start - HOUR * rest, hours + 2 * rest)
                for helper in ranked:
                    if not _off_call(helper, clear, self.zone):
                        continue
                    signed = with_shift(helper, text)
                    if _counts(signed, _hours(start, hours), self.zone):
                        self.helpers[helper.id] = signed
                        shift = Shift(helper.id, role, start, hours, text)
                        self.shifts.append(shift)
                        return shift
        raise FillError(f"nobody of role {role} can be on call at {local:%a %H:%M}")

    def cover(self, hole: Hole) -> None:
        """One more helper on call in every hour of `hole`."""
        moment = hole.start
        while moment < hole.end:
            longest = min(MAX_SHIFT_HOURS, int((hole.end - moment) / HOUR))
            moment += HOUR * self.recruit(hole.role, moment, longest).hours


def fill(
    helpers: Sequence[Member],
    now: datetime,
    *,
    minimum: int,
    zone: str,
    rng: random.Random,
    roles: Sequence[Role] = FORECAST_ROLES,
) -> tuple[list[Member], list[Shift]]:
    """The helpers who took on hours (as they are now) and the shifts they took, so that
    `forecast(..., minimum=minimum, roles=roles)` reports no hole from `now`."""
    filler = Filler(helpers, zone, rng)

    def holes() -> list[Hole]:
        return forecast(
            list(filler.helpers.values()), now, minimum=minimum, zone=zone, roles=roles
        )

    # Each round raises every hole's hours by one; `minimum` rounds fill even an hour nobody
    # covered, so more would mean a round failed to raise some hour.
    for _ in range(minimum + 1):
        found = holes()
        if not found:
            break
        for hole in found:
            filler.cover(hole)
    left = holes()
    assert not left, f"the forecast still reports {len(left)} hole(s) after the fill"
    changed = {s.helper_id for s in filler.shifts}
    return [filler.helpers[i] for i in sorted(changed)], filler.shifts


@dataclass(frozen=True, slots=True)
class Taken:
    """What the fill asked of the helpers: weekly on-call hours added, by how many, the most
    any one took on."""

    hours: int
    helpers: int
    most: int

    @classmethod
    def of(cls, shifts: Iterable[Shift]) -> Taken:
        per_helper: dict[MemberId, int] = {}
        for shift in shifts:
            per_helper[shift.helper_id] = per_helper.get(shift.helper_id, 0) + shift.hours
        return cls(sum(per_helper.values()), len(per_helper), max(per_helper.values(), default=0))


# Parts of the day (local hours) the added hours are reported by.
DAY_PARTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("23-05", (23, 0, 1, 2, 3, 4)),
    ("05-09", (5, 6, 7, 8)),
    ("09-17", tuple(range(9, 17))),
    ("17-23", tuple(range(17, 23))),
)


def hours_by_part(shifts: Iterable[Shift], zone: str) -> dict[tuple[Role, bool, str], int]:
    """Helper-hours added a week by (role, weekend, part of the day), the day being the local
    day of each hour (Saturday and Sunday are the weekend)."""
    part_of = {hour: name for name, hours in DAY_PARTS for hour in hours}
    found: dict[tuple[Role, bool, str], int] = {}
    for shift in shifts:
        for moment in _hours(shift.start, shift.hours):
            local = moment.astimezone(ZoneInfo(zone))
            key = (shift.role, local.weekday() >= 5, part_of[local.hour])
            found[key] = found.get(key, 0) + 1
    return found


def render_parts(shifts: Sequence[Shift], runs: int, zone: str) -> str:
    """Added helper-hours a week, mean over `runs`, by role, weekday or weekend, and part of
    the day."""
    found = hours_by_part(shifts, zone)
    names = [name for name, _ in DAY_PARTS]
    head = "| role | days | " + " | ".join(names) + " | all |"
    lines = [head, "|--|--|" + "--:|" * (len(names) + 1)]
    for role in (Role.PEER, Role.CHAPLAIN):
        for weekend in (False, True):
            cells = [found.get((role, weekend, name), 0) / runs for name in names]
            text = " | ".join(f"{c:.1f}" for c in [*cells, sum(cells)])
            days = "sat-sun" if weekend else "mon-fri"
            lines.append(f"| {role.value} | {days} | {text} |")
    return "\n".join(lines)
