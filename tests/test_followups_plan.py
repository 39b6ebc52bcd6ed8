"""The follow-up planner (bot/followups.py): due days, quiet hours, time zones and DST,
coalescing, staleness, snooze. Pure functions, so properties are checked with hypothesis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.followups import (
    MONTHLY,
    WEEKLY,
    FollowUp,
    Kind,
    QuietHours,
    Schedule,
    add_months,
    answered,
    decide,
    first_due,
    in_quiet,
    parse_clock,
    parse_quiet,
    snooze,
)
from bot.model import MemberId

CHICAGO = ZoneInfo("America/Chicago")
ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
STALE = timedelta(days=1)


def schedule(quiet: str | None = "22:00-08:00", zone: ZoneInfo = CHICAGO) -> Schedule:
    return Schedule(zone=zone, quiet=parse_quiet(quiet) if quiet else None, send_at=600)


def plan(offsets: tuple[int, ...], anchor: date, sched: Schedule, **extra: object) -> FollowUp:
    followup = FollowUp(
        id="f1",
        member_id=MemberId(1),
        kind=Kind.PLAN,
        plan="critical_incident",
        anchor=anchor,
        offsets=offsets,
        step=0,
        due_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    return first_due(replace(followup, **extra), sched)  # type: ignore[arg-type]


def test_parsing_quiet_hours_and_times() -> None:
    assert parse_quiet("08:00-16:00") == QuietHours(480, 960)
    assert parse_quiet("22-7") == QuietHours(1320, 420)
    assert str(parse_quiet(" 8:30 - 16 ")) == "08:30-16:00"
    assert parse_clock("10:00") == 600
    for bad in ("", "8", "25:00-1:00", "08:00-08:00", "08:61-09:00", "evening"):
        with pytest.raises(ValueError):  # noqa: PT011 - the reason is for people, not asserted
            parse_quiet(bad)


def test_a_nudge_due_in_quiet_hours_waits_until_they_end() -> None:
    night_shift = schedule("08:00-16:00")  # sleeps by day
    due = night_shift.on_day(date(2026, 11, 25))
    assert due.astimezone(CHICAGO) == datetime(2026, 11, 25, 16, 0, tzinfo=CHICAGO)
    day_shift = schedule("22:00-08:00")
    assert day_shift.on_day(date(2026, 11, 25)).astimezone(CHICAGO).hour == 10


def test_time_zones_and_a_dst_change_keep_the_local_hour() -> None:
    sched = schedule(None)
    before = sched.on_day(date(2026, 10, 31))  # CDT, UTC-5
    after = sched.on_day(date(2026, 11, 2))  # CST, UTC-6, after the change on Nov 1
    assert before.hour == 15 and after.hour == 16
    assert before.astimezone(CHICAGO).hour == after.astimezone(CHICAGO).hour == 10
    # Quiet hours ending inside the spring-forward gap (02:00-03:00 does not exist on Mar 8).
    gap = Schedule(zone=CHICAGO, quiet=parse_quiet("23:00-02:30"), send_at=60)
    due = gap.on_day(date(2026, 3, 8))
    assert not in_quiet(gap.quiet, due.astimezone(CHICAGO))
    assert due.astimezone(CHICAGO).date() == date(2026, 3, 8)
    berlin = schedule(None, ZoneInfo("Europe/Berlin")).on_day(date(2026, 11, 25))
    assert berlin == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@given(
    zone=st.sampled_from(ZONES),
    start=st.integers(0, 1439),
    length=st.integers(1, 1380),
    send_at=st.integers(0, 1439),
    day=st.dates(date(2025, 1, 1), date(2028, 12, 31)),
)
def test_a_due_time_is_never_in_quiet_hours_and_never_early(
    zone: str, start: int, length: int, send_at: int, day: date
) -> None:
    quiet = QuietHours(start, (start + length) % 1440)
    sched = Schedule(zone=ZoneInfo(zone), quiet=quiet, send_at=send_at)
    wanted = sched.wall(day, send_at)
    due = sched.on_day(day)
    assert not in_quiet(quiet, due.astimezone(ZoneInfo(zone)))
    assert wanted <= due < wanted + timedelta(hours=26)
    if not in_quiet(quiet, wanted.astimezone(ZoneInfo(zone))):
        assert due == wanted


def test_each_step_is_sent_once_then_the_answer_window_closes() -> None:
    sched = schedule()
    followup = plan((1, 3), date(2026, 11, 24), sched)
    assert followup.due_at.astimezone(CHICAGO) == datetime(2026, 11, 25, 10, tzinfo=CHICAGO)
    first = decide(followup, followup.due_at, sched, stale_after=STALE, answer_days=2)
    assert first.send == 0 and first.unanswered is None and first.after is not None
    assert first.after.asked == 0
    second = decide(first.after, first.after.due_at, sched, stale_after=STALE, answer_days=2)
    assert second.send == 1 and second.unanswered == 0  # day 1 got no answer
    assert second.after is not None
    closes = second.after.due_at.astimezone(CHICAGO)
    assert closes == datetime(2026, 11, 29, 10, tzinfo=CHICAGO)  # two days after day 3
    last = decide(second.after, second.after.due_at, sched, stale_after=STALE, answer_days=2)
    assert last.send is None and last.unanswered == 1 and last.after is None


def test_downtime_folds_overdue_steps_into_one_nudge_and_skips_stale_ones() -> None:
    sched = schedule()
    followup = plan((1, 3, 7, 30), date(2026, 11, 1), sched)
    # Back after downtime, on day 7 an hour after its send time: days 1 and 3 fold into it.
    back = sched.on_day(date(2026, 11, 8)) + timedelta(hours=1)
    decision = decide(followup, back, sched, stale_after=STALE, answer_days=2)
    assert decision.send == 2 and decision.skipped == (0, 1)
    # Back two days after day 7 (staleness one day): day 7 is skipped, day 30 waits.
    late = sched.on_day(date(2026, 11, 10))
    decision = decide(followup, late, sched, stale_after=STALE, answer_days=2)
    assert decision.send is None and decision.skipped == (0, 1, 2)
    assert decision.after is not None and decision.after.step == 3
    assert decision.after.due_at == sched.on_day(date(2026, 12, 1))


def test_a_due_nudge_waits_out_quiet_hours_set_after_it_was_planned() -> None:
    sched = schedule("08:00-16:00")
    followup = plan((1,), date(2026, 11, 24), schedule(None))  # planned before /quiet
    decision = decide(followup, followup.due_at, sched, stale_after=STALE, answer_days=2)
    assert decision.send is None and decision.after is not None
    assert decision.after.due_at.astimezone(CHICAGO).hour == 16
    assert decision.after.step == 0  # the same nudge, later


def test_not_now_asks_again_tomorrow_unless_the_next_step_comes_first() -> None:
    sched = schedule()
    followup = plan((1, 2, 7), date(2026, 11, 24), sched)
    sent = decide(followup, followup.due_at, sched, stale_after=STALE, answer_days=2).after
    assert sent is not None
    # Day 2 is due tomorrow anyway: no second nudge for day 1.
    kept = snooze(sent, sent.due_at - timedelta(hours=20), sched)
    assert kept.step == 1 and kept.asked is None and kept.due_at == sent.due_at
    day2 = decide(sent, sent.due_at, sched, stale_after=STALE, answer_days=2).after
    assert day2 is not None
    # Day 7 is days away: day 2 is asked again tomorrow.
    now = day2.due_at - timedelta(days=4)
    again = snooze(day2, now, sched)
    assert again.step == 1 and again.asked is None
    assert again.due_at == sched.on_day(now.astimezone(CHICAGO).date() + timedelta(days=1))


def test_answers_end_a_helper_follow_up_and_the_last_step() -> None:
    sched = schedule()
    helper = replace(plan((3,), date(2026, 11, 24), sched), kind=Kind.HELPER, plan="helper")
    assert answered(replace(helper, step=0, asked=None)) is None
    regular = plan((1, 3), date(2026, 11, 24), sched)
    after_first = decide(regular, regular.due_at, sched, stale_after=STALE, answer_days=2).after
    assert after_first is not None
    kept = answered(after_first)
    assert kept is not None and kept.asked is None and kept.step == 1
    assert answered(replace(after_first, step=2)) is None


def test_wellness_check_ins_repeat_weekly_or_monthly() -> None:
    sched = schedule()
    weekly = plan((), date(2026, 11, 24), sched, kind=Kind.WELLNESS, plan=WEEKLY)
    assert weekly.due_at.astimezone(CHICAGO).date() == date(2026, 12, 1)
    assert weekly.step_day(3) == date(2026, 12, 22)
    monthly = plan((), date(2026, 1, 31), sched, kind=Kind.WELLNESS, plan=MONTHLY)
    assert monthly.step_day(0) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert not weekly.finished


@settings(max_examples=150, deadline=None)
@given(
    offsets=st.lists(st.integers(1, 60), min_size=1, max_size=6, unique=True).map(
        lambda days: tuple(sorted(days))
    ),
    zone=st.sampled_from(ZONES),
    quiet_start=st.integers(0, 1439),
    quiet_length=st.integers(0, 900),
    wakes=st.lists(st.integers(0, 90 * 24 * 60), min_size=1, max_size=40),
    stale_hours=st.integers(1, 96),
)
def test_dispatching_at_any_times_never_sends_a_step_twice_or_in_quiet_hours(  # noqa: PLR0917 - hypothesis passes each strategy by name
    offsets: tuple[int, ...],
    zone: str,
    quiet_start: int,
    quiet_length: int,
    wakes: list[int],
    stale_hours: int,
) -> None:
    """Whenever the dispatcher happens to wake (late, early, after long downtime), each step is
    sent at most once, in order, never in quiet hours; and in the end every step was sent or
    skipped, and the follow-up is over."""
    quiet = QuietHours(quiet_start, (quiet_start + quiet_length) % 1440) if quiet_length else None
    sched = Schedule(zone=ZoneInfo(zone), quiet=quiet, send_at=600)
    anchor = date(2026, 10, 20)
    start = datetime(2026, 10, 20, 12, tzinfo=UTC)
    followup: FollowUp | None = plan(offsets, anchor, sched)
    stale = timedelta(hours=stale_hours)
    sent: list[int] = []
    skipped: list[int] = []
    moments = [start + timedelta(minutes=m) for m in sorted(wakes)]
    moments.append(start + timedelta(days=200))  # long after: everything has resolved
    for now in moments:
        for _ in range(len(offsets) + 3):  # a wake handles whatever is due, then stops
            if followup is None or followup.due_at > now:
                break
            decision = decide(followup, now, sched, stale_after=stale, answer_days=2)
            if decision.send is not None:
                assert not in_quiet(quiet, now.astimezone(ZoneInfo(zone)))
                sent.append(decision.send)
            skipped.extend(decision.skipped)
            followup = decision.after
            assert followup is None or followup.due_at > now or decision.send is None
    assert sent == sorted(set(sent))
    assert not set(sent) & set(skipped)
    assert sorted(sent + skipped) == list(range(len(offsets)))
    assert followup is None
