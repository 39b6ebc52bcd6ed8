"""The crash suite: the real `peerline run` in a child process, against the Bot API and Signal
gateway stand-ins in this process, through a scripted program (joins, requests, accepts,
relays both ways and across platforms, ends, check-ins falling due) while it is killed with
SIGKILL at seeded points and started again on the same files. Afterwards:

- no message the platform handed over is silently lost: relayed, or relayed again after a kill
  where the README allows it (a Telegram update handled but not yet confirmed), or its sender
  told; on Signal, which has no acknowledgement, only what was in the bot's hands at a kill;
- no check-in is sent twice, and none is left behind (one may be lost only when a kill falls
  between its mark and its send, which leaves it marked);
- no request is stranded: every officer who asked is answered by a helper;
- live conversations carry on after every restart;
- the database passes `PRAGMA integrity_check`.

A few kills run in `make test`; `make soak` runs many more.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.settle import settle
from bot.sandbox.signal_api import LocalSignalApi, SignalMessage, SignalUser
from bot.sandbox.telegram_api import BotMessage, LocalBotApi, SimUser
from bot.storage.base import stamp
from tests.crashrun import ChildBot
from tests.faultcheck import Report, Seen, Sent, check_crash, token
from tests.test_e2e_signal import INTAKE_QUESTION
from tests.test_faults import notices

WAIT = 60.0  # seconds for anything that may straddle a restart on a loaded machine


@dataclass
class Actor:
    number: int
    user: SimUser | SignalUser
    marks: list[int] = field(default_factory=list)  # inbox length at each kill

    @property
    def on_telegram(self) -> bool:
        return isinstance(self.user, SimUser)

    def inbox(self) -> list[BotMessage] | list[SignalMessage]:
        return self.user.inbox

    def chat(self) -> list[Seen]:
        texts = [m.text for m in self.user.inbox]
        return [
            Seen(text, epoch=sum(1 for m in self.marks if m <= i)) for i, text in enumerate(texts)
        ]

    def count(self, text: str | tuple[str, ...]) -> int:
        return sum(1 for m in self.user.inbox if _shows(m.text, text))


class Program:
    """The scripted program and its kills, all from one seed."""

    def __init__(self, bot: ChildBot, api: LocalBotApi, gateway: LocalSignalApi, seed: int):
        self.bot = bot
        self.api = api
        self.gateway = gateway
        self.draw = random.Random(seed)  # noqa: S311 - a seeded test schedule
        self.people: list[Actor] = []
        self.sent: list[Sent] = []
        self.sent_in: dict[tuple[int, int], int] = {}
        self._kills: list[asyncio.Task[None]] = []
        self._killing = asyncio.Lock()
        self._seq: dict[int, int] = {}
        self.spare_code = ""

    # -- kills -------------------------------------------------------------------------------

    def _mark(self) -> None:
        for actor in self.people:
            actor.marks.append(len(actor.user.inbox))

    async def kill(self, where: str, between: Callable[[], Awaitable[None]] | None = None) -> None:
        """SIGKILL, then start again. One at a time: a kill that falls while the bot is still
        starting waits until it is up (and then kills it at once)."""
        async with self._killing:
            await self.bot.kill(where)
            # What the dead bot sent may still be in the stand-ins' sockets: let them answer it
            # before counting it as received in the run that ended.
            await settle(self.api, self.gateway)
            self._mark()
            if between is not None:
                await between()
            await self.bot.start()

    def kill_soon(self, where: str, within: float) -> None:
        """SIGKILL after a seeded delay (up to `within` seconds) while the program goes on,
        then start again."""
        delay = self.draw.uniform(0.0, within)

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.kill(f"{where} (+{delay:.2f}s)")

        self._kills.append(asyncio.create_task(later()))

    async def wait_up(self) -> None:
        await self.bot.up.wait()

    async def settle_kills(self) -> None:
        await asyncio.gather(*self._kills)
        self._kills.clear()
        await self.bot.up.wait()

    # -- what people do ----------------------------------------------------------------------

    async def say(self, actor: Actor, text: str) -> None:
        """A person types `text`. On Signal only while the bot is connected: the gateway holds
        nothing for a receiver that is away."""
        if not actor.on_telegram:
            await self.bot.up.wait()
        await actor.user.send(text)

    async def until(
        self,
        actor: Actor,
        act: Callable[[], Awaitable[None]],
        expect: str | tuple[str, ...],
        seen: int = 0,
    ) -> BotMessage | SignalMessage:
        """Do `act` and wait for `expect` to be the (`seen`+1)-th such line in `actor`'s chat.
        Done again only if a kill fell in between and the person is on Signal (a message in
        the bot's hands at a kill is lost there, as the README says); on Telegram the update
        comes back by itself."""
        for _ in range(5):
            epoch = self.bot.epoch
            await act()
            if await self._arrives(actor, expect, seen, epoch):
                return next(m for m in actor.user.inbox if _shows(m.text, expect))
        raise AssertionError(f"{expect!r} never came after five tries; kills: {self.bot.kills}")

    async def _arrives(
        self, actor: Actor, expect: str | tuple[str, ...], seen: int, epoch: int
    ) -> bool:
        """True once it is there; False if it should be asked again (on Signal, after a kill,
        still missing 10 s after the restart)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while loop.time() < deadline:
            try:
                await actor.user.wait_until(lambda: actor.count(expect) > seen, timeout=2)
            except AssertionError:
                bot = self.bot
                since = loop.time() - bot.started_at
                if not actor.on_telegram and bot.epoch != epoch and bot.up.is_set() and since > 10:
                    return False
                continue
            return True
        inbox = [m.text[:60] for m in actor.user.inbox[-5:]]
        raise AssertionError(f"{expect!r} never came: kills {self.bot.kills}; last {inbox}")

    async def press(self, actor: Actor, message: BotMessage | SignalMessage, label: str) -> None:
        if isinstance(actor.user, SimUser):
            assert isinstance(message, BotMessage)
            await actor.user.press(message, label)
        else:
            assert isinstance(message, SignalMessage)
            await self.bot.up.wait()
            await actor.user.press(message, label)

    async def relay(self, actor: Actor, to: Actor) -> None:
        seq = self._seq.get(actor.number, 0)
        self._seq[actor.number] = seq + 1
        if not actor.on_telegram:
            await self.bot.up.wait()
        self.sent_in[(actor.number, seq)] = self.bot.epoch
        self.sent.append(Sent(actor.number, to.number, seq))
        await self.say(actor, f"{token(actor.number, seq)} words")


async def join(program: Program, code: str, number: int, telegram: bool, helper: bool) -> Actor:
    user: SimUser | SignalUser
    if telegram:
        user = program.api.user(9_100_000 + number, f"Person {number}")
    else:
        user = program.gateway.user(f"Person {number}")
    actor = Actor(number, user, marks=[0] * program.bot.epoch)
    program.people.append(actor)
    await program.until(
        actor,
        lambda: program.say(actor, f"/start {code}" if telegram else code),
        # A join handled but cut off by a kill before its welcome comes back as a second
        # /start: "already signed up" (on Telegram the update is sent again).
        ("Welcome", EN.already_member),
    )
    if helper:
        available = "/available" if telegram else "available"
        await program.until(actor, lambda: program.say(actor, available), "You're available")
    return actor


async def ask(program: Program, officer: Actor, then_kill: bool) -> None:
    """The intake, answered by buttons or numbers; optionally killed just after the last
    answer (the request is written and offered then)."""
    menu = await program.until(officer, lambda: program.say(officer, "/talk"), INTAKE_QUESTION)
    who = await program.until(
        officer, lambda: program.press(officer, menu, EN.category_critical_incident), EN.intake_who
    )
    where = await program.until(
        officer, lambda: program.press(officer, who, EN.who_peer), EN.intake_outside
    )
    note = await program.until(
        officer, lambda: program.press(officer, where, EN.outside_no), EN.intake_note
    )
    await program.press(officer, note, EN.note_skip)
    if then_kill:
        program.kill_soon("after a request was made", 0.3)


async def accept(program: Program, officer: Actor, helper: Actor, then_kill: bool) -> None:
    offer = await program.until(helper, program.wait_up, "New request")
    connected = officer.count("is here for you")
    kills = [then_kill]

    async def press() -> None:
        await program.press(helper, offer, EN.offer_accept)
        if kills.pop() if kills else False:
            program.kill_soon("after an accept", 0.3)

    await program.until(helper, press, "You're connected with")
    await program.until(officer, program.wait_up, "is here for you", connected)
    await program.settle_kills()


T, S = True, False  # a person on Telegram, on Signal


@dataclass(frozen=True)
class Run:
    seed: int
    pairs: tuple[tuple[bool, bool], ...]  # (officer on Telegram?, helper on Telegram?)
    ends: int  # the first pairs end their conversation (check-ins follow)
    messages: int  # per person per round of relays
    rounds: int  # rounds of relays, each with its own kills
    kills_per_round: int
    setup_kills: int  # kills while people join, ask and accept
    handover_kills: int  # kills as the first live conversation is handed over (0 to 2)
    end_kills: int
    last_kill: bool  # one more at a random moment before the live threads carry on


async def run_program(
    directory: Path, run: Run, *, signal_paced: bool = False
) -> tuple[Report, Program]:
    api, gateway = LocalBotApi(), LocalSignalApi()
    await api.start()
    await gateway.start()
    bot = ChildBot(directory, api, gateway, signal_paced=signal_paced)
    program = Program(bot, api, gateway, run.seed)
    try:
        bot.prepare()
        couples = await pair_up(program, run)
        await relay_rounds(program, run, couples)
        ended, live = couples[: run.ends], couples[run.ends :]
        live[0] = await hand_over(program, run, *live[0])
        nudges_due = await end_with_check_ins(program, run, ended)
        # Perhaps a last kill at a random moment; then every live conversation carries on.
        if run.last_kill:
            program.kill_soon("at the end", 1.0)
        await program.settle_kills()
        for officer, helper in live:
            for a, b in ((officer, helper), (helper, officer)):
                await program.relay(a, b)
                last = program.sent[-1]
                mark = token(last.sender, last.seq)
                await b.user.wait_until(functools.partial(_arrived, b, mark), timeout=WAIT)
        await asyncio.sleep(1.0)  # any late copy
        told = notices(EN)
        report = check_crash(
            program.sent,
            program.sent_in,
            {a.number: a.chat() for a in program.people},
            lambda t: any(n in t for n in told),
            acknowledged={a.number for a in program.people if a.on_telegram},
            epochs=bot.epoch + 1,
            spill_notice=_spill_notice,
        )
        # Check-ins: never twice; any not received was marked before a kill (never left due).
        kills = bot.kills
        for officer, _ in ended:
            assert officer.count(EN.nudge) <= 1, f"a check-in sent twice; kills: {kills}"
        received = sum(officer.count(EN.nudge) for officer, _ in ended)
        database = bot.database
        assert _rows(database, _DUE, stamp(_now())) == [(0,)], f"check-in left; kills: {kills}"
        assert nudges_due == len(ended), f"a plan lost at an /end; kills: {kills}"
        assert received >= len(ended) - 1, f"check-ins lost: {received}; kills: {kills}"
        assert await bot.stop() == 0, bot.output()
        assert _rows(database, "PRAGMA integrity_check") == [("ok",)]
        assert _rows(database, "SELECT count(*) FROM requests") == [(0,)], "a request stranded"
        return report, program
    finally:
        if bot.up.is_set():
            await bot.stop()
        await gateway.stop()
        await api.stop()


async def pair_up(program: Program, run: Run) -> list[tuple[Actor, Actor]]:
    """People join, officers ask, helpers accept, with kills at seeded places: while a pair
    joins, after a request (Telegram officers only: a Signal officer's last answer could be
    lost with the kill, and the script would wait for a request never made), after an
    accept."""
    bot, pairs = program.bot, run.pairs
    officer_codes = await bot.invites(Role.OFFICER, len(pairs))
    helper_codes = await bot.invites(Role.PEER, len(pairs) + 1)
    program.spare_code = helper_codes.pop()  # a peer who joins later, for a hand-over
    await bot.start()
    places = [(n, what) for n in range(len(pairs)) for what in ("join", "ask", "accept")]
    places = [(n, w) for n, w in places if w != "ask" or pairs[n][0]]
    setup = set(program.draw.sample(places, min(run.setup_kills, len(places))))
    couples: list[tuple[Actor, Actor]] = []
    for n, (officer_on, helper_on) in enumerate(pairs):
        officer = await join(program, officer_codes[n], 2 * n, officer_on, helper=False)
        if (n, "join") in setup:
            program.kill_soon("while people join", 0.2)
        helper = await join(program, helper_codes[n], 2 * n + 1, helper_on, helper=True)
        await program.settle_kills()
        await ask(program, officer, then_kill=(n, "ask") in setup)
        await accept(program, officer, helper, then_kill=(n, "accept") in setup)
        couples.append((officer, helper))
    return couples


async def relay_rounds(program: Program, run: Run, couples: list[tuple[Actor, Actor]]) -> None:
    """Everyone writes to the other side at once, killed at seeded moments."""
    for round_ in range(run.rounds):
        for _ in range(run.kills_per_round):
            program.kill_soon(f"during relays, round {round_}", 0.05 * run.messages)

        async def talk(actor: Actor, to: Actor, round_: int = round_) -> None:
            pace = random.Random(f"{run.seed}/{round_}/{actor.number}")  # noqa: S311
            for _ in range(run.messages):
                await program.relay(actor, to)
                await asyncio.sleep(pace.uniform(0.0, 0.1))

        await asyncio.gather(*(talk(a, b) for o, h in couples for a, b in ((o, h), (h, o))))
        await program.settle_kills()


async def hand_over(
    program: Program, run: Run, officer: Actor, helper: Actor
) -> tuple[Actor, Actor]:
    """The helper proposes another peer, the officer agrees, a new peer (the only one free)
    picks up and the first helper leaves; killed at seeded moments after the agreement and
    after the pick-up. Returns the new pair."""
    kills = set(program.draw.sample(["agree", "accept"], min(run.handover_kills, 2)))
    spare = await join(program, program.spare_code, 2 * len(run.pairs), True, helper=True)
    command = "/transfer" if helper.on_telegram else "transfer"
    which = await program.until(
        helper, functools.partial(program.say, helper, command), EN.transfer_which
    )
    asked = officer.count("suggests handing this conversation over")
    await program.until(
        helper,
        functools.partial(program.press, helper, which, EN.transfer_to_peer),
        EN.transfer_asked,
    )
    proposal = await program.until(officer, program.wait_up, "suggests handing", asked)
    connected = officer.count("is here for you")

    async def agree() -> None:
        await program.press(officer, proposal, EN.transfer_yes)
        if "agree" in kills:
            kills.discard("agree")
            program.kill_soon("after the officer agreed to a hand-over", 0.3)

    await program.until(officer, agree, "We're finding")
    await program.settle_kills()
    await accept(program, officer, spare, then_kill="accept" in kills)
    assert officer.count("is here for you") > connected
    return officer, spare


async def end_with_check_ins(program: Program, run: Run, ended: list[tuple[Actor, Actor]]) -> int:
    """Helpers end conversations (perhaps killed just after); a day passes while the bot is
    down, so the check-ins fall due; it is killed again while sending them, and the leases
    lapse (as ten minutes would) before it starts again. Returns the check-ins due."""
    end_kills = set(program.draw.sample(range(len(ended)), min(run.end_kills, len(ended))))
    for n, (officer, helper) in enumerate(ended):
        closed = officer.count("has closed the conversation")
        end = "/end" if helper.on_telegram else "end"
        await program.until(
            helper, functools.partial(program.say, helper, end), EN.thread_ended_by_you
        )
        if n in end_kills:
            program.kill_soon("after an /end", 0.3)
        await program.until(officer, program.wait_up, "has closed the conversation", closed)
        await program.settle_kills()
    database = program.bot.database
    await program.kill("before check-ins fall due", lambda: _due_now(database))
    await asyncio.sleep(program.draw.uniform(0.0, 1.0))
    await program.kill("while check-ins go out", lambda: _leases_lapse(database))
    due = int(str(_rows(database, "SELECT count(*) FROM followups")[0][0]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    # Another process's writes: polled, with a generous bound.
    while loop.time() < deadline and _rows(database, _DUE, stamp(_now()))[0][0]:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return due


def _spill_notice(text: str) -> bool:
    return EN.spilled_notice in text


def _shows(text: str, expected: str | tuple[str, ...]) -> bool:
    """`text` has `expected` in it (or one of them)."""
    return any(e in text for e in ((expected,) if isinstance(expected, str) else expected))


def _arrived(actor: Actor, text: str) -> bool:
    return actor.count(text) > 0


_DUE = "SELECT count(*) FROM followups WHERE due_at <= ?"


def _now() -> datetime:
    return datetime.now(UTC)


def _rows(database: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database, timeout=30)) as conn:
        return list(conn.execute(sql, args).fetchall())


def _write(database: Path, sql: str, *args: object) -> None:
    with closing(sqlite3.connect(database, timeout=30)) as conn, conn:
        conn.execute(sql, args)


async def _due_now(database: Path) -> None:
    _write(database, "UPDATE followups SET due_at = ?", stamp(_now() - timedelta(minutes=1)))


async def _leases_lapse(database: Path) -> None:
    _write(
        database,
        "UPDATE followups SET lease_until = ? WHERE lease_until IS NOT NULL",
        stamp(_now() - timedelta(seconds=1)),
    )


def assert_held(report: Report, program: Program) -> None:
    assert not report.violations, "\n".join(
        [report.summary(), f"kills: {program.bot.kills}", *report.violations[:20]]
    )


async def test_killed_at_seeded_points_nothing_handed_over_is_lost(tmp_path: Path) -> None:
    run = Run(
        seed=1129,
        pairs=((T, T), (S, S), (S, T)),
        ends=2,
        messages=6,
        rounds=1,
        kills_per_round=1,
        setup_kills=1,
        handover_kills=1,
        end_kills=1,
        last_kill=False,
    )
    report, program = await run_program(tmp_path / "crash", run)
    assert_held(report, program)
    # Setup, relays, a hand-over, an /end, and two around the check-ins.
    assert program.bot.epoch == 6


@pytest.mark.soak
async def test_soak_many_kills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = int(os.environ.get("PEERLINE_SOAK_SEED", "7"))
    run = Run(
        seed=seed,
        pairs=((T, T), (S, S), (T, S), (S, T)) * 2,
        ends=4,
        messages=25,
        rounds=6,
        kills_per_round=3,
        setup_kills=8,
        handover_kills=2,
        end_kills=4,
        last_kill=True,
    )
    # PEERLINE_SOAK_SIGNAL_PACE=default: Signal at its cautious default pace (see ChildBot).
    paced = os.environ.get("PEERLINE_SOAK_SIGNAL_PACE") == "default"
    report, program = await run_program(tmp_path / "crash", run, signal_paced=paced)
    pace = "Signal at its default pace" if paced else "Signal's pace lifted"
    sys.stdout.write(
        f"\ncrash soak seed {seed}, {pace}: {program.bot.epoch} kills; {report.summary()}\n"
    )
    assert_held(report, program)


async def test_a_kill_while_updates_are_spilled_tells_their_sender(tmp_path: Path) -> None:
    """A Telegram officer sends more than Telegram's window of 100 updates to a peer on Signal
    at its default pace (2 a second): the bot confirms the backlog early (spills it) so newer
    updates can be fetched, and is killed before the backlog is relayed. After the restart the
    officer is told that a few messages may not have been passed on; whatever was not spilled
    still arrives; nothing is lost silently."""
    api, gateway = LocalBotApi(), LocalSignalApi()
    await api.start()
    await gateway.start()
    bot = ChildBot(tmp_path / "spill", api, gateway, signal_paced=True)
    program = Program(bot, api, gateway, seed=1130)
    try:
        bot.prepare()
        (officer_code,) = await bot.invites(Role.OFFICER, 1)
        (helper_code,) = await bot.invites(Role.PEER, 1)
        await bot.start()
        officer = await join(program, officer_code, 0, telegram=True, helper=False)
        helper = await join(program, helper_code, 1, telegram=False, helper=True)
        await ask(program, officer, then_kill=False)
        await accept(program, officer, helper, then_kill=False)
        # The backlog comes in one go (as after an outage), so the bot holds a whole window at
        # once and spills it well before 2 a second could relay it, however loaded the machine.
        api.hold_updates()
        for _ in range(SPILL_BACKLOG):
            await program.relay(officer, helper)
        await api.release_updates()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        # Another process's write: polled, with a generous bound.
        while not _rows(bot.database, "SELECT count(*) FROM spilled_chats")[0][0]:
            assert loop.time() < deadline, "no spill noted"
            await asyncio.sleep(0.05)
        await program.kill("while updates are spilled")
        await officer.user.wait_until(lambda: officer.count(EN.spilled_notice) == 1, timeout=WAIT)
        last = token(officer.number, SPILL_BACKLOG - 1)
        await helper.user.wait_until(functools.partial(_arrived, helper, last), timeout=WAIT * 2)
        assert await bot.stop() == 0, bot.output()
        report = check_crash(
            program.sent,
            program.sent_in,
            {a.number: a.chat() for a in program.people},
            lambda t: any(n in t for n in notices(EN)),
            acknowledged={officer.number},
            epochs=bot.epoch + 1,
            spill_notice=_spill_notice,
        )
        assert_held(report, program)
        assert report.spill_told > 0, report.summary()
        assert officer.count(EN.spilled_notice) == 1
        assert _rows(bot.database, "SELECT count(*) FROM spilled_chats") == [(0,)]
    finally:
        if bot.up.is_set():
            await bot.stop()
        await gateway.stop()
        await api.stop()


SPILL_BACKLOG = 120  # a window of 100, then 20 more
