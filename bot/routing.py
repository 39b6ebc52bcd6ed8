"""Routing policy: who may be offered a request, and in what order. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.model import Member, MemberId, Wanted


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    officer_id: MemberId
    officer_agency_hash: bytes | None
    wanted: Wanted
    outside_agency: bool
    already_offered: frozenset[MemberId] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    max_threads_per_helper: int = 2
    batch_size: int = 3


def is_eligible(
    helper: Member,
    request: RoutingRequest,
    *,
    live_threads: int,
    now: datetime,
    policy: Policy,
) -> bool:
    """Every rule a helper must pass to be offered this request."""
    if helper.id == request.officer_id or not helper.active or not helper.available:
        return False
    if not request.wanted.admits(helper.role):
        return False
    # Privilege only covers certified members: an unknown or lapsed certification is a no.
    if helper.certified_until is None or helper.certified_until < now.date():
        return False
    if live_threads >= policy.max_threads_per_helper:
        return False
    if helper.id in request.already_offered:
        return False
    return not (
        request.outside_agency
        and request.officer_agency_hash is not None
        and helper.agency_hash == request.officer_agency_hash
    )


def rank_candidates(
    request: RoutingRequest,
    helpers: Iterable[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
) -> list[Member]:
    """Eligible helpers, best first: least recently assigned, then least loaded."""
    eligible = [
        helper
        for helper in helpers
        if is_eligible(
            helper, request, live_threads=live_threads.get(helper.id, 0), now=now, policy=policy
        )
    ]
    never = datetime.min.replace(tzinfo=now.tzinfo)
    eligible.sort(key=lambda h: (h.last_assigned_at or never, live_threads.get(h.id, 0), h.id))
    return eligible


def next_batch(
    request: RoutingRequest,
    helpers: Iterable[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
) -> list[Member]:
    ranked = rank_candidates(request, helpers, live_threads=live_threads, now=now, policy=policy)
    return ranked[: policy.batch_size]
