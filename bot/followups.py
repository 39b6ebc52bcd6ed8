"""Check-in follow-ups, planned: when each nudge is due and what a due row asks for. Pure.

Every due time is a local calendar day at the configured send time in the member's time zone,
moved out of their quiet hours. So a due time says which day a plan counts from, never the
hour or minute a conversation ended (the README's privacy section relies on this).
"""

from __future__ import annotations

import calendar
import enum
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.model import Category, MemberId

_QUIET = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
DAY_MINUTES = 1440


class Kind(enum.StrEnum):
    PLAN = "plan"  # scheduled at the end of a conversation, per topic
    HELPER = "helper"  # a helper's own "check in with them in 3 days", agreed by the officer
    WELLNESS = "wellness"  # /checkin weekly|monthly


class Answer(enum.StrEnum):
    """What happened to one nudge: the officer's answer, or why none came. Counted only."""

    OK = "ok"
    TALK = "talk"
    NOT_NOW = "not_now"
    STOP = "stop"
    NO_ANSWER = "no_answer"
    SKIPPED = "skipped"  # overdue past the staleness, or folded into a later nudge
    UNREACHABLE = "unreachable"  # blocked the bot or revoked
    DECLINED = "declined"  # said no to the plan when it was offered


WEEKLY = "weekly"
MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span in local wall-clock minutes; `end <= start` runs past midnight."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(hours: str, minutes: str | None) -> int:
    value = int(hours) * 60 + int(minutes or 0)
    if int(hours) > 24 or int(minutes or 0) > 59 or value > DAY_MINUTES:
        raise ValueError(f"not a time of day: {hours}:{minutes or '00'}")
    return value % DAY_MINUTES


class QuietHoursError(ValueError):
    """Quiet hours that cannot be used; `empty` when they start and end at the same time.
    The message is for the operator (config); members are told in their own language."""

    def __init__(self, reason: str, *, empty: bool = False) -> None:
        super().__init__(reason)
        self.empty = empty


def parse_quiet(text: str) -> QuietHours:
    """ "08:00-16:00" or "22-7". Raises QuietHoursError with a short reason."""
    match = _QUIET.match(text)
    if match is None:
        raise QuietHoursError("write it like 08:00-16:00")
    start = _minutes(match[1], match[2])
    end = _minutes(match[3], match[4])
    if start == end:
        raise QuietHoursError("quiet hours must not start and end at the same time", empty=True)
    return QuietHours(start, end)


def parse_clock(text: str) -> int:
    """ "10:00" as minutes after midnight. Raises ValueError."""
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError("write it like 10:00")
    return _minutes(match[1], match[2])


def zone_of(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def in_quiet(quiet: QuietHours | None, local: datetime) -> bool:
    if quiet is None:
        return False
    minute = local.hour * 60 + local.minute
    if quiet.start < quiet.end:
        return quiet.start <= minute < quiet.end
    return minute >= quiet.start or minute < quiet.end


@dataclass(frozen=True, slots=True)
class Schedule:
    """Where and when one member may be nudged."""

    zone: ZoneInfo
    quiet: QuietHours | None
    send_at: int  # minutes after local midnight

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def wall(self, day: date, minutes: int) -> datetime:
        """A local wall-clock time as UTC. A time skipped by a DST change reads as the same
        wall time before the change (so it lands after the gap, never inside quiet hours
        that end there)."""
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)

    def out_of_quiet(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        local = self.local(moment)
        if self.quiet is None or not in_quiet(self.quiet, local):
            return moment
        end_day = local.date()
        minute = local.hour * 60 + local.minute
        if minute >= self.quiet.end:  # in the evening part of quiet hours that end tomorrow
            end_day += timedelta(days=1)
        end = self.wall(end_day, self.quiet.end)
        # Across a DST change the wall time may still read as quiet; step out hour by hour.
        while in_quiet(self.quiet, self.local(end)) or end <= moment:
            end += timedelta(hours=1)
        return end

    def on_day(self, day: date) -> datetime:
        """When a nudge for `day` goes out: the send time, or when that day's quiet hours end."""
        return self.out_of_quiet(self.wall(day, self.send_at))


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One follow-up as stored (sealed but for `due_at`). Steps are nudges, counted from 0."""

    id: str
    member_id: MemberId
    kind: Kind
    plan: str  # a topic for PLAN, "helper", or WEEKLY / MONTHLY
    anchor: date  # the local day the plan counts from
    offsets: tuple[int, ...]  # days after `anchor`, one per step (PLAN and HELPER)
    step: int  # the next step to send
    due_at: datetime
    asked: int | None = None  # the step whose nudge waits for an answer
    helper_id: MemberId | None = None  # HELPER only: who asked, told the answer only
    alias: str | None = None  # HELPER only: the nickname that helper knew the officer by
    category: Category | None = None
    outside_agency: bool = False

    def step_day(self, step: int) -> date | None:
        if self.kind is Kind.WELLNESS:
            if self.plan == MONTHLY:
                return add_months(self.anchor, step + 1)
            return self.anchor + timedelta(days=7 * (step + 1))
        if step < len(self.offsets):
            return self.anchor + timedelta(days=self.offsets[step])
        return None

    @property
    def finished(self) -> bool:
        """No step left to send."""
        return self.step_day(self.step) is None


def first_due(followup: FollowUp, schedule: Schedule) -> FollowUp:
    """The follow-up with its first step's due time (steps already past are left to the
    dispatcher, which skips or folds them)."""
    day = followup.step_day(followup.step)
    if day is None:
        raise ValueError("a follow-up needs at least one step")
    return replace(followup, due_at=schedule.on_day(day))


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a due follow-up at `now`."""

    send: int | None = None  # the step to nudge now
    unanswered: int | None = None  # a step whose nudge got no answer
    skipped: tuple[int, ...] = ()
    after: FollowUp | None = None  # the follow-up afterwards; None: it is over (delete)


