"""Delivery guarantees of the Telegram transport, through the real python-telegram-bot against
the local Bot API over HTTP: poison updates, the poll loop's cost, priorities, stuck chats and
what a crash may replay."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

import aiohttp
import pytest

from bot.delivery import ChatSlots, Pacer, Priority, RateLimits, StrangerGate, sending
from bot.events import Address, Incoming, Platform, Reply
from bot.logs import cap_noisy_loggers
from bot.sandbox.telegram_api import LocalBotApi, SimUser, poison_updates
from bot.storage.repository import Repository
from bot.transports.telegram import TelegramTransport
from crypto import Vault, generate_key_file, load_master_key

ROOT = Path(__file__).resolve().parent.parent
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"


async def eventually(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    """Wait for `check()` to hold (generous bound: the suite runs on a loaded machine)."""
    try:
        async with asyncio.timeout(seconds):
            while not check():  # noqa: ASYNC110 - polling a counter of another component
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"still not true after {seconds}s: {what}") from None


class Recorder:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.hang_on: str | None = None
        self.release = asyncio.Event()

    async def __call__(self, incoming: Incoming) -> None:
        self.texts.append(incoming.text)
        if incoming.text == self.hang_on:
            await self.release.wait()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as api:
        yield api


def transport_for(api: LocalBotApi, **options: object) -> TelegramTransport:
    return TelegramTransport(
        api.token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        poll_timeout=1.0,
        retry_base_delay=0.05,
        **options,  # type: ignore[arg-type]
    )


def addr(user: SimUser) -> Address:
    return Address(Platform.TELEGRAM, str(user.user_id))


async def test_poison_updates_are_skipped_counted_and_confirmed_and_never_logged(
    api: LocalBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    cap_noisy_loggers()
    caplog.set_level(logging.DEBUG)
    sink = Recorder()
    transport = transport_for(api)
    await transport.start(sink)
    alice, bob = api.user(7770001, "Alice"), api.user(7770002, "Bob")
    try:
        await alice.send("before")
        shapes = poison_updates(bob)
        for poison in shapes:
            await api.push_update(poison)
            await alice.send("between")
        await alice.send("after")
        await eventually(lambda: "after" in sink.texts, "the message after the poison")
        assert sink.texts == ["before", *["between"] * len(shapes), "after"]
        assert transport.stats.poison == len(shapes)
        assert not transport.failed.is_set()
    finally:
        await transport.stop()
    assert api.pending_updates == 0  # each poison update was confirmed past
    for record in caplog.records:
        line = record.getMessage() + (record.exc_text or "") + str(record.args)
        assert "poison text" not in line
        assert "7770002" not in line and "Bob" not in line
        # Tracebacks come only from our own code, which logs them by type and place; the
        # stand-in Bot API's aiohttp server may log a connection cut at stop (its side, not ours).
        assert record.exc_info is None or record.name.startswith(("bot.", "aiohttp.server"))
    assert not [r for r in caplog.records if r.name.startswith("telegram")]
    assert sum("could not be read" in r.getMessage() for r in caplog.records) >= 5


def test_python_telegram_bot_and_signalbot_log_nothing_at_any_level() -> None:
    cap_noisy_loggers()
    for name in (
        "telegram",
        "telegram.Bot",
        "telegram.ext.Application",
        "telegram.ext.ExtBot",
        "signalbot",
        "signalbot.bot",
    ):
        assert not logging.getLogger(name).isEnabledFor(logging.CRITICAL), name


async def test_polling_that_dies_anyway_sets_failed(
    api: LocalBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = transport_for(api)
    await transport.start(Recorder())
    try:

        def broken(_offset: int | None) -> None:
            raise RuntimeError("a bug in the poll loop")

        monkeypatch.setattr(transport, "_acknowledged", broken)
        await api.user(7770001).send("wake the poller")
        async with asyncio.timeout(10):
            await transport.failed.wait()
    finally:
        await transport.stop()


async def test_each_update_is_fetched_and_parsed_once_per_thousand_messages(
    api: LocalBotApi,
) -> None:
    sink = Recorder()
    transport = transport_for(api)
    await transport.start(sink)
    users = [api.user(7_000_000 + n) for n in range(20)]
    try:
        before = len(api.calls_of("getUpdates"))
        for n in range(1000):
            await users[n % 20].send(f"m{n}")
        await eventually(lambda: len(sink.texts) == 1000, "all 1,000 handled", 60)
        polls = len(api.calls_of("getUpdates")) - before
    finally:
        await transport.stop()
    assert transport.stats.parsed == 1000  # never parsed twice
    assert transport.stats.skipped == 0  # never fetched twice
    assert polls <= 60, polls  # the old loop asked ~1.3 times per message
    assert api.pending_updates == 0


class SlowRecorder(Recorder):
    """Takes a moment over each event, so a backlog outlasts `poll_around_after`."""

    async def __call__(self, incoming: Incoming) -> None:
        await super().__call__(incoming)
        await asyncio.sleep(0.01)


async def test_a_backlog_slower_than_poll_around_after_is_not_fetched_again_per_update(
    api: LocalBotApi,
) -> None:
    sink = SlowRecorder()
    transport = transport_for(api, poll_around_after=0.01)
    await transport.start(sink)
    users = [api.user(7_100_000 + n) for n in range(20)]
    try:
        before = len(api.calls_of("getUpdates"))
        started = asyncio.get_running_loop().time()
        for n in range(300):
            await users[n % 20].send(f"m{n}")
        await eventually(lambda: len(sink.texts) == 300, "all 300 handled", 60)
        took = asyncio.get_running_loop().time() - started
        polls = len(api.calls_of("getUpdates")) - before
    finally:
        await transport.stop()
    assert transport.stats.parsed == 300
    # Around an update in hand, a poll goes out once half a window can come back (at most
    # 300/50 + 1 times here), else half a second after the last; plus the plain polls for
    # each fresh window (at most 3 + 1). Asking after every update handled made ~16 here.
    assert polls <= 12 + 2 * took, (polls, took)


async def test_relays_and_crisis_lines_go_before_status_and_strangers_when_the_limit_binds(
    api: LocalBotApi,
) -> None:
    # The pacer's clock moves only by hand, a token at a time, and only once the send before
    # has reached the Bot API: however slow the machine, every send has asked for its turn
    # before any token comes back, and no two sends race each other over HTTP.
    limits = RateLimits(overall_per_second=4.0, per_chat_per_second=100.0, chat_burst=100)
    seconds = [1000.0]
    transport = transport_for(api, limits=limits, pacing_clock=lambda: seconds[0])
    await transport.start(Recorder())
    people = [api.user(7_100_000 + n) for n in range(12)]

    def sent() -> list[str]:
        return [str(call["text"]) for call in api.calls_of("sendMessage")]

    def sent_this_many(count: int) -> Callable[[], bool]:
        return lambda: len(sent()) == count

    async def send(user: SimUser, text: str, priority: Priority) -> None:
        with sending(priority):
            await transport.send(addr(user), Reply(text))

    sends = [send(people[n], f"stranger {n}", Priority.BACKGROUND) for n in range(8)]
    sends += [send(people[8], "status", Priority.BACKGROUND)]
    sends += [send(people[9], "reply", Priority.REPLY)]
    sends += [send(people[10], "relay", Priority.RELAY)]
    sends += [send(people[11], "crisis lines", Priority.RELAY)]
    everything = asyncio.gather(*sends)
    try:
        # The overall bucket holds 4 sends: the first four to ask go at once, the rest wait.
        await eventually(lambda: len(sent()) == 4 and transport.sends_waiting == 8, "4 sent")
        for count in range(5, 13):
            seconds[0] += 0.25  # one more token
            await eventually(sent_this_many(count), f"send number {count}")
        async with asyncio.timeout(30):
            await everything
    finally:
        everything.cancel()  # if the test failed half way: nothing left running
        await transport.stop()
    order = sent()
    # Then, a token at a time, the relay and the crisis lines, the reply, and only then the rest.
    assert set(order[:4]) == {"stranger 0", "stranger 1", "stranger 2", "stranger 3"}
    assert order[4:7] == ["relay", "crisis lines", "reply"]
    assert set(order[7:]) == {"stranger 4", "stranger 5", "stranger 6", "stranger 7", "status"}


async def test_a_flood_wait_on_one_chat_holds_that_chat_only(api: LocalBotApi) -> None:
    transport = transport_for(api, flood_wait_cap=0.2)
    await transport.start(Recorder())
    held, free = api.user(7_200_001), api.user(7_200_002)
    storm = api.storm(status=429, retry_after=60, chats={held.user_id})
    try:
        waiting = asyncio.create_task(transport.send(addr(held), Reply("after the storm")))
        await eventually(lambda: storm.hits >= 2, "the held chat retried")
        for n in range(3):
            await transport.send(addr(free), Reply(f"free {n}"))
        assert free.texts() == ["free 0", "free 1", "free 2"]
        assert held.texts() == []
        api.calm()
        async with asyncio.timeout(20):
            await waiting
        assert held.texts() == ["after the storm"]
    finally:
        await transport.stop()


def test_stranger_gate_answers_once_per_window() -> None:
    now = [0.0]
    gate = StrangerGate(300.0, clock=lambda: now[0])
    codes = StrangerGate(300.0, allowance=3, clock=lambda: now[0])
    assert gate.allow(b"eve")
    assert not gate.allow(b"eve")
    assert gate.allow(b"mallory")
    now[0] = 299.0
    assert not gate.allow(b"eve")
    now[0] = 300.0
    assert gate.allow(b"eve")
    assert gate.suppressed == 2
    assert [codes.allow(b"eve") for _ in range(4)] == [True, True, True, False]


class MemoryLedger:
    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.spilled: set[str] = set()
        self.writes = 0

    async def handled_updates(self, platform: str) -> set[int]:
        assert platform == "telegram"
        return set(self.ids)

    async def keep_handled_updates(self, platform: str, ids: Collection[int]) -> None:
        self.ids = set(ids)
        self.writes += 1

    async def record_spilled(self, platform: str, chat_ids: Collection[str]) -> dict[str, str]:
        self.writes += 1
        rows = {chat: f"row {chat}" for chat in chat_ids}
        self.spilled.update(rows.values())
        return rows

    async def forget_spilled(self, rows: Collection[str]) -> None:
        self.writes += 1
        self.spilled -= set(rows)


async def test_the_ledger_is_written_only_while_a_chat_is_stuck(api: LocalBotApi) -> None:
    ledger = MemoryLedger()
    sink = Recorder()
    transport = transport_for(api, poll_around_after=0.3, stuck_after=5.0)
    transport.use_ledger(ledger)
    await transport.start(sink)
    alice, bob = api.user(7_300_001), api.user(7_300_002)
    try:
        for n in range(20):
            await bob.send(f"quick {n}")
        await eventually(lambda: len(sink.texts) == 20, "quick messages handled")
        assert ledger.writes == 0  # the hot path writes nothing

        sink.hang_on = "stuck"
        await alice.send("stuck")
        for n in range(3):
            await bob.send(f"while stuck {n}")
        await eventually(lambda: len(ledger.ids) == 3, "handled ids kept while stuck")
        assert api.pending_updates == 4  # the stuck one and those above it, unconfirmed
        sink.release.set()
        await eventually(lambda: not ledger.ids, "ledger emptied once confirmed")
        assert api.pending_updates == 0
    finally:
        await transport.stop()


async def test_a_window_full_of_one_chats_backlog_is_spilled_noted_once_and_cleared(
    api: LocalBotApi,
) -> None:
    ledger = MemoryLedger()
    sink = Recorder()
    sink.hang_on = "slow 000"  # the slow chat's first message waits until released
    transport = transport_for(api, poll_around_after=0.3)
    transport.use_ledger(ledger)
    await transport.start(sink)
    slow, other = api.user(7_400_001), api.user(7_400_002)
    try:
        for n in range(150):
            await slow.send(f"slow {n:03d}")
        await other.send("newer")
        # Past a window of 100 updates all in hand: fetched and handled all the same.
        await eventually(lambda: "newer" in sink.texts, "an update past a full window")
        assert [t for t in sink.texts if t.startswith("slow")] == ["slow 000"]
        assert transport.stats.spills >= 1
        assert ledger.spilled == {f"row {slow.user_id}"}  # who, never what
        sink.release.set()
        await eventually(lambda: len(sink.texts) == 151, "the backlog handled, in order")
        assert [t for t in sink.texts if t != "newer"] == [f"slow {n:03d}" for n in range(150)]
        await eventually(lambda: not ledger.spilled, "the note dropped once they are handled")
        # Once for the spill, once when handled: never a write per message.
        assert ledger.writes <= 3, ledger.writes
        await eventually(lambda: api.pending_updates == 0, "everything confirmed")
    finally:
        await transport.stop()


CHILD = """
import asyncio, sys
from bot.storage.repository import Repository
from bot.transports.telegram import TelegramTransport
from crypto import Vault, load_master_key

