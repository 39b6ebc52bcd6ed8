"""Routing among 10,000 helpers: how long one batch decision takes, and what it stands against.

Run with ``python -m bench.routing_scale`` (``make bench``). A seeded roster of `--helpers`
helpers (agencies of Zipf-like sizes, peers, chaplains and clinicians, lapsed certifications,
on-call hours in a few zones, /available, /away, cool-downs, identity holds, own load caps, live
conversations) and `--decisions` requests drawn over a week (wanted role, outside agency,
urgent, the officer's blocks, chain of command, helpers who said they were involved, helpers
already asked, some timed out, a preferred helper, family members' and retirees' requests for
the helpers who chose them, helpers on call for an incident) go through, side by side in one
run:

- `routing.find_batch` over a `routing.Roster` built once (the decision the app and the
  simulator make: a batch of three, or an urgent request's first `--urgent-offers`, the
  `[routing] urgent_offers` default), timed per decision; and the same urgent decisions
  uncapped (`urgent_offers = 0`: every eligible helper), as a row of their own;
- the simplest thing that does the same job: the same rounds as `next_batch` calls, each a
  filter of every helper through `is_eligible` and a sort of the eligible (the policy as
  written), on the first `--naive-decisions` of the same requests; every batch must be equal;
- building the `Roster` itself (the app builds it from the helpers it loads per clock step);
- with `--db-helpers N` (default 10,000; 0 skips it): the app's path through a real SQLite
  repository with N sealed members: load the helpers (`Repository.active_members`, served from
  memory while nothing is committed), the officer's private list and chain of command (what
  `matching.routing_view` awaits), build the roster once and then keep it while the helpers
  are the very tuple it was built from, or update it for the helpers that changed (as
  `matching.helper_roster` does), decide. The first step reads and builds (nothing was kept
  yet); the report says how many steps found the helpers kept, and how many member rows the
  steps read. `--db-commits offer` commits between steps what an offer sent commits (one
  helper's `last_offered_at`), `assign` what an accept does (`last_assigned_at`, which moves
  the helper in the roster's order); `none` commits nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bench._common import key_text
from bench.routing_sim import _on_call_text
from bench.sim_compare import percentile
from bot.config import RoutingConfig
from bot.events import Address, Platform
from bot.hours import parse_hours
from bot.invites import create_invites
from bot.model import HELPER_ROLES, TOPICS, Category, Member, MemberId, Role, Wanted
from bot.routing import (
    BatchQuery,
    FoundBatch,
    Policy,
    Roster,
    RoutingRequest,
    find_batch,
    next_batch,
)
from bot.storage.repository import Repository
from crypto import Vault, master_key_from_text, normalize_invite_code

ZONE = "America/Chicago"
ZONES = (ZONE, ZONE, ZONE, ZONE, "America/New_York", "America/Denver", None)
WEEK_START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 00:00 in Chicago
POLICY = Policy(max_threads_per_helper=2, batch_size=3)
GOAL_MS = 2.0
ASKERS = (Role.OFFICER, Role.FAMILY, Role.RETIREE)
SERVES = ((Role.FAMILY, 0.20), (Role.RETIREE, 0.15))  # helpers who chose these askers
T = TypeVar("T")


def _agency(rng: random.Random, agencies: int) -> bytes:
    weights = [1.0 / (rank + 1) for rank in range(agencies)]  # Zipf, exponent 1
    return f"agency-{rng.choices(range(agencies), weights)[0]:03d}".encode()


def build_roster(count: int, rng: random.Random, agencies: int = 300) -> list[Member]:
    helpers = []
    for index in range(1, count + 1):
        u = rng.random()
        role = Role.PEER if u < 0.80 else Role.CHAPLAIN if u < 0.94 else Role.CLINICIAN
        lapsed = rng.random() < 0.03
        hours = None
        if rng.random() < 0.60:
            text = _on_call_text(rng)
            if rng.random() < 0.15:
                text += f", sat {rng.choice((8, 12, 20))}:00-{rng.choice((2, 14, 23))}:00"
            hours = parse_hours(text)
        assigned = rng.random() < 0.7
        helpers.append(
            Member(
                id=MemberId(index),
                role=role,
                address=Address(Platform.TELEGRAM, str(index)),
                agency_hash=_agency(rng, agencies),
                display_name=f"helper {index}",
                available=not lapsed and rng.random() < 0.10,
                certified_until=(
                    WEEK_START
                    + timedelta(days=rng.randint(-200, -1) if lapsed else rng.randint(30, 1000))
                ).date(),
                active=True,
                joined_at=WEEK_START - timedelta(days=rng.randint(30, 900)),
                last_assigned_at=(
                    WEEK_START - timedelta(minutes=rng.randint(1, 90 * 24 * 60))
                    if assigned
                    else None
                ),
                timezone=rng.choice(ZONES) if hours is not None else None,
                on_call=hours,
                away_until=(
                    WEEK_START + timedelta(hours=rng.randint(1, 7 * 24))
                    if hours is not None and rng.random() < 0.05
                    else None
                ),
                cooldown_until=(
                    WEEK_START + timedelta(hours=rng.randint(1, 7 * 24))
                    if rng.random() < 0.02
                    else None
                ),
                topics=frozenset(rng.sample(TOPICS, rng.randint(1, 3))),
                last_offered_at=(
                    WEEK_START - timedelta(minutes=rng.randint(1, 14 * 24 * 60))
                    if rng.random() < 0.8
                    else None
                ),
                identity_hold=rng.random() < 0.003,
                max_threads=1 if rng.random() < 0.05 else None,
                serves=frozenset(asker for asker, share in SERVES if rng.random() < share),
            )
        )
    return helpers


def build_loads(helpers: Sequence[Member], rng: random.Random) -> dict[MemberId, int]:
    loads = {}
    for helper in helpers:
        u = rng.random()
        if u < 0.05:
            loads[helper.id] = 2
        elif u < 0.20:
            loads[helper.id] = 1
    return loads


@dataclass(frozen=True, slots=True)
class Decision:
    query: BatchQuery
    now: datetime
    urgent: bool = False

    def as_the_app(self, urgent_offers: int) -> tuple[BatchQuery, Policy]:
        """The query and policy `matching.advance` searches with: a batch of three, or an
        urgent request's `urgent_offers` at once (0: every eligible helper)."""
        if not self.urgent:
            return self.query, POLICY
        if urgent_offers == 0:
            return replace(self.query, everyone=True), POLICY
        return self.query, replace(POLICY, batch_size=urgent_offers)


