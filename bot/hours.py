"""Weekly on-call hours, e.g. "mon-fri 18:00-06:00, sat 08:00-20:00", in the member's time zone.

A window whose end is not after its start runs past midnight into the next day. Pure functions.
Stored in English day names (`str(hours)`); members read and write their own language's names
(`format_hours`, `parse_hours(text, day_names)`), English always understood too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^(?P<d1>[a-z]+)(?:-(?P<d2>[a-z]+))?\s+(?P<h1>\d{1,2}):?(?P<m1>\d{2})?"
    r"\s*-\s*(?P<h2>\d{1,2}):?(?P<m2>\d{2})?$"
)


class HoursError(ValueError):
    """Why hours could not be read: `problem` is "part", "day", "time" or "empty"; `detail`
    the piece of the member's text it is about. Worded for people by the catalog."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.detail = detail


def _plain(text: str) -> str:
    """Lower case without accents, so "mié" and "mie" both name Wednesday."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Window:
    day: int  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, <= start means "the next day"

    def minutes(self) -> int:
        return self.end - self.start if self.end > self.start else 1440 - self.start + self.end


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    windows: tuple[Window, ...]

    def __str__(self) -> str:
        return ", ".join(f"{DAYS[w.day]} {_clock(w.start)}-{_clock(w.end)}" for w in self.windows)


def format_hours(hours: WeeklyHours, day_names: Sequence[str] = DAYS) -> str:
    """Hours as a member reads them, with their language's day names."""
    return ", ".join(
        f"{day_names[w.day]} {_clock(w.start)}-{_clock(w.end)}" for w in hours.windows
    )


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(hours: str, minutes: str | None) -> int:
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value <= 1440 or (minutes is not None and int(minutes) > 59):
        raise HoursError("time", f"{hours}:{minutes or '00'}")
    return value


def parse_hours(text: str, day_names: Sequence[str] = DAYS) -> WeeklyHours:
    """Parse "mon-fri 18:00-06:00, sat 8-20" (or the same with `day_names`). Raises
    HoursError naming the problem."""
    index = {_plain(name): day for day, name in enumerate(DAYS)}
    index.update({_plain(name): day for day, name in enumerate(day_names)})
    windows: list[Window] = []
    for raw in re.split(r"[,;]", _plain(text)):
        part = raw.strip()
        if not part:
            continue
        match = _PART.match(part)
        if match is None:
            raise HoursError("part", part)
        first, last = match["d1"], match["d2"] or match["d1"]
        if first not in index or last not in index:
            raise HoursError("day", part)
        start = _minutes(match["h1"], match["m1"]) % 1440
        end = _minutes(match["h2"], match["m2"])
        end = 0 if end == 1440 else end
        day = index[first]
        while True:
            windows.append(Window(day, start, end))
            if day == index[last]:
                break
            day = (day + 1) % 7
    if not windows:
        raise HoursError("empty")
    return WeeklyHours(tuple(windows))


_MINUTE = timedelta(minutes=1)
_WEEK = timedelta(weeks=1)


def current_window_end(hours: WeeklyHours, local: datetime) -> datetime | None:
    """When the window containing `local` ends, or None when `local` is off hours. Wall-clock
    arithmetic in `local`'s zone: a window holds `local` when the time since this week's
    Monday 00:00 falls inside the window's span of the week (which may wrap past Sunday)."""
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    since = local - monday  # same zone: wall-clock time, whatever the clock change
    for window in hours.windows:
        start = window.day * 24 * 60 + window.start
        if (since - start * _MINUTE) % _WEEK < window.minutes() * _MINUTE:
            weeks = 0 if since >= start * _MINUTE else -1  # the window began last week
            return monday + timedelta(weeks=weeks, minutes=start + window.minutes())
    return None


def is_on_call(hours: WeeklyHours, local: datetime) -> bool:
    return current_window_end(hours, local) is not None


def on_call_through(hours: WeeklyHours, start: datetime, end: datetime) -> bool:
    """On call from `start` until `end` (local times in one zone), one window running on into
    the next where they meet."""
    moment = start
    while True:
        window_end = current_window_end(hours, moment)
        if window_end is None:
            return False
        if window_end >= end:
            return True
        moment = window_end
