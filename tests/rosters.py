"""Shared by the routing tests: a helper built in one line, a roster's index read by member
number, and the check that an updated roster (`Roster.updated`) is the roster `Roster.of`
builds from the same helpers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.events import Address, Platform
from bot.model import Member, MemberId, Role
from bot.routing import Roster

Contents = dict[Role, tuple[frozenset[int], dict[str, tuple[object, ...]]]]
# A moment every seven hours through a week: every hour of the day, every day of the week.
MOMENTS = [datetime(2026, 11, 23, tzinfo=UTC) + timedelta(hours=7 * n) for n in range(24)]
JOINED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def make_member(number: int, role: Role = Role.PEER, **fields: Any) -> Member:
    """Member `number` (their Telegram chat id too), ready to help: active, available,
    certified until 2027, no agency, named "helper N"; `fields` change any of it."""
    member = Member(
        id=MemberId(number),
        role=role,
        address=Address(Platform.TELEGRAM, str(number)),
        agency_hash=None,
        display_name=f"helper {number}",
        available=True,
        certified_until=date(2027, 1, 1),
        active=True,
        joined_at=JOINED,
    )
    return replace(member, **fields)


def contents(roster: Roster) -> Contents:
    """The index by member number rather than slot, without empty roles, zones and order."""
    found: Contents = {}
    at = roster._at_slot
    for role, index in roster._by_role.items():
        always = frozenset(at[slot].id for slot in index.always)
        zones: dict[str, tuple[object, ...]] = {}
        for hours in index.zones:
            whole = tuple(frozenset(at[slot].id for slot in hour) for hour in hours.whole)
            part = tuple(
                frozenset((span.start, span.length, at[span.helper].id) for span in hour)
                for hour in hours.part
            )
            if any(whole) or any(part):
                zones[hours.zone.key] = (whole, part)
        if always or zones:
            found[role] = (always, zones)
    return found


def assert_built_alike(updated: Roster, helpers: Iterable[Member]) -> None:
    """`updated` holds, orders and indexes exactly what a roster built anew would."""
    rebuilt = Roster.of(helpers, updated.default_zone)
    assert updated.helpers == rebuilt.helpers
    assert dict(updated._position) == dict(rebuilt._position)
    assert contents(updated) == contents(rebuilt)
    assert {t: n for t, n in updated._facts.topics.items() if n} == rebuilt._facts.topics
    for now in MOMENTS:
        assert [updated.helpers[i].id for i in updated.available(now)] == [
            rebuilt.helpers[i].id for i in rebuilt.available(now)
        ]