def build_decisions(
    helpers: Sequence[Member], count: int, rng: random.Random, agencies: int = 300
) -> list[Decision]:
    by_agency: dict[bytes | None, list[MemberId]] = {}
    for helper in helpers:
        by_agency.setdefault(helper.agency_hash, []).append(helper.id)
    ids = [h.id for h in helpers]
    decisions = []
    for number in range(count):
        now = WEEK_START + timedelta(seconds=rng.randrange(7 * 24 * 3600))
        agency = _agency(rng, agencies)
        urgent = rng.random() < 0.10
        u = rng.random()
        wanted = (
            Wanted.EITHER
            if urgent or u < 0.30
            else Wanted.CHAPLAIN
            if u < 0.45
            else Wanted.CLINICIAN
            if u < 0.50
            else Wanted.PEER
        )
        colleagues = by_agency.get(agency, [])
        asked = frozenset(rng.sample(ids, rng.choice((0, 0, 1, 3, 3, 6, 9))))
        request = RoutingRequest(
            officer_id=MemberId(1_000_000 + number),
            officer_agency_hash=agency,
            wanted=wanted,
            outside_agency=rng.random() < 0.40,
            category=Category.NOT_SAFE if urgent else rng.choice(TOPICS),
            already_offered=asked,
            involved=frozenset(
                rng.sample(colleagues, min(len(colleagues), 5)) if rng.random() < 0.05 else ()
            ),
            blocked=frozenset(rng.sample(ids, rng.randint(1, 3)) if rng.random() < 0.2 else ()),
            conflicts=frozenset(
                rng.sample(colleagues, min(len(colleagues), rng.randint(1, 6)))
                if rng.random() < 0.5
                else ()
            ),
            preferred=rng.choice(ids) if rng.random() < 0.05 else None,
            asker_role=rng.choices(ASKERS, (0.92, 0.05, 0.03))[0],
            # On call for an incident at the officer's agency (accepted its page).
            first=frozenset(rng.sample(ids, rng.randint(2, 5)) if rng.random() < 0.03 else ()),
        )
        query = BatchQuery(
            request,
            asked_again=frozenset(h for h in asked if rng.random() < 0.4),
            live=bool(asked) and rng.random() < 0.5,
            widenable=wanted in (Wanted.PEER, Wanted.CHAPLAIN) and rng.random() < 0.8,
            preferred_alone=not urgent,
        )
        decisions.append(Decision(query, now, urgent))
    return decisions


