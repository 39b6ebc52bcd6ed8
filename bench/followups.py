"""Check-in follow-ups at scale: 100,000 pending, a restart, and the dispatch of what is due.

Run with ``python -m bench.followups`` (``make bench``). A temporary database is filled with
`--pending` sealed follow-ups for `--members` officers, `--due` of them overdue by up to 12 hours
(as after a night's downtime) and the rest spread over the next 30 days. Then:

- recovery: open the database and find the next due time (what start-up needs to arm the
  scheduler), timed and with its memory peak;
- start-up: the real App starts (transport: an in-memory messenger that answers at once) and
  returns with the schedule armed; the overdue nudges go out in the background, each once;
  timed until the last is sent, in wall-clock and CPU seconds (on a
  shared machine the second is the steadier figure), with the dispatch rate and the memory
  peak; a second dispatch must send nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench._common import key_text
from bench.relay_overhead import InstantMessenger
from bot.app import App
from bot.config import Config, StorageConfig, TelegramConfig
from bot.events import Address, Platform
from bot.followups import FollowUp, Kind
from bot.invites import create_invites
from bot.model import Category, MemberId, Role
from bot.storage.repository import Repository, new_followup_id
from crypto import MasterKey, Vault, master_key_from_text, normalize_invite_code

# Noon in Chicago (the default zone), outside the default quiet hours.
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Figures:
    pending: int
    due: int
    members: int
    seed_seconds: float
    recovery_seconds: float
    recovery_peak_mb: float
    app_start_seconds: float
    start_seconds: float
    start_cpu_seconds: float
    sent: int
    sent_again: int
    dispatch_rate: float
    start_peak_mb: float
    max_rss_mb: float


async def _members(repo: Repository, count: int) -> list[MemberId]:
    codes: list[str] = []
    while len(codes) < count:
        codes += await create_invites(
            repo,
            role=Role.OFFICER,
            agency=None,
            count=min(500, count - len(codes)),  # the most one call makes
            valid_for=timedelta(days=1),
            certified_until=None,
            now=NOW,
        )
    found = []
    for number, code in enumerate(codes):
        normalized = normalize_invite_code(code)
        assert normalized is not None
        member = await repo.redeem_invite(normalized, Address(Platform.TELEGRAM, str(number)), NOW)
        found.append(member.id)  # type: ignore[union-attr]
    return found


async def seed(path: Path, key: MasterKey, pending: int, due: int, members: int) -> None:
    repo = await Repository.open(path, Vault(key))
    try:
        ids = await _members(repo, members)
        rng = random.Random(7)
        rows = []
        for n in range(pending):
            if n < due:
                due_at = NOW - timedelta(minutes=rng.randrange(1, 12 * 60))
            else:
                due_at = NOW + timedelta(minutes=rng.randrange(60, 30 * 24 * 60))
            followup = FollowUp(
                id=new_followup_id(),
                member_id=ids[n % len(ids)],
                kind=Kind.PLAN,
                plan=Category.CRITICAL_INCIDENT.value,
                anchor=date(2026, 11, 23),
                offsets=(1, 3, 7, 30),
                step=0,
                due_at=due_at,
                category=Category.CRITICAL_INCIDENT,
            )
            rows.append(repo._row(followup))
        async with repo._lock:
            await repo._conn.executemany(
                "INSERT INTO followups (id, member_hash, sealed, due_at) VALUES (?, ?, ?, ?)",
                rows,
            )
    finally:
        await repo.close()


async def run(pending: int, due: int, members: int) -> Figures:
    key = master_key_from_text(key_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        await seed(path, key, pending, due, members)
        seeded = time.perf_counter() - started

        tracemalloc.start()
        started = time.perf_counter()
        repo = await Repository.open(path, Vault(key))
        next_due = await repo.next_due()
        recovery = time.perf_counter() - started
        recovery_peak = tracemalloc.get_traced_memory()[1]
        assert next_due is not None and next_due <= NOW
        assert await repo.pending_followups() == pending
        await repo.close()
        tracemalloc.reset_peak()

        config = Config(telegram=TelegramConfig(enabled=False), storage=StorageConfig(path=path))
        messenger = InstantMessenger()
        app = App(config, transports=[messenger], key=key, clock=lambda: NOW, tick_every=3600)
        started, cpu = time.perf_counter(), time.process_time()
        await app.start()  # the overdue nudges are sent in the background from here
        up = time.perf_counter() - started
        await app.dispatch_followups()  # waits for that run (or does it), then finds nothing
        start, start_cpu = time.perf_counter() - started, time.process_time() - cpu
        start_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sent = messenger.sent
        sent_again = await app.dispatch_followups()
        await app.stop()
    return Figures(
        pending=pending,
        due=due,
        members=members,
        seed_seconds=seeded,
        recovery_seconds=recovery,
        recovery_peak_mb=recovery_peak / 1e6,
        app_start_seconds=up,
        start_seconds=start,
        start_cpu_seconds=start_cpu,
        sent=sent,
        sent_again=sent_again,
        dispatch_rate=sent / start if start else 0.0,
        start_peak_mb=start_peak / 1e6,
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000, help="how many are overdue at start")
    parser.add_argument("--members", type=int, default=1_000)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.pending, args.due, args.members))
    print(f"check-in follow-ups: {figures.pending:,} pending for {figures.members:,} members")
    print(f"  seeding the database         {figures.seed_seconds:8.2f} s")
    print(
        f"  start-up recovery            {figures.recovery_seconds:8.3f} s"
        f"  (open, find the next due; peak {figures.recovery_peak_mb:.1f} MB traced)"
    )
    print(
        f"  App.start() returns after    {figures.app_start_seconds:8.3f} s"
        "  (the schedule armed; overdue nudges go out in the background)"
    )
    print(
        f"  all {figures.due:,} overdue sent after {figures.start_seconds:7.2f} s"
        f"  ({figures.sent:,} sent once, {figures.sent_again} again;"
        f" peak {figures.start_peak_mb:.1f} MB traced)"
    )
    print(
        f"  dispatch rate                {figures.dispatch_rate:8.0f} nudges/s"
        f"  ({figures.sent / figures.start_cpu_seconds:.0f} per CPU second;"
        f" {figures.start_cpu_seconds:.1f} s of CPU)"
    )
    print(f"  process max RSS              {figures.max_rss_mb:8.0f} MB")
    if figures.sent != figures.due or figures.sent_again:
        raise SystemExit("every overdue nudge must be sent exactly once")
    return figures


if __name__ == "__main__":
    main()