async def main() -> None:
    token, base_url, db, key = sys.argv[1:5]
    repo = await Repository.open(db, Vault(load_master_key(key)))

    class Printing:
        async def handled_updates(self, platform):
            return await repo.handled_updates(platform)

        async def keep_handled_updates(self, platform, ids):
            await repo.keep_handled_updates(platform, ids)
            print("kept", len(ids), flush=True)

    async def sink(incoming):
        print("handled", incoming.text, flush=True)
        if incoming.text == "stuck":
            await asyncio.Event().wait()

    transport = TelegramTransport(
        token, base_url=base_url, poll_timeout=1.0, poll_around_after=0.3, stuck_after=0.3
    )
    transport.use_ledger(Printing())
    await transport.start(sink)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_after_a_kill_other_chats_handled_messages_are_not_replayed(
    api: LocalBotApi, tmp_path: Path
) -> None:
    key_file = tmp_path / "master.key"
    generate_key_file(key_file)
    database = tmp_path / "peerline.db"
    alice, bob = api.user(7_400_001), api.user(7_400_002)
    await alice.send("stuck")
    for n in range(3):
        await bob.send(f"bob {n}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        api.token,
        api.base_url,
        str(database),
        str(key_file),
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while "kept 3" not in lines:
                line = (await child.stdout.readline()).decode().strip()
                assert line, f"the child ended early: {lines}"
                lines.append(line)
    finally:
        child.send_signal(signal.SIGKILL)  # kill -9: no confirm, no clean shutdown
        await child.wait()
    assert {"handled stuck", "handled bob 0", "handled bob 1", "handled bob 2"} <= set(lines)
    assert api.pending_updates == 4  # Telegram still holds all four

    repo = await Repository.open(database, Vault(load_master_key(key_file)))
    sink = Recorder()
    transport = transport_for(api)
    transport.use_ledger(repo)
    try:
        await transport.start(sink)
        await bob.send("bob after")
        await eventually(lambda: "bob after" in sink.texts, "a new message after the restart")
        assert sink.texts == ["stuck", "bob after"]  # the stuck one again; bob's not replayed
        assert transport.stats.replay_skipped == 3
        await eventually(lambda: api.pending_updates == 0, "everything confirmed")
    finally:
        await transport.stop()
        kept = await repo.handled_updates("telegram")
        await repo.close()
    assert kept == set()


async def test_the_sandbox_can_hang_a_call_until_calm(api: LocalBotApi) -> None:
    api.user(5)
    storm = api.storm(status=0, methods=frozenset({"sendmessage"}))
    async with aiohttp.ClientSession() as http:
        call = asyncio.create_task(
            http.post(f"{api.base_url}{api.token}/sendMessage", json={"chat_id": 5, "text": "x"})
        )
        await eventually(lambda: storm.hits == 1, "the call reached the fake")
        await asyncio.sleep(0.2)
        assert not call.done()  # no answer at all while the storm lasts
        api.calm()
        async with asyncio.timeout(10):
            response = await call
        assert (await response.json())["ok"]
        response.release()
    assert api.user(5).texts() == ["x"]


async def test_a_chat_waiting_on_its_pace_lends_its_slot_and_takes_it_back() -> None:
    slots = ChatSlots(1)
    pacer = Pacer(RateLimits(1000.0, 1000.0, chat_burst=1))
    pacer.hold("slow", 3600.0)  # a flood wait far longer than the test
    order: list[str] = []

    async def slow_chat() -> None:
        async with slots.held():
            order.append("slow in")
            await pacer.turn("slow", Priority.RELAY)
            order.append("slow sent")  # pragma: no cover - held for an hour

    async def newcomer() -> None:
        async with slots.held():
            order.append("newcomer in")

    held = asyncio.create_task(slow_chat())
    await eventually(lambda: order == ["slow in"], "the slow chat in its flood wait")
    await asyncio.wait_for(newcomer(), 20)  # the only slot was lent
    held.cancel()
    await asyncio.gather(held, return_exceptions=True)
    # Cancelled while lent: the slot is not counted twice.
    async with slots.held():
        second = asyncio.create_task(newcomer())
        await asyncio.sleep(0.05)
        assert not second.done()
    await asyncio.wait_for(second, 20)
    await pacer.close()
    assert order == ["slow in", "newcomer in", "newcomer in"]


async def test_a_task_started_by_a_handler_does_not_lend_its_chats_slot() -> None:
    slots = ChatSlots(1)
    pacer = Pacer(RateLimits(1000.0, 1000.0, chat_burst=1))
    pacer.hold("slow", 3600.0)
    entered = asyncio.Event()

    async def chat_with_background_send() -> None:
        async with slots.held():
            background = asyncio.create_task(pacer.turn("slow", Priority.BACKGROUND))
            entered.set()
            try:
                await asyncio.sleep(3600)
            finally:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)

    async def other() -> None:
        async with slots.held():
            pass

    holder = asyncio.create_task(chat_with_background_send())
    await entered.wait()
    waiting = asyncio.create_task(other())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the holder's background send lent nothing
    holder.cancel()
    await asyncio.wait_for(waiting, 20)
    await asyncio.gather(holder, return_exceptions=True)
    await pacer.close()