def naive_find(
    query: BatchQuery,
    helpers: Sequence[Member],
    *,
    live_threads: Mapping[MemberId, int],
    now: datetime,
    policy: Policy,
    default_zone: str,
) -> FoundBatch:
    """The same rounds as find_batch, each a filter of every helper and a sort."""
    searches = [(query.request.wanted, False)]
    if query.widenable and not query.live:
        searches.append((Wanted.EITHER, True))
    for wanted, widened in searches:
        for second_round in (False,) if query.live else (False, True):
            excluded = query.request.already_offered
            if second_round:
                excluded -= query.asked_again
            request = replace(query.request, wanted=wanted, already_offered=excluded)
            batch = next_batch(
                request,
                helpers,
                live_threads=live_threads,
                now=now,
                policy=policy,
                everyone=query.everyone,
                default_zone=default_zone,
                preferred_alone=query.preferred_alone,
            )
            if batch:
                return FoundBatch(batch, widened)
    return FoundBatch([])


@dataclass(frozen=True, slots=True)
class Timings:
    """CPU time (the process's, SQLite's thread included; time spent waiting for a core on a
    shared machine does not count) and wall-clock time per call, in milliseconds."""

    label: str
    cpu_ms: list[float]
    wall_ms: list[float]

    def row(self) -> str:
        def p(values: list[float], q: float) -> float:
            return percentile(values, q) or 0.0

        return (
            f"| {self.label:46} | {len(self.cpu_ms):>5} | {p(self.cpu_ms, 50):>8.3f} | "
            f"{p(self.cpu_ms, 99):>8.3f} | {p(self.wall_ms, 50):>8.3f} | "
            f"{p(self.wall_ms, 99):>8.3f} |"
        )

    def cpu(self, q: float) -> float:
        return percentile(self.cpu_ms, q) or 0.0


HEADER = (
    f"| {'':46} | {'n':>5} | {'CPU p50':>8} | {'CPU p99':>8} | {'wall p50':>8} | "
    f"{'wall p99':>8} |\n|{'-' * 48}|{'-' * 6}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|"
)


class Clock:
    """Collects CPU and wall time of timed calls."""

    def __init__(self) -> None:
        self.cpu_ms: list[float] = []
        self.wall_ms: list[float] = []

    def time(self, call: Callable[[], T]) -> T:
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        result = call()
        self.cpu_ms.append((time.process_time_ns() - cpu) / 1e6)
        self.wall_ms.append((time.perf_counter_ns() - wall) / 1e6)
        return result

    def timings(self, label: str) -> Timings:
        return Timings(label, self.cpu_ms, self.wall_ms)


