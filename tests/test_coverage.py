"""The coverage forecast: hours of the coming week with too few on call, by role."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.catalog import EN
from bot.coverage import forecast, on_call_count
from bot.hours import parse_hours
from bot.model import Member, Role
from bot.sandbox.harness import Sandbox
from tests.conftest import FakeClock
from tests.rosters import make_member

ZONE = "America/Chicago"
MONDAY = datetime(2026, 11, 2, tzinfo=ZoneInfo(ZONE))  # local midnight


def helper(number: int, role: Role, hours: str, *, certified: date | None = None) -> Member:
    return make_member(
        number,
        role,
        available=False,
        certified_until=certified or date(2027, 12, 31),
        joined_at=MONDAY - timedelta(days=30),
        timezone=ZONE,
        on_call=parse_hours(hours),
    )


def test_holes_are_the_hours_with_fewer_than_the_minimum_by_role() -> None:
    helpers = [
        helper(1, Role.PEER, "mon 18:00-22:00, tue 18:00-22:00"),
        helper(2, Role.PEER, "mon 18:00-22:00, tue 18:00-22:00"),
        helper(3, Role.CHAPLAIN, "mon 18:00-22:00"),
        # Lapsed: not counted, whatever their hours say.
        helper(4, Role.PEER, "mon 00:00-23:59", certified=date(2026, 10, 1)),
    ]
    holes = forecast(helpers, MONDAY, minimum=2, zone=ZONE)
    peers = [
        (h.start.astimezone(ZoneInfo(ZONE)), h.hours, h.fewest)
        for h in holes
        if h.role is Role.PEER
    ]
    assert peers == [
        (MONDAY + timedelta(hours=1), 17, 0),  # from the next full hour to Monday 18:00
        (MONDAY + timedelta(hours=22), 20, 0),  # Monday 22:00 to Tuesday 18:00
        (MONDAY + timedelta(days=1, hours=22), 168 - 17 - 4 - 20 - 4, 0),  # to the week's end
    ]
    (chaplains,) = [h for h in holes if h.role is Role.CHAPLAIN]
    assert chaplains.hours == 168 and chaplains.fewest == 0  # one chaplain is never two
    assert on_call_count(helpers, Role.CHAPLAIN, MONDAY + timedelta(hours=19), ZONE) == 1
    assert forecast(helpers, MONDAY, minimum=1, zone=ZONE, roles=[Role.PEER])[0].hours == 17


def test_an_hour_counts_only_those_on_call_for_all_of_it() -> None:
    def peer_holes(minimum: int, *hours: str) -> list[tuple[datetime, int]]:
        helpers = [helper(n, Role.PEER, text) for n, text in enumerate(hours, start=1)]
        found = forecast(helpers, MONDAY, minimum=minimum, zone=ZONE, roles=[Role.PEER])
        return [(h.start.astimezone(ZoneInfo(ZONE)), h.hours) for h in found]

    # Gone at 22:30: no cover from 22:30, so the hole starts at 22:00, not 23:00.
    holes = peer_holes(1, "mon 18:00-22:30")
    assert holes[1] == (MONDAY + timedelta(hours=22), 168 - 17 - 4)
    # From 18:30: the 18:00 hour is a hole. Two windows that meet at 20:30 are one stretch.
    holes = peer_holes(2, "mon 18:00-23:00", "mon 18:30-20:30, mon 20:30-22:00")
    assert holes[0] == (MONDAY + timedelta(hours=1), 18)  # to 19:00
    assert holes[1] == (MONDAY + timedelta(hours=22), 168 - 18 - 3)  # from 22:00
    assert (
        on_call_count(
            [helper(1, Role.PEER, "mon 18:30-20:30, mon 20:30-22:00")],
            Role.PEER,
            MONDAY + timedelta(hours=20),
            ZONE,
            until=MONDAY + timedelta(hours=21),
        )
        == 1
    )


async def test_coordinators_see_the_holes_on_demand_and_every_week(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    peer = await sandbox.join("Alex", Role.PEER)
    await peer.send("/hours mon 18:00-23:00")
    await peer.wait_for("Got it")
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await peer.send("/coverage")
    await peer.wait_for(EN.coordinators_only)
    await coordinator.send("/coverage")
    shown = await coordinator.wait_for("On-call cover, next 7 days")
    assert "peers on call: 0" in shown.text and "chaplains on call: 0" in shown.text
    assert "Alex" not in shown.text
    assert sandbox.app is not None
    assert await sandbox.app.send_weekly_coverage() == 1
    await coordinator.wait_until(
        lambda: sum("On-call cover" in t for t in coordinator.texts()) == 2
    )
