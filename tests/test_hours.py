"""Weekly on-call hours: whether a moment is inside them, and when that window ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.hours import WeeklyHours, Window, current_window_end, is_on_call, parse_hours

ZONE = ZoneInfo("America/Chicago")


def spelled_out(hours: WeeklyHours, local: datetime) -> datetime | None:
    """The definition, spelled out: each window's occurrence starting this week or last week
    (wall-clock times in `local`'s zone), the first that holds `local`."""
    for window in hours.windows:
        for weeks in (-1, 0):
            day = local + timedelta(weeks=weeks)
            monday = (day - timedelta(days=day.weekday())).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            start = monday + timedelta(days=window.day, minutes=window.start)
            end = start + timedelta(minutes=window.minutes())
            if start <= local < end:
                return end
    return None


windows = st.builds(
    Window,
    day=st.integers(0, 6),
    start=st.integers(0, 1439),
    end=st.integers(0, 1439),
)
# Around both clock changes of 2026 too (8 March, 1 November in Chicago).
moments = st.datetimes(
    min_value=datetime(2026, 2, 20),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001 - and applies `timezones`
    timezones=st.just(ZONE),
)


@given(st.lists(windows, min_size=1, max_size=6).map(tuple).map(WeeklyHours), moments)
def test_the_window_end_is_the_definitions(hours: WeeklyHours, local: datetime) -> None:
    assert current_window_end(hours, local) == spelled_out(hours, local)


def test_windows_past_midnight_and_past_sunday() -> None:
    hours = parse_hours("sun 22:00-02:00, wed 09:00-17:30")
    monday = datetime(2026, 11, 2, tzinfo=ZONE)
    assert current_window_end(hours, monday + timedelta(hours=1, minutes=59)) == monday.replace(
        hour=2
    )
    assert not is_on_call(hours, monday + timedelta(hours=2))
    sunday = monday + timedelta(days=6, hours=22)
    assert current_window_end(hours, sunday) == monday + timedelta(days=7, hours=2)
    wednesday = monday + timedelta(days=2, hours=17, minutes=29, seconds=59)
    assert current_window_end(hours, wednesday) == wednesday.replace(minute=30, second=0)
    assert not is_on_call(hours, wednesday + timedelta(seconds=1))