def run_pure(
    helpers: list[Member],
    decisions: list[Decision],
    loads: dict[MemberId, int],
    naive: int,
    urgent_offers: int,
) -> tuple[list[Timings], int, dict[str, float]]:
    """The timings; how many decisions found someone; helpers found per urgent decision, as
    the app decides and uncapped."""
    build = Clock()
    for _ in range(5):
        roster = build.time(lambda: Roster.of(helpers, ZONE))

    def decide(query: BatchQuery, policy: Policy, now: datetime) -> FoundBatch:
        return find_batch(query, roster, live_threads=loads, now=now, policy=policy)

    def check(number: int, query: BatchQuery, policy: Policy, found: FoundBatch) -> None:
        """The naive path's batch for the same query, timed; the run fails if it differs."""
        expected = slow.time(
            functools.partial(
                naive_find,
                query,
                helpers,
                live_threads=loads,
                now=decisions[number].now,
                policy=policy,
                default_zone=ZONE,
            )
        )
        if [h.id for h in expected.helpers] != [h.id for h in found.helpers]:
            raise AssertionError(f"decision {number}: the index chose another batch")
        if expected.widened != found.widened:
            raise AssertionError(f"decision {number}: widened differs")

    batch, urgent, uncapped, slow = Clock(), Clock(), Clock(), Clock()
    found_any = 0
    found_urgent: dict[str, list[int]] = {"as the app": [], "uncapped": []}
    for number, decision in enumerate(decisions):
        query, policy = decision.as_the_app(urgent_offers)
        timed = urgent if decision.urgent else batch
        found = timed.time(functools.partial(decide, query, policy, decision.now))
        found_any += bool(found.helpers)
        if decision.urgent:
            found_urgent["as the app"].append(len(found.helpers))
        if number < naive:
            check(number, query, policy, found)
    # The same urgent decisions uncapped, in a pass of their own (not right after the capped
    # one, whose work would warm the caches for it).
    for number, decision in enumerate(decisions):
        if not decision.urgent:
            continue
        query, policy = decision.as_the_app(0)
        found = uncapped.time(functools.partial(decide, query, policy, decision.now))
        found_urgent["uncapped"].append(len(found.helpers))
        if number < naive and urgent_offers:
            check(number, query, policy, found)
    everything, before = Clock(), Clock()
    everything.cpu_ms = batch.cpu_ms + urgent.cpu_ms
    everything.wall_ms = batch.wall_ms + urgent.wall_ms
    before.cpu_ms = batch.cpu_ms + uncapped.cpu_ms
    before.wall_ms = batch.wall_ms + uncapped.wall_ms
    cap = f"its first {urgent_offers}" if urgent_offers else "every eligible helper"
    means = {name: statistics.mean(found or [0]) for name, found in found_urgent.items()}
    return (
        [
            everything.timings("find_batch over a Roster, all (as the app)"),
            batch.timings(f"  a batch of {POLICY.batch_size} (non-urgent)"),
            urgent.timings(f"  urgent: {cap} (urgent_offers = {urgent_offers})"),
            uncapped.timings("urgent uncapped (urgent_offers = 0): everyone"),
            before.timings("all, with urgent uncapped (as before the cap)"),
            slow.timings("naive: filter every helper + sort, same rounds"),
            build.timings("Roster.of (build the index once)"),
        ],
        found_any,
        means,
    )


# -- the app's path through a real SQLite repository -----------------------------------------


async def _seed(repo: Repository, helpers: list[Member]) -> dict[MemberId, MemberId]:
    """Members in the database as the app makes them (invites, redeem, hours, topics...);
    returns the bench id -> database id."""
    ids: dict[MemberId, MemberId] = {}
    by_role: dict[Role, list[Member]] = {}
    for helper in helpers:
        by_role.setdefault(helper.role, []).append(helper)
    for role, members in by_role.items():
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            codes = await create_invites(
                repo,
                role=role,
                agency=None,
                count=len(chunk),
                valid_for=timedelta(days=1),
                certified_until=WEEK_START.date() + timedelta(days=365),
                now=WEEK_START,
            )
            for helper, code in zip(chunk, codes, strict=True):
                normalized = normalize_invite_code(code)
                assert normalized is not None
                member = await repo.redeem_invite(normalized, helper.address, WEEK_START)
                assert isinstance(member, Member)
                ids[helper.id] = member.id
                if helper.on_call is not None:
                    await repo.set_hours(member.id, helper.on_call, helper.timezone)
                if helper.available:
                    await repo.set_available(member.id, True)
                await repo.set_topics(member.id, helper.topics, helper.serves)
    return ids


