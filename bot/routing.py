"""Routing policy: who may be offered a request, and in what order. Pure functions, no I/O.

The rules keep peer-support privilege intact (certified helpers only, one per thread, never one
who was involved in the incident) and keep officers away from their own chain of command.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import compress
from operator import is_not
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.hours import WeeklyHours, current_window_end
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
    preferred_alone: bool = True,
) -> list[Member]:
    """Who gets the next offers: the top `batch_size`, or every eligible helper (`everyone`).
    A preferred helper who is eligible gets the first offer alone, unless not `preferred_alone`
    (an urgent request, a coordinator's push): then first among the rest."""
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
    if preferred_alone and ranked and ranked[0].id == request.preferred:
        return ranked[:1]
    return ranked[: policy.batch_size]


@dataclass(frozen=True, slots=True)
class BatchQuery:
    """One search for a request's next batch, as the contact clock makes it."""

    request: RoutingRequest  # wanted = whom the clock searches for now; everyone asked excluded
    asked_again: frozenset[MemberId] = frozenset()  # asked, but their offers merely timed out
    live: bool = False  # an offer is still live: no second round, no widening
    everyone: bool = False  # every eligible helper at once (an urgent request with no cap)
    widenable: bool = False  # a peer-or-chaplain choice not widened yet
    # A previous helper who is eligible gets the first offer alone; not for an urgent request
    # or a coordinator's push, whose offers all go out at once (the previous helper first).
    preferred_alone: bool = True


@dataclass(frozen=True, slots=True)
class FoundBatch:
    helpers: list[Member]
    widened: bool = False  # found only by taking the other helper role too


# -- the roster, indexed: a decision looks only at helpers who can be available now ----------

_MINUTE_US = 60_000_000
_HOUR_US = 60 * _MINUTE_US
_WEEK_US = 7 * 24 * _HOUR_US


def _week_moment(local: datetime) -> int:
    """Microseconds since Monday 00:00 on `local`'s wall clock. `current_window_end` compares
    wall-clock times in one zone, so a window holds `local` exactly when this moment is inside
    the window's span of the week (the span may wrap past Sunday midnight)."""
    minutes = (local.weekday() * 24 + local.hour) * 60 + local.minute
    return minutes * _MINUTE_US + local.second * 1_000_000 + local.microsecond


@dataclass(frozen=True, slots=True)
class _Span:
    """One on-call window of one helper, as microseconds of the week."""

    start: int
    length: int
    helper: int  # the helper's slot in the roster's index (see Roster)

    def holds(self, moment: int) -> bool:
        return (moment - self.start) % _WEEK_US < self.length


@dataclass(frozen=True, slots=True)
class _ZoneHours:
    """Every on-call window kept in one time zone, by hour of the week: the helpers whose
    window covers that whole hour, and the spans that cover only part of it."""

    zone: ZoneInfo
    whole: tuple[frozenset[int], ...]  # 168 hours
    part: tuple[tuple[_Span, ...], ...]


def _spans(hours: WeeklyHours, helper: int) -> list[_Span]:
    return [
        _Span(((w.day * 24 * 60) + w.start) * _MINUTE_US, w.minutes() * _MINUTE_US, helper)
        for w in hours.windows
    ]


def _hours_of(span: _Span) -> Iterator[tuple[int, bool]]:
    """The hours of the week `span` touches, each with whether it covers the whole hour."""
    first = span.start // _HOUR_US
    last = (span.start + span.length - 1) // _HOUR_US
    for hour in range(first, last + 1):
        offset = (hour * _HOUR_US - span.start) % _WEEK_US
        yield hour % 168, offset + _HOUR_US <= span.length


def _zone_hours(zone: ZoneInfo, spans: list[_Span]) -> _ZoneHours:
    whole: list[set[int]] = [set() for _ in range(168)]
    part: list[list[_Span]] = [[] for _ in range(168)]
    for span in spans:
        for hour, covered in _hours_of(span):
            if covered:
                whole[hour].add(span.helper)
            else:
                part[hour].append(span)
    return _ZoneHours(zone, tuple(map(frozenset, whole)), tuple(map(tuple, part)))


def _zone_hours_changed(hours: _ZoneHours, out: list[_Span], into: list[_Span]) -> _ZoneHours:
    """`hours` without the spans `out` and with the spans `into`; only the hours of the week
    they touch are copied."""
    whole_out: dict[int, set[int]] = {}
    part_out: dict[int, set[int]] = {}
    for span in out:
        for hour, covered in _hours_of(span):
            (whole_out if covered else part_out).setdefault(hour, set()).add(span.helper)
    whole_in: dict[int, set[int]] = {}
    part_in: dict[int, list[_Span]] = {}
    for span in into:
        for hour, covered in _hours_of(span):
            if covered:
                whole_in.setdefault(hour, set()).add(span.helper)
            else:
                part_in.setdefault(hour, []).append(span)
    whole, part = list(hours.whole), list(hours.part)
    for hour in whole_out.keys() | whole_in.keys():
        whole[hour] = (whole[hour] - whole_out.get(hour, set())) | whole_in.get(hour, set())
    for hour in part_out.keys() | part_in.keys():
        gone = part_out.get(hour, set())
        kept = tuple(span for span in part[hour] if span.helper not in gone)
        part[hour] = kept + tuple(part_in.get(hour, ()))
    return _ZoneHours(hours.zone, tuple(whole), tuple(part))


def _zone_of(member: Member, default_zone: str) -> ZoneInfo:
    """As `local_time` picks it."""
    try:
        return ZoneInfo(member.timezone or default_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default_zone)


def _rank_key(
    helper: Member,
) -> tuple[bool, datetime | None, bool, datetime | None, MemberId]:
    """The roster's order: the policy's ranking without what depends on the request (previous
    helper, incident on-call, load, specialty): least recently assigned first (never assigned
    before all), then least recently offered, then by number, so that one set of helpers has
    one order however it is given or updated."""
    return (
        helper.last_assigned_at is not None,
        helper.last_assigned_at,
        helper.last_offered_at is not None,
        helper.last_offered_at,
        helper.id,
    )


def _assigned(helper: Member) -> bool:
    return helper.last_assigned_at is not None


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a decision tests of the helpers, by slot, kept so that a rule is a set operation
    or a slice rather than a test of each helper."""

    certified: list[tuple[int, int]]  # (last day certified as a date ordinal, slot), sorted
    cooling: list[tuple[datetime, int]]  # (end of a cool-down, slot), sorted
    by_agency: Mapping[bytes, frozenset[int]]
    serving: Mapping[Role, frozenset[int]]  # opt-in askers
    topics: Mapping[Category, int]  # how many helpers list each topic

    @classmethod
    def of(cls, at_slot: Sequence[Member]) -> _Facts:
        facts = cls([], [], {}, {role: frozenset() for role in OPT_IN_ASKERS}, {})
        return facts.changed([], list(enumerate(at_slot)))

    def changed(
        self, removed: list[tuple[int, Member]], added: list[tuple[int, Member]]
    ) -> _Facts:
        """These facts without the (slot, helper) pairs `removed` and with those `added`."""
        certified, cooling = list(self.certified), list(self.cooling)
        agencies: dict[bytes, set[int]] = {}
        serving: dict[Role, set[int]] = {}
        bulk = not self.certified and not removed
        for pairs, keep in ((removed, False), (added, True)):
            for slot, helper in pairs:
                fact = (_certified(helper), slot)
                if bulk:
                    certified.append(fact)
                elif keep:
                    bisect.insort(certified, fact)
                else:
                    del certified[bisect.bisect_left(certified, fact)]
                if helper.cooldown_until is not None:
                    rest = (helper.cooldown_until, slot)
                    if keep:
                        bisect.insort(cooling, rest)
                    else:
                        del cooling[bisect.bisect_left(cooling, rest)]
                if helper.agency_hash is not None:
                    found = agencies.get(helper.agency_hash)
                    if found is None:
                        old = self.by_agency.get(helper.agency_hash, frozenset())
                        found = agencies[helper.agency_hash] = set(old)
                    (found.add if keep else found.discard)(slot)
                for role in helper.serves & self.serving.keys() if helper.serves else ():
                    found = serving.setdefault(role, set(self.serving[role]))
                    (found.add if keep else found.discard)(slot)
        if bulk:
            certified.sort()
        by_agency = dict(self.by_agency)
        by_agency.update((agency, frozenset(found)) for agency, found in agencies.items())
        served = dict(self.serving)
        served.update((role, frozenset(found)) for role, found in serving.items())
        return _Facts(certified, cooling, by_agency, served, _counted(self.topics, removed, added))


def _counted(
    topics: Mapping[Category, int],
    removed: list[tuple[int, Member]],
    added: list[tuple[int, Member]],
) -> dict[Category, int]:
    """How many helpers list each topic: `topics` without the `removed` and with the `added`."""
    counts = dict(topics)
    for pairs, step in ((removed, -1), (added, 1)):
        for _, helper in pairs:
            for topic in helper.topics:
                counts[topic] = counts.get(topic, 0) + step
    return counts


def _certified(helper: Member) -> int:
    """The last day certified as a date ordinal; -1 when inactive, on hold or never."""
    if helper.active and not helper.identity_hold and helper.certified_until is not None:
        return helper.certified_until.toordinal()
    return -1


def _index_fields(helper: Member) -> tuple[object, ...]:
    """What the availability index reads of a helper when it is built."""
    return (helper.role, helper.available, helper.on_call, helper.timezone)


@dataclass(frozen=True, slots=True)
class _Index:
    """When the helpers of one role are available: who said /available, and the others'
    on-call windows by zone."""

    always: frozenset[int]
    zones: tuple[_ZoneHours, ...]

    @classmethod
    def of(cls, helpers: Sequence[Member], positions: list[int], default_zone: str) -> _Index:
        always: set[int] = set()
        by_zone: dict[str, tuple[ZoneInfo, list[_Span]]] = {}
        for index in positions:
            helper = helpers[index]
            if helper.available:
                always.add(index)
            elif helper.on_call is not None:
                zone = _zone_of(helper, default_zone)
                by_zone.setdefault(zone.key, (zone, []))[1].extend(_spans(helper.on_call, index))
        zones = tuple(_zone_hours(zone, spans) for zone, spans in by_zone.values())
        return cls(frozenset(always), zones)

    def changed(
        self,
        removed: list[tuple[int, Member]],
        added: list[tuple[int, Member]],
        default_zone: str,
    ) -> _Index:
        """This index without the (slot, helper) pairs `removed` and with those `added`."""
        always = set(self.always)
        zones = {hours.zone.key: hours for hours in self.zones}
        out: dict[str, list[_Span]] = {}
        into: dict[str, list[_Span]] = {}
        for pairs, spans in ((removed, out), (added, into)):
            for slot, helper in pairs:
                if helper.available:
                    if pairs is added:
                        always.add(slot)
                    else:
                        always.discard(slot)
                elif helper.on_call is not None:
                    zone = _zone_of(helper, default_zone)
                    zones.setdefault(zone.key, _zone_hours(zone, []))
                    spans.setdefault(zone.key, []).extend(_spans(helper.on_call, slot))
        for key in out.keys() | into.keys():
            hours = _zone_hours_changed(zones[key], out.get(key, []), into.get(key, []))
            if any(hours.whole) or any(hours.part):
                zones[key] = hours
            else:
                del zones[key]
        return _Index(frozenset(always), tuple(zones.values()))

    def add_available(self, found: set[int], helpers: Sequence[Member], now: datetime) -> None:
        found |= self.always
        for hours in self.zones:
            moment = _week_moment(now.astimezone(hours.zone))
            hour = moment // _HOUR_US
            on_call = set(hours.whole[hour])
            on_call.update(span.helper for span in hours.part[hour] if span.holds(moment))
            for index in on_call:
                away = helpers[index].away_until
                if away is None or now >= away:
                    found.add(index)


# Past this many helpers changed at once an update builds the roster again.
_MOST_CHANGES = 64


@dataclass(frozen=True, slots=True)
class Roster:
    """Helpers as routing reads them, indexed once per change of the roster: in the order the
    policy ranks them first (least recently assigned first) and, by role, who said
    /available and everyone else's on-call windows by zone and hour of the week. A decision
    then looks only at the helpers of the roles asked for who can be available at that moment,
    and for a batch of a few stops as soon as no later helper could rank among them.

    The index names each helper by a slot that an update (`updated`) keeps while the helper's
    place in the order moves (an assignment, a new helper ahead): built by `of`, a slot is the
    helper's position; after an update `_rank` gives each slot's position."""

    helpers: tuple[Member, ...]  # least recently assigned first (never assigned before all)
    default_zone: str = "UTC"
    _by_role: Mapping[Role, _Index] = field(default_factory=dict, repr=False)
    _position: Mapping[MemberId, int] = field(default_factory=dict, repr=False)
    _slot: Mapping[MemberId, int] = field(default_factory=dict, repr=False)
    _at_slot: Sequence[Member] = field(default=(), repr=False)  # a slot's helper
    _rank: Sequence[int] | None = field(default=None, repr=False)  # None: slot = position
    _facts: _Facts = field(default_factory=lambda: _Facts.of(()), repr=False)

    @classmethod
    def of(cls, helpers: Iterable[Member], default_zone: str = "UTC") -> Roster:
        members = tuple(sorted(helpers, key=_rank_key))
        by_role: dict[Role, list[int]] = {}
        for index, helper in enumerate(members):
            by_role.setdefault(helper.role, []).append(index)
        indexes = {
            role: _Index.of(members, positions, default_zone)
            for role, positions in by_role.items()
        }
        position = {helper.id: index for index, helper in enumerate(members)}
        facts = _Facts.of(members)
        return cls(members, default_zone, indexes, position, position, members, None, facts)

    def updated(self, helpers: Iterable[Member], since: Sequence[Member] | None = None) -> Roster:
        """The roster of `helpers` (equal to `Roster.of(helpers, default_zone)`), built from
        this one: only the helpers that are new, gone, or not the very object kept here are
        placed again, and the index changes only for those whose role, /available or hours
        changed. This roster stays as it was.

        `since`: the very helpers this roster was built or last updated from, in the order
        `helpers` comes in. When the same members come in the same order, only the places
        where the objects differ are looked at (not every helper's place in the roster)."""
        members = tuple(helpers)
        old, position = self.helpers, self._position
        if since is not None and len(since) == len(members):
            places = list(compress(range(len(members)), map(is_not, members, since)))
            if all(
                members[i].id == since[i].id and old[position[since[i].id]] is since[i]
                for i in places
            ):
                return self._with(members, [members[i] for i in places], set())
        changed: list[Member] = []
        kept = 0
        for helper in members:
            at = position.get(helper.id)
            if at is None:
                changed.append(helper)
            else:
                kept += 1
                if old[at] is not helper:
                    changed.append(helper)
        gone = set(position) - {h.id for h in members} if kept < len(old) else set()
        return self._with(members, changed, gone)

    def _with(
        self, members: tuple[Member, ...], changed: list[Member], gone: set[MemberId]
    ) -> Roster:
        if not changed and not gone:
            return self
        if (
            len(changed) + len(gone) > _MOST_CHANGES
            or len(self._at_slot) > 2 * len(members) + _MOST_CHANGES
        ):
            return Roster.of(members, self.default_zone)
        return self._with_changes(changed, gone)

    def _with_changes(self, changed: list[Member], gone: set[MemberId]) -> Roster:
        old, position = self.helpers, self._position
        slot, at_slot = dict(self._slot), list(self._at_slot)
        removed: list[tuple[int, Member]] = [(slot.pop(i), old[position[i]]) for i in gone]
        added: list[tuple[int, Member]] = []
        facts_out = list(removed)
        facts_in: list[tuple[int, Member]] = []
        order = list(old)
        moved: list[Member] = []
        for helper in changed:
            at = position.get(helper.id)
            if at is None:
                slot[helper.id] = len(at_slot)
                at_slot.append(helper)
                added.append((slot[helper.id], helper))
                facts_in.append((slot[helper.id], helper))
                moved.append(helper)
                continue
            before = old[at]
            at_slot[slot[helper.id]] = helper
            facts_out.append((slot[helper.id], before))
            facts_in.append((slot[helper.id], helper))
            if _index_fields(before) != _index_fields(helper):
                removed.append((slot[helper.id], before))
                added.append((slot[helper.id], helper))
            if _rank_key(before) == _rank_key(helper):
                order[at] = helper  # the same place in the order
            else:
                moved.append(helper)
        rank = self._rank
        if moved or gone:
            leaving = gone | {h.id for h in moved}
            order = [h for h in order if h.id not in leaving]
            for helper in moved:
                bisect.insort(order, helper, key=_rank_key)
            position = {helper.id: index for index, helper in enumerate(order)}
            ranks = [0] * len(at_slot)
            for member_id, at in position.items():
                ranks[slot[member_id]] = at
            rank = ranks
        by_role = dict(self._by_role)
        for role in {h.role for _, h in removed} | {h.role for _, h in added}:
            by_role[role] = by_role.get(role, _Index(frozenset(), ())).changed(
                [pair for pair in removed if pair[1].role is role],
                [pair for pair in added if pair[1].role is role],
                self.default_zone,
            )
        facts = self._facts.changed(facts_out, facts_in)
        return Roster(
            tuple(order), self.default_zone, by_role, position, slot, tuple(at_slot), rank, facts
        )

    def available(self, now: datetime, roles: Iterable[Role] = Role) -> list[int]:
        """Positions of the helpers of `roles` that `is_available` holds at `now`, in roster
        order."""
        found = self._available(now, roles)
        if self._rank is None:
            return sorted(found)
        return sorted(map(self._rank.__getitem__, found))

    def _available(self, now: datetime, roles: Iterable[Role]) -> set[int]:
        """The slots of those helpers."""
        found: set[int] = set()
        for role in roles:
            index = self._by_role.get(role)
            if index is not None:
                index.add_available(found, self._at_slot, now)
        return found


def _passing(
    request: RoutingRequest, roster: Roster, available: set[int], *, now: datetime
) -> set[int]:
    """The slots among `available` (helpers of the roles asked for who are available) that
    keep every other rule of `is_eligible` but the load cap, each rule applied to them all at
    once. (The load cap is read per helper as `_ranked` takes them: loads come by member.)"""
    facts, slot = roster._facts, roster._slot
    turned_down = request.already_offered | request.involved | request.blocked
    turned_down |= request.conflicts
    if request.officer_id is not None:
        turned_down |= {request.officer_id}
    found = available.difference([slot[m] for m in turned_down if m in slot])
    today = now.astimezone(ZoneInfo(roster.default_zone)).date().toordinal()
    lapsed = bisect.bisect_left(facts.certified, (today, -1))  # before today, or never
    found.difference_update([at for _, at in facts.certified[:lapsed]])
    resting = bisect.bisect_right(facts.cooling, (now, len(roster._at_slot)))  # ends after now
    found.difference_update([at for _, at in facts.cooling[resting:]])
    if request.outside_agency and request.officer_agency_hash is not None:
        found -= facts.by_agency.get(request.officer_agency_hash, frozenset())
    if request.asker_role in OPT_IN_ASKERS:
        found &= facts.serving[request.asker_role]
    return found


def _ranked(
    request: RoutingRequest,
    roster: Roster,
    passing: set[int],
    *,
    live_threads: Mapping[MemberId, int],
    policy: Policy,
    limit: int | None,
    preferred_alone: bool = True,
) -> list[Member]:
    """The eligible helpers among the `passing` slots (those with room for one more
    conversation), in `rank_candidates`'s order, cut to `limit` (None: all); a previous helper
    who is eligible alone when `limit` is set and `preferred_alone`.

    The previous helper first, then those on call for the incident, then the rest in roster
    order, which is the policy's order except within a run of equal last assignment: there
    the less loaded, then the specialty match, come first."""
    helpers, position = roster.helpers, roster._position
    if roster._rank is not None:
        passing = set(map(roster._rank.__getitem__, passing))  # slots to positions
    cap, load, category = policy.max_threads_per_helper, live_threads.get, request.category

    def room(index: int) -> bool:
        helper = helpers[index]
        taken = load(helper.id, 0)
        own = helper.max_threads
        return taken < cap and (own is None or taken < own)

    def slot(index: int) -> int:
        """Load and specialty, the policy's keys between last assignment and roster order."""
        helper = helpers[index]
        return load(helper.id, 0) * 2 + (category not in helper.topics)

    front = []
    preferred = None if request.preferred is None else position.get(request.preferred)
    if preferred is not None and preferred in passing and room(preferred):
        if limit is not None and preferred_alone:
            return [helpers[preferred]]  # a previous helper who is eligible: alone
        front.append(preferred)
    first = {position[m] for m in request.first if m in position} & passing
    first.discard(preferred)
    front += sorted(filter(room, first), key=lambda i: (_rank_key(helpers[i])[:2], slot(i), i))
    ordered = sorted(passing.difference(front, first))
    never = bisect.bisect_left(helpers, True, key=_assigned)  # positions never assigned
    if limit is None:
        _order_runs(ordered, helpers, never, slot)
        return [helpers[i] for i in front] + [  # `room` written out: the hot path
            helper
            for helper in map(helpers.__getitem__, ordered)
            if (taken := load(helper.id, 0)) < cap
            and (helper.max_threads is None or taken < helper.max_threads)
        ]
    chosen = front[:limit]
    # Nobody lists the category (the urgent path's is no topic): no load is the best there is.
    floor = 0 if roster._facts.topics.get(category, 0) > 0 else 1
    at, count = 0, len(ordered)
    while len(chosen) < limit and at < count:
        index = ordered[at]
        if index < never:
            end = bisect.bisect_left(ordered, never, at)
        else:
            stamp, end = helpers[index].last_assigned_at, at + 1
            while end < count and helpers[ordered[end]].last_assigned_at == stamp:
                end += 1
        if end == at + 1:  # alone in its run
            if room(index):
                chosen.append(index)
        else:
            chosen += _best_of_run(ordered[at:end], limit - len(chosen), room, slot, floor)
        at = end
    return [helpers[i] for i in chosen]


def _order_runs(
    ordered: list[int], helpers: Sequence[Member], never: int, slot: Callable[[int], int]
) -> None:
    """Sort each run of equal last assignment among the `ordered` positions by load and
    specialty (`slot`), in place; positions before `never` are the helpers never assigned."""
    stamps = [helpers[i].last_assigned_at for i in ordered]
    count = len(ordered)
    at = bisect.bisect_left(ordered, never)  # the helpers never assigned: one run
    ordered[:at] = sorted(ordered[:at], key=slot)
    while at < count - 1:
        if stamps[at] != stamps[at + 1]:
            at += 1
            continue
        end = at + 1
        while end < count and stamps[end] == stamps[at]:
            end += 1
        ordered[at:end] = sorted(ordered[at:end], key=slot)
        at = end


def _best_of_run(
    run: list[int],
    wanted: int,
    room: Callable[[int], bool],
    slot: Callable[[int], int],
    floor: int,
) -> list[int]:
    """The `wanted` best of one run of equal last assignment (in roster order) who have room:
    the scan stops once that many have the lowest `slot` anyone can have (`floor`: no load,
    and the specialty unless nobody lists it), as nobody later in the run can beat them."""
    seen: list[tuple[int, int]] = []
    best = 0
    for index in filter(room, run):
        seen.append((slot(index), index))
        if seen[-1][0] == floor:
            best += 1
            if best == wanted:
                break
    return [index for _, index in sorted(seen)[:wanted]]


def indexed_batch(
    request: RoutingRequest,
    roster: Roster,
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
    everyone: bool = False,
    preferred_alone: bool = True,
) -> list[Member]:
    """`next_batch` over the indexed roster: one search for `request` as it stands (no second
    round, no other role)."""
    # live: one search only
    query = BatchQuery(request, live=True, everyone=everyone, preferred_alone=preferred_alone)
    return find_batch(query, roster, live_threads=live_threads, now=now, policy=policy).helpers


def find_batch(
    query: BatchQuery,
    roster: Roster,
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
) -> FoundBatch:
    """The next batch, as `next_batch` would choose it: new helpers first; helpers whose offers
    timed out are asked again only when nobody new is left and no offer is live at all; and
    when the role asked for is exhausted (nothing live), the other role at once rather than
    after the widening delay."""
    searches = [(query.request.wanted, False)]
    if query.widenable and not query.live:
        searches.append((Wanted.EITHER, True))
    rounds = (False,) if query.live else (False, True)
    limit = None if query.everyone else policy.batch_size
    for wanted, widened in searches:
        available = roster._available(now, [role for role in Role if wanted.admits(role)])
        for second_round in rounds:
            excluded = query.request.already_offered
            if second_round:
                excluded = excluded - query.asked_again
            request = replace(query.request, wanted=wanted, already_offered=excluded)
            passing = _passing(request, roster, available, now=now)
            ranked = _ranked(
                request,
                roster,
                passing,
                live_threads=live_threads,
                policy=policy,
                limit=limit,
                preferred_alone=query.preferred_alone,
            )
            if ranked:
                return FoundBatch(ranked, widened)
    return FoundBatch([])
