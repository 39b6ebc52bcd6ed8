"""Who can take a request now and in the coming hours, for a coordinator's /oncall. Pure.

Now: members who are available (said /available, or inside their on-call hours and not away),
not revoked, not held after a Signal safety-number change, and (helpers) still certified.
Ahead: by weekly on-call hours only, since /available says nothing about later. Officers are
never counted or named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.hours import is_on_call
from bot.model import HELPER_ROLES, Member, Role
from bot.routing import is_available, local_time

# The roles /oncall counts, in the order it lists them.
ON_CALL_ROLES = (Role.PEER, Role.CHAPLAIN, Role.CLINICIAN, Role.COORDINATOR)


@dataclass(frozen=True, slots=True)
class OnCall:
    now: dict[Role, list[Member]]
    ahead: list[tuple[datetime, dict[Role, int]]]  # (local start of the hour, counts)


def _ready(member: Member, now: datetime, zone: str) -> bool:
    if not member.active or member.identity_hold or member.asks:
        return False
    if member.role in HELPER_ROLES:
        today = now.astimezone(ZoneInfo(zone)).date()
        return member.certified_until is not None and member.certified_until >= today
    return True


def on_call(members: Sequence[Member], now: datetime, zone: str, hours: int = 8) -> OnCall:
    ready = [m for m in members if _ready(m, now, zone)]
    current: dict[Role, list[Member]] = {role: [] for role in ON_CALL_ROLES}
    for member in ready:
        if is_available(member, now, zone):
            current[member.role].append(member)
    start = now.astimezone(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
    ahead = []
    for step in range(1, hours + 1):
        moment = start + timedelta(hours=step)
        counts = dict.fromkeys(ON_CALL_ROLES, 0)
        for member in ready:
            if member.on_call is not None and is_on_call(
                member.on_call, local_time(member, moment, zone)
            ):
                counts[member.role] += 1
        ahead.append((moment, counts))
    return OnCall(now=current, ahead=ahead)