async def _commit_between(repo: Repository, commits: str, helper: MemberId, now: datetime) -> None:
    """What the step before committed for one helper (nothing, an offer sent, an accept)."""
    if commits == "offer":
        await repo.mark_offered(helper, now)
    elif commits == "assign":
        await repo.mark_assigned(helper, now)


async def run_db(
    count: int,
    decisions: list[Decision],
    rng: random.Random,
    repeats: int,
    commits: str,
    *,
    urgent_offers: int,
) -> tuple[list[Timings], float, str]:
    helpers = build_roster(count, rng)
    with tempfile.TemporaryDirectory() as folder:
        vault = Vault(master_key_from_text(key_text()))
        repo = await Repository.open(Path(folder) / "scale.db", vault)
        try:
            began = time.perf_counter()
            ids = list((await _seed(repo, helpers)).values())
            seeded = time.perf_counter() - began
            officer = await _an_officer(repo)
            load, view, decide, total = Clock(), Clock(), Clock(), Clock()
            build, update = Clock(), Clock()
            kept: tuple[tuple[Member, ...], Roster] | None = None
            for number, decision in enumerate(decisions[:repeats]):
                if number:
                    await _commit_between(repo, commits, rng.choice(ids), decision.now)
                cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
                loaded = await _timed_async(load, repo.active_members(HELPER_ROLES))
                private = await _timed_async(view, repo.officer_private(officer))
                conflicts = await _timed_async(view, repo.chain_of_command(officer))
                request = replace(
                    decision.query.request,
                    blocked=private.blocked,
                    conflicts=conflicts,
                    already_offered=frozenset(),
                    preferred=None,
                )
                if kept is None:
                    kept = (loaded, build.time(functools.partial(Roster.of, loaded, ZONE)))
                elif kept[0] is not loaded:
                    since = functools.partial(kept[1].updated, loaded, kept[0])
                    kept = (loaded, update.time(since))
                roster = kept[1]
                query, policy = decision.as_the_app(urgent_offers)
                query = replace(query, request=request, asked_again=frozenset())
                decide.time(
                    functools.partial(
                        find_batch, query, roster, live_threads={}, now=decision.now, policy=policy
                    )
                )
                total.cpu_ms.append((time.process_time_ns() - cpu0) / 1e6)
                total.wall_ms.append((time.perf_counter_ns() - wall0) / 1e6)
            hits = "{} of {}".format(*repo.active_lists_kept())
            assert repo._members is not None
            snapshot = repo._members.snapshot
            hits += (
                f"; member rows read (and verified) for the helpers: {snapshot.rows_read},"
                f" of which {snapshot.full_reads} read(s) of everyone"
            )
        finally:
            await repo.close()
    view.cpu_ms = [a + b for a, b in zip(view.cpu_ms[::2], view.cpu_ms[1::2], strict=True)]
    view.wall_ms = [a + b for a, b in zip(view.wall_ms[::2], view.wall_ms[1::2], strict=True)]
    return (
        [
            total.timings(f"app path, {count} members in SQLite: all"),
            load.timings("  load the helpers (Repository.active_members)"),
            view.timings("  officer's blocks + chain of command"),
            build.timings("  Roster.of (the first step)"),
            update.timings("  Roster.updated (when the helpers changed)"),
            decide.timings("  find_batch"),
        ],
        seeded,
        hits,
    )


async def _timed_async(clock: Clock, call: Awaitable[T]) -> T:
    """CPU and wall time of one awaited call (the event loop runs nothing else here)."""
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    result = await call
    clock.cpu_ms.append((time.process_time_ns() - cpu) / 1e6)
    clock.wall_ms.append((time.perf_counter_ns() - wall) / 1e6)
    return result


