"""Routing policy: who may be offered a request, and in what order. Pure functions, no I/O.

The rules keep peer-support privilege intact (certified helpers only, one per thread, never one
who was involved in the incident) and keep officers away from their own chain of command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.hours import current_window_end
from bot.model import OPT_IN_ASKERS, Category, Member, MemberId, Role, Wanted


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    officer_id: MemberId | None  # None: a page for an agency's incident, not one officer's ask
    officer_agency_hash: bytes | None
    wanted: Wanted
    outside_agency: bool
    category: Category = Category.OTHER
    already_offered: frozenset[MemberId] = frozenset()
    involved: frozenset[MemberId] = frozenset()  # declared "I was involved in this incident"
    blocked: frozenset[MemberId] = frozenset()  # the officer's private "not this person again"
    conflicts: frozenset[MemberId] = frozenset()  # supervises or reports to the officer
    preferred: MemberId | None = None  # the officer asked for their previous helper
    # Who asks: a family member's or retiree's request goes only to helpers who chose them.
    asker_role: Role = Role.OFFICER
    # On call for a critical incident at the officer's agency (accepted its page): tried first.
    first: frozenset[MemberId] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    max_threads_per_helper: int = 2
    batch_size: int = 3


def capacity(helper: Member, policy: Policy) -> int:
    """How many conversations the helper takes at once: the program's cap, or their own
    lower one (/load)."""
    if helper.max_threads is None:
        return policy.max_threads_per_helper
    return min(helper.max_threads, policy.max_threads_per_helper)


def local_time(member: Member, now: datetime, default_zone: str) -> datetime:
    try:
        zone = ZoneInfo(member.timezone or default_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(default_zone)
    return now.astimezone(zone)


def is_available(member: Member, now: datetime, default_zone: str = "UTC") -> bool:
    """Said /available, or inside their on-call hours and not /away for this window."""
    if member.available:
        return True
    if member.on_call is None:
        return False
    if member.away_until is not None and now < member.away_until:
        return False
    return current_window_end(member.on_call, local_time(member, now, default_zone)) is not None


def is_eligible(
    helper: Member,
    request: RoutingRequest,
    *,
    live_threads: int,
    now: datetime,
    policy: Policy,
    default_zone: str = "UTC",
    check_availability: bool = True,
) -> bool:
    """Every rule a helper must pass to be offered this request (and, but for availability,
    to accept it)."""
    excluded = request.already_offered | request.involved | request.blocked | request.conflicts
    # A certification is good through its last day in the program's own time zone.
    today = now.astimezone(ZoneInfo(default_zone)).date()
    checks = (
        helper.id != request.officer_id,
        helper.active,
        not helper.identity_hold,  # a changed Signal key, not yet confirmed by a coordinator
        request.wanted.admits(helper.role),
        request.asker_role not in OPT_IN_ASKERS or request.asker_role in helper.serves,
        # Privilege covers certified members only: unknown or lapsed certification is a no.
        helper.certified_until is not None and helper.certified_until >= today,
        helper.id not in excluded,
        live_threads < capacity(helper, policy),
        helper.cooldown_until is None or helper.cooldown_until <= now,
        not (
            request.outside_agency
            and request.officer_agency_hash is not None
            and helper.agency_hash == request.officer_agency_hash
        ),
    )
    return all(checks) and (not check_availability or is_available(helper, now, default_zone))


def rank_candidates(
    request: RoutingRequest,
    helpers: Iterable[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
    default_zone: str = "UTC",
) -> list[Member]:
    """Eligible helpers, best first: the officer's previous helper if asked for, then those on
    call for an incident at the officer's agency, then least recently assigned, then least
    loaded; a specialty match breaks ties, then whoever was offered something least recently,
    so offers rotate."""
    eligible = [
        helper
        for helper in helpers
        if is_eligible(
            helper,
            request,
            live_threads=live_threads.get(helper.id, 0),
            now=now,
            policy=policy,
            default_zone=default_zone,
        )
    ]
    never = datetime.min.replace(tzinfo=now.tzinfo)
    eligible.sort(
        key=lambda h: (
            h.id != request.preferred,
            h.id not in request.first,
            h.last_assigned_at or never,
            live_threads.get(h.id, 0),
            request.category not in h.topics,
            h.last_offered_at or never,
            h.id,
        )
    )
    return eligible


def next_batch(
    request: RoutingRequest,
    helpers: Iterable[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
    everyone: bool = False,
    default_zone: str = "UTC",
) -> list[Member]:
    """Who gets the next offers: the top `batch_size`, or every eligible helper when urgent.
    A preferred helper who is eligible gets the first offer alone."""
    ranked = rank_candidates(
        request,
        helpers,
        live_threads=live_threads,
        now=now,
        policy=policy,
        default_zone=default_zone,
    )
    if everyone:
        return ranked
    if ranked and request.preferred is not None and ranked[0].id == request.preferred:
        return ranked[:1]
    return ranked[: policy.batch_size]


@dataclass(frozen=True, slots=True)
class BatchQuery:
    """One search for a request's next batch, as the contact clock makes it."""

    request: RoutingRequest  # wanted = whom the clock searches for now; everyone asked excluded
    asked_again: frozenset[MemberId] = frozenset()  # asked, but their offers merely timed out
    live: bool = False  # an offer is still live: no second round, no widening
    everyone: bool = False  # urgent: every eligible helper at once
    widenable: bool = False  # a peer-or-chaplain choice not widened yet


@dataclass(frozen=True, slots=True)
class FoundBatch:
    helpers: list[Member]
    widened: bool = False  # found only by taking the other helper role too


def find_batch(
    query: BatchQuery,
    helpers: Sequence[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
    default_zone: str = "UTC",
) -> FoundBatch:
    """The next batch: new helpers first; helpers whose offers timed out are asked again only
    when nobody new is left and no offer is live at all; and when the role asked for is
    exhausted (nothing live), the other role at once rather than after the widening delay."""
    searches = [(query.request.wanted, False)]
    if query.widenable and not query.live:
        searches.append((Wanted.EITHER, True))
    rounds = (False,) if query.live else (False, True)
    for wanted, widened in searches:
        for second_round in rounds:
            excluded = query.request.already_offered
            if second_round:
                excluded = excluded - query.asked_again
            request = replace(query.request, wanted=wanted, already_offered=excluded)
            batch = next_batch(
                request,
                helpers,
                live_threads=live_threads,
                now=now,
                policy=policy,
                everyone=query.everyone,
                default_zone=default_zone,
            )
            if batch:
                return FoundBatch(batch, widened)
    return FoundBatch([])