def decide(
    followup: FollowUp,
    now: datetime,
    schedule: Schedule,
    *,
    stale_after: timedelta,
    answer_days: int,
) -> Decision:
    """A due follow-up at `now`: send its step once (several overdue steps fold into the
    latest), skip a step overdue past `stale_after`, close an unanswered nudge, or wait for the
    end of quiet hours."""
    unanswered = followup.asked
    step, due = followup.step, followup.due_at
    skipped: list[int] = []
    following_due: datetime | None = None
    while True:
        day = followup.step_day(step)
        if day is None:
            return Decision(unanswered=unanswered, skipped=tuple(skipped))
        following = followup.step_day(step + 1)
        following_due = schedule.on_day(following) if following is not None else None
        if following_due is not None and following_due <= now:
            skipped.append(step)  # a later nudge is due too: send only the latest
            step, due = step + 1, following_due
            continue
        if now - due > stale_after:
            skipped.append(step)
            if following_due is None:
                return Decision(unanswered=unanswered, skipped=tuple(skipped))
            parked = replace(followup, step=step + 1, due_at=following_due, asked=None)
            return Decision(unanswered=unanswered, skipped=tuple(skipped), after=parked)
        break
    if in_quiet(schedule.quiet, schedule.local(now)):
        return Decision(after=replace(followup, due_at=schedule.out_of_quiet(now)))
    if following_due is None:  # the last nudge: wait for its answer, then close
        closes = schedule.local(now).date() + timedelta(days=answer_days)
        following_due = schedule.on_day(closes)
    after = replace(followup, step=step + 1, due_at=following_due, asked=step)
    return Decision(send=step, unanswered=unanswered, skipped=tuple(skipped), after=after)


def snooze(followup: FollowUp, now: datetime, schedule: Schedule) -> FollowUp:
    """ "Not now": ask the same step again tomorrow, unless the next step comes first."""
    asked = followup.asked if followup.asked is not None else followup.step
    tomorrow = schedule.on_day(schedule.local(now).date() + timedelta(days=1))
    upcoming = followup.step_day(followup.step)
    if upcoming is not None and followup.step != asked and followup.due_at <= tomorrow:
        return replace(followup, asked=None)
    return replace(followup, step=asked, due_at=tomorrow, asked=None)


def answered(followup: FollowUp) -> FollowUp | None:
    """The follow-up after an answer that does not end it (None: nothing left to send)."""
    if followup.kind is Kind.HELPER or followup.finished:
        return None
    return replace(followup, asked=None)


def retry_at(now: datetime, delay: timedelta) -> datetime:
    """After a failed send: later, on the hour (so the time stored says nothing finer)."""
    later = now + delay
    return later.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