async def _an_officer(repo: Repository) -> MemberId:
    codes = await create_invites(
        repo,
        role=Role.OFFICER,
        agency=None,
        count=1,
        valid_for=timedelta(days=1),
        certified_until=None,
        now=WEEK_START,
    )
    normalized = normalize_invite_code(codes[0])
    assert normalized is not None
    member = await repo.redeem_invite(
        normalized, Address(Platform.TELEGRAM, "officer"), WEEK_START
    )
    assert isinstance(member, Member)
    return member.id


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Args:
    helpers: int
    decisions: int
    naive_decisions: int
    db_helpers: int
    db_decisions: int
    db_commits: str
    seed: int
    urgent_offers: int


def parse_args(argv: Sequence[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(prog="python -m bench.routing_scale", description=__doc__)
    parser.add_argument("--helpers", type=int, default=10_000, metavar="N")
    parser.add_argument("--decisions", type=int, default=5_000, metavar="N")
    parser.add_argument("--naive-decisions", type=int, default=300, metavar="N")
    parser.add_argument("--db-helpers", type=int, default=10_000, metavar="N")
    parser.add_argument("--db-decisions", type=int, default=50, metavar="N")
    parser.add_argument("--db-commits", choices=("none", "offer", "assign"), default="offer")
    parser.add_argument("--seed", type=int, default=7, metavar="N")
    parser.add_argument(
        "--urgent-offers",
        type=int,
        default=RoutingConfig().urgent_offers,
        metavar="N",
        help="[routing] urgent_offers to time as the app (default: its default; 0: everyone)",
    )
    return Args(**vars(parser.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    helpers = build_roster(args.helpers, rng)
    loads = build_loads(helpers, rng)
    decisions = build_decisions(helpers, args.decisions, rng)
    pure, found_any, per_urgent = run_pure(
        helpers, decisions, loads, args.naive_decisions, args.urgent_offers
    )
    load = os.getloadavg()
    print(
        f"Peerline routing at scale: {args.helpers} helpers, {args.decisions} decisions "
        f"(seed {args.seed}), {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.1f}"
    )
    roster = Roster.of(helpers, ZONE)
    on_hand = statistics.mean(len(roster.available(d.now)) for d in decisions[:200])
    print(
        f"helpers available at a decision's moment: {on_hand:.0f} on average; "
        f"{found_any} of {len(decisions)} decisions found someone; helpers offered an urgent "
        f"request at once: {per_urgent['as the app']:.1f} on average as the app decides "
        f"(urgent_offers = {args.urgent_offers}), {per_urgent['uncapped']:.1f} uncapped\n"
    )
    print("milliseconds per call:\n" + HEADER)
    for timing in pure:
        print(timing.row())
    fast, slow = pure[0], pure[5]
    if slow.cpu_ms:
        print(
            f"\nnaive / indexed (CPU): {slow.cpu(50) / fast.cpu(50):.0f}x at p50, "
            f"{slow.cpu(99) / fast.cpu(99):.0f}x at p99 "
            f"(the first {min(args.naive_decisions, len(decisions))} decisions: the same "
            "batches; urgent ones uncapped as well)"
        )
    met = "met" if fast.cpu(99) < GOAL_MS else "MISSED"
    print(f"goal p99 < {GOAL_MS:g} ms for the decision as the app makes it (CPU): {met}")
    if args.db_helpers:
        db, seeded, hits = asyncio.run(
            run_db(
                args.db_helpers,
                decisions,
                random.Random(args.seed),
                args.db_decisions,
                args.db_commits,
                urgent_offers=args.urgent_offers,
            )
        )
        print(f"\nseeded {args.db_helpers} members through the real repository in {seeded:.1f} s")
        print(f"commits between clock steps: {args.db_commits}")
        print(f"clock steps that found the helpers kept in memory: {hits}")
        print(HEADER)
        for timing in db:
            print(timing.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
