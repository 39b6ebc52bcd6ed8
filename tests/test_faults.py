"""The fault suite: many live conversations on both platforms (Telegram with Telegram, Signal
with Signal, and across) while both stand-ins inject, on a seeded schedule, 429 storms, 5xx
outages, late answers (delivered, answered after the client's timeout), hung connections and
people blocking the bot. Afterwards `tests/faultcheck.py` checks the README's promise: every
message reached the other person exactly once (more only where a late answer allows it) or its
sender was told, and each direction of each conversation kept its order.

A fast run is part of `make test`; `make soak` runs thousands of messages
(`PEERLINE_SOAK_SEED` picks another schedule).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.catalog import EN, Catalog
from bot.model import Role
from bot.sandbox.faults import Fault, FaultPlan, FaultRates
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalMessage, SignalUser
from bot.sandbox.telegram_api import BotMessage, SimUser
from tests.conftest import FakeClock
from tests.faultcheck import Report, Seen, Sent, check, token
from tests.test_e2e_signal import signal_intake
from tests.test_e2e_walking_skeleton import ask_for_peer

TELEGRAM, SIGNAL = "telegram", "signal"


@dataclass
class Person:
    number: int
    user: SimUser | SignalUser

    @property
    def on_telegram(self) -> bool:
        return isinstance(self.user, SimUser)

    def chat(self) -> list[Seen]:
        if isinstance(self.user, SimUser):
            return [Seen(m.text, m.late) for m in self.user.inbox]
        return [Seen(m.text, m.late) for m in self.user.inbox if not m.deleted]

    async def send(self, text: str) -> None:
        await self.user.send(text)

    async def wait_for(self, text: str) -> BotMessage | SignalMessage:
        return await self.user.wait_for(text, timeout=30)


async def join(box: Sandbox, platform: str, role: Role, number: int) -> Person:
    name = f"Person {number}"
    if platform == TELEGRAM:
        return Person(number, await box.join(name, role))
    return Person(number, await box.join_signal(name, role))


async def connect(officer: Person, helper: Person) -> None:
    if isinstance(officer.user, SimUser):
        await ask_for_peer(officer.user, outside=False)
    else:
        await signal_intake(officer.user)
    offer = await helper.wait_for("New request")
    if isinstance(helper.user, SimUser):
        assert isinstance(offer, BotMessage)
        await helper.user.press(offer, EN.offer_accept)
    else:
        assert isinstance(offer, SignalMessage)
        await helper.user.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    await helper.wait_for("You're connected with")


def notices(text: Catalog) -> tuple[str, ...]:
    """What the bot says to someone whose message did not reach the other person (the longest
    fixed part of each line)."""
    lines = (
        text.not_delivered,
        text.helper_unreachable,
        text.officer_unreachable,
        text.still_finding,
        text.not_in_thread_helper,
        text.not_in_thread_officer,
    )
    return tuple(max(re.split(r"\{[^}]*\}", line), key=len) for line in lines)


@dataclass(frozen=True)
class Storm:
    seed: int
    pairs: tuple[tuple[str, str], ...]  # (officer's platform, helper's platform) per thread
    messages: int  # sent by each person
    blocks: int  # Telegram people who block the bot half way
    rates: FaultRates
    timeout: float  # each client call's timeout (Bot API and gateway)
    bound: float  # seconds allowed for everything to be delivered or told


async def run_storm(directory: Path, clock: FakeClock, storm: Storm) -> tuple[Report, FaultPlan]:
    plan = FaultPlan(storm.seed, storm.rates, timeout=storm.timeout)
    box = Sandbox(directory, clock=clock, signal=True, faults=plan, max_threads_per_helper=1)
    await box.start()
    try:
        partner: dict[int, Person] = {}
        people: list[Person] = []
        for officer_on, helper_on in storm.pairs:
            officer = await join(box, officer_on, Role.OFFICER, len(people))
            helper = await join(box, helper_on, Role.PEER, len(people) + 1)
            await connect(officer, helper)
            partner[officer.number], partner[helper.number] = helper, officer
            people += [officer, helper]
        draw = random.Random(storm.seed)  # noqa: S311 - a seeded test schedule
        on_telegram = [p for p in people if p.on_telegram]
        blockers: dict[int, int] = {}
        for person in draw.sample(on_telegram, min(storm.blocks, len(on_telegram))):
            if partner[person.number].number not in blockers:
                blockers[person.number] = draw.randint(storm.messages // 3, storm.messages // 2)
        sent: list[Sent] = []
        blocked: set[int] = set()

        async def talk(person: Person, pace: random.Random) -> None:
            to = partner[person.number].number
            for seq in range(storm.messages):
                if blockers.get(person.number) == seq:
                    assert isinstance(person.user, SimUser)
                    box.api.block(person.user.user_id)  # and says nothing more
                    blocked.add(person.number)
                    return
                sent.append(Sent(person.number, to, seq))
                await person.send(f"{token(person.number, seq)} words for the other side")
                await asyncio.sleep(pace.uniform(0.0, 0.04))

        told = notices(box.text())

        def report() -> Report:
            chats = {p.number: p.chat() for p in people}
            return check(sent, chats, lambda t: any(n in t for n in told), blocked)

        plan.active = True
        paces = {p.number: random.Random(f"{storm.seed}/{p.number}") for p in people}  # noqa: S311
        await asyncio.gather(*(talk(p, paces[p.number]) for p in people))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + storm.bound
        # A condition over both stand-ins and every chat: polled, with a generous bound.
        while (report().violations or box.api.pending_updates) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        # A late answer delivers at once; wait a little for any last copy all the same.
        await asyncio.sleep(plan.timeout)
        return report(), plan
    finally:
        await box.stop()


FAST = Storm(
    seed=20261129,
    pairs=(
        (TELEGRAM, TELEGRAM),
        (TELEGRAM, TELEGRAM),
        (SIGNAL, SIGNAL),
        (SIGNAL, SIGNAL),
        (TELEGRAM, SIGNAL),
        (SIGNAL, TELEGRAM),
    ),
    messages=20,
    blocks=1,
    rates=FaultRates(
        storm=0.03, outage=0.04, late=0.03, hung=0.03, retry_after=(1, 1), polls=0.01
    ),
    timeout=2.5,
    bound=120.0,
)


def assert_promise_held(report: Report, plan: FaultPlan) -> None:
    assert not report.violations, "\n".join([report.summary(), *report.violations[:20]])
    # The storm really hit both platforms, with every kind of fault.
    for platform in (TELEGRAM, SIGNAL):
        assert sum(n for (p, _), n in plan.injected.items() if p == platform) >= 10, platform
    for fault in (Fault.RATE_LIMITED, Fault.SERVER_ERROR, Fault.LATE, Fault.HUNG):
        assert plan.total(fault) > 0, f"no {fault.value} injected"
    assert report.told > 0, "no message was ever undeliverable: the storm was too mild"


async def test_under_a_seeded_storm_every_message_arrives_once_in_order_or_its_sender_is_told(
    tmp_path: Path, clock: FakeClock
) -> None:
    report, plan = await run_storm(tmp_path / "sandbox", clock, FAST)
    assert_promise_held(report, plan)
    assert report.messages >= 200


SOAK = Storm(
    seed=int(os.environ.get("PEERLINE_SOAK_SEED", "7")),
    pairs=tuple((a, b) for a in (TELEGRAM, SIGNAL) for b in (TELEGRAM, SIGNAL) for _ in range(5)),
    messages=100,
    blocks=3,
    rates=FaultRates(),
    timeout=2.5,
    bound=900.0,
)


@pytest.mark.soak
async def test_soak_thousands_of_messages_through_a_long_storm(
    tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    report, plan = await run_storm(tmp_path / "sandbox", clock, SOAK)
    faults = ", ".join(
        f"{platform} {fault.value}: {n}"
        for (platform, fault), n in sorted(
            plan.injected.items(), key=lambda item: (item[0][0], item[0][1].value)
        )
    )
    with capsys.disabled():  # the figures, for `make soak` (and the README)
        sys.stdout.write(
            f"\nsoak seed {SOAK.seed}: {report.summary()}; {plan.total()} faults injected "
            f"({faults}); {loop.time() - started:.0f} s\n"
        )
    assert_promise_held(report, plan)
    assert report.messages >= 3000


# -- the check itself can fail -----------------------------------------------------------------


def _told(text: str) -> bool:
    return text == EN.not_delivered


def _violations(chats: dict[int, list[Seen]], blocked: tuple[int, ...] = ()) -> list[str]:
    sent = [Sent(1, 2, 0), Sent(1, 2, 1), Sent(2, 1, 0)]
    return check(sent, chats, _told, blocked).violations


def test_the_check_passes_what_the_readme_allows() -> None:
    chats = {
        # [1.0] twice, once answered late: at-least-once on a timeout.
        2: [Seen("Dana:\n[1.0] hi", late=True), Seen("Dana:\n[1.0] hi"), Seen("[1.1] there")],
        # [2.0] never arrived, and 2 was told (a notice answered late does not count).
        1: [],
    }
    chats[2] += [Seen(EN.not_delivered, late=True), Seen(EN.not_delivered)]
    report = check([Sent(1, 2, 0), Sent(1, 2, 1), Sent(2, 1, 0)], chats, _told)
    assert report.violations == []
    assert (report.delivered, report.told, report.duplicates) == (2, 1, 1)


@pytest.mark.parametrize(
    ("chats", "expected"),
    [
        (  # the same copy twice, both answered in time: not what the README allows
            {2: [Seen("[1.0]"), Seen("[1.0]"), Seen("[1.1]")], 1: [Seen("[2.0]")]},
            "[1.0] arrived 2 times answered in time",
        ),
        (  # a message lost with nobody told
            {2: [Seen("[1.1]")], 1: [Seen("[2.0]")]},
            "person 1: 1 not delivered in time, told 0 times (silently lost)",
        ),
        (  # told of a message that did arrive
            {2: [Seen("[1.0]"), Seen("[1.1]"), Seen(EN.not_delivered)], 1: [Seen("[2.0]")]},
            "person 2: 0 not delivered in time, told 1 times (told of delivered ones)",
        ),
        (  # out of order in one direction
            {2: [Seen("[1.1]"), Seen("[1.0]")], 1: [Seen("[2.0]")]},
            "person 2 got 1's copies out of order (epoch 0: ... [1, 0] ...)",
        ),
        (  # delivered to the wrong person
            {2: [Seen("[1.0]"), Seen("[1.1]"), Seen("[2.0]")], 1: [Seen("[2.0]")]},
            "[2.0] reached person 2",
        ),
    ],
    ids=["duplicate", "lost", "spurious-notice", "order", "misdelivered"],
)
def test_the_check_finds_each_breach(chats: dict[int, list[Seen]], expected: str) -> None:
    assert expected in _violations(chats)


def test_someone_who_blocked_the_bot_cannot_be_told() -> None:
    chats: dict[int, list[Seen]] = {1: [], 2: [Seen("[1.0]")]}  # 1's second never arrived
    violations = _violations(chats, blocked=(1,))
    assert violations == ["person 2: 1 not delivered in time, told 0 times (silently lost)"]
    report = check([Sent(1, 2, 0), Sent(1, 2, 1)], chats, _told, blocked=(1,))
    assert report.unreachable_senders == 1 and not report.violations


def test_a_chats_faults_follow_from_the_seed_whatever_other_chats_do() -> None:
    rates = FaultRates(storm=0.1, outage=0.1, late=0.1, hung=0.1)
    first, second = FaultPlan(5, rates, timeout=1.0), FaultPlan(5, rates, timeout=1.0)
    first.active = second.active = True
    alone = [first.decide(TELEGRAM, "42") for _ in range(200)]
    mixed = []
    for n in range(200):
        second.decide(SIGNAL, f"other {n % 3}")
        mixed.append(second.decide(TELEGRAM, "42"))
    assert alone == mixed
    assert {fault for fault, _ in alone} == set(Fault)
    assert FaultPlan(6, rates, timeout=1.0).rates == rates
    other_seed = FaultPlan(6, rates, timeout=1.0)
    other_seed.active = True
    assert [other_seed.decide(TELEGRAM, "42") for _ in range(200)] != alone
