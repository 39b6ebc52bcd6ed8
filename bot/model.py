"""Domain vocabulary: roles, categories, members. No I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import NewType

from bot.events import Address
from bot.hours import WeeklyHours

MemberId = NewType("MemberId", int)
RequestId = NewType("RequestId", str)
ThreadId = NewType("ThreadId", str)


class Role(enum.StrEnum):
    OFFICER = "officer"
    FAMILY = "family"  # a spouse or immediate family of an officer
    RETIREE = "retiree"  # a retired officer
    PEER = "peer"
    CHAPLAIN = "chaplain"
    CLINICIAN = "clinician"
    COORDINATOR = "coordinator"


# Who can hold a conversation with an officer (certified or licensed, with a date on record).
HELPER_ROLES = frozenset({Role.PEER, Role.CHAPLAIN, Role.CLINICIAN})
# Whom an officer's "whoever is free first" means; clinicians are reached by referral.
FIRST_CONTACT_ROLES = frozenset({Role.PEER, Role.CHAPLAIN})
# Who asks for help (/talk): officers, and the families and retirees the program also covers.
ASKER_ROLES = frozenset({Role.OFFICER, Role.FAMILY, Role.RETIREE})
# Askers whose requests go only to helpers who chose to support them (/topics).
OPT_IN_ASKERS = (Role.FAMILY, Role.RETIREE)


class Category(enum.StrEnum):
    CRITICAL_INCIDENT = "critical_incident"
    LINE_OF_DUTY_DEATH = "line_of_duty_death"
    RELATIONSHIPS = "relationships"
    ALCOHOL = "alcohol"
    STRESS = "stress"
    SUICIDAL_THOUGHTS = "suicidal_thoughts"
    MONEY = "money"
    FAITH = "faith"
    OTHER = "other"
    NOT_SAFE = "not_safe"  # the urgent path; not offered as a topic
    DEBRIEF = "debrief"  # a helper's own talk after a hard conversation (/debrief)


TOPICS = tuple(c for c in Category if c not in (Category.NOT_SAFE, Category.DEBRIEF))
# Every category a request can have, in the order reports list them.
REPORTED = (*TOPICS, Category.NOT_SAFE, Category.DEBRIEF)


# After a thread like these a helper gets a rest before the next offer.
HEAVY_CATEGORIES = frozenset({Category.SUICIDAL_THOUGHTS, Category.NOT_SAFE})


class Wanted(enum.StrEnum):
    """Who the officer asked for."""

    PEER = "peer"
    CHAPLAIN = "chaplain"
    CLINICIAN = "clinician"  # by referral (/transfer) only
    EITHER = "either"

    def admits(self, role: Role) -> bool:
        if self is Wanted.EITHER:
            return role in FIRST_CONTACT_ROLES
        return role.value == self.value


@dataclass(frozen=True, slots=True)
class Member:
    id: MemberId
    role: Role
    address: Address
    agency_hash: bytes | None  # keyed hash: equality only, for "outside my agency"
    display_name: str  # helpers' chosen name; officers never show theirs
    available: bool
    certified_until: date | None
    active: bool
    joined_at: datetime
    last_assigned_at: datetime | None = None
    timezone: str | None = None
    on_call: WeeklyHours | None = None
    away_until: datetime | None = None
    cooldown_until: datetime | None = None
    ignored_offers: int = 0
    topics: frozenset[Category] = frozenset()
    last_offered_at: datetime | None = None
    # A helper's Signal identity key changed: no offers until a coordinator confirms them.
    identity_hold: bool = False
    coordinator: bool = False  # coordinator rights on top of another role
    language: str | None = None  # a catalog's language code; None = the program's default
    max_threads: int | None = None  # their own cap (/load), never above the program's
    # Family members and retirees this helper chose to support (/topics); offered only then.
    serves: frozenset[Role] = frozenset()

    @property
    def is_helper(self) -> bool:
        return self.role in HELPER_ROLES

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.COORDINATOR or self.coordinator

    @property
    def asks(self) -> bool:
        """Someone who asks for help (/talk), not a helper or staff."""
        return self.role in ASKER_ROLES


def topic_tokens(topics: frozenset[Category], serves: frozenset[Role]) -> str:
    """A helper's choices as stored (members.topics, invites.topics): topics and the askers
    they support, comma-separated (the two sets of words never overlap)."""
    return ",".join(sorted({t.value for t in topics} | {r.value for r in serves}))


def parse_topic_tokens(stored: str) -> tuple[frozenset[Category], frozenset[Role]]:
    words = [w for w in stored.split(",") if w]
    askers = {r.value for r in OPT_IN_ASKERS}
    return (
        frozenset(Category(w) for w in words if w not in askers),
        frozenset(Role(w) for w in words if w in askers),
    )


@dataclass(frozen=True, slots=True)
class Thread:
    """A live conversation between one officer and one helper."""

    id: ThreadId
    tag: str  # short, shown to the helper to tell threads apart
    officer_id: MemberId
    helper_id: MemberId
    officer_alias: str  # the pseudonym the helper sees
    category: Category
    urgent: bool
    opened_at: datetime
    outside_agency: bool = False

    def other(self, member_id: MemberId) -> MemberId:
        return self.helper_id if member_id == self.officer_id else self.officer_id


@dataclass(frozen=True, slots=True)
class OfficerPrivate:
    """What only the officer's own sealed record knows."""

    blocked: frozenset[MemberId] = frozenset()  # "not this person again"
    # "The same person next time": kept only when the officer chose it, and only until then.
    again: MemberId | None = None
    again_until: date | None = None
    stable_alias: bool = False  # helpers may recognise a returning officer
    # How many conversations they have had per topic (numbers only), for the referral prompt.
    returns: tuple[tuple[str, int], ...] = ()

    def wanted_again(self, today: date) -> MemberId | None:
        """The helper the officer asked to have again, while that choice lasts."""
        if self.again is None or self.again in self.blocked:
            return None
        if self.again_until is None or today > self.again_until:
            return None
        return self.again

    def returns_for(self, category: str) -> int:
        return dict(self.returns).get(category, 0)

    def returned(self, category: str) -> OfficerPrivate:
        counts = dict(self.returns)
        counts[category] = counts.get(category, 0) + 1
        return replace(self, returns=tuple(sorted(counts.items())))
