"""What the relay benchmarks share.

- `percentile`, `connect` (an officer and a peer in a live thread through the sandbox).
- `ServerProcess`: the local Bot API stand-in (bot/sandbox/telegram_api.py), or with
  `platform="signal"` the signal-cli-rest-api one (bot/sandbox/signal_api.py), and the
  simulated people in a process of their own, so that its CPU is never counted as the bot's.
  The people send texts on command and time each relayed copy from the moment its update is
  queued (on Signal: its envelope pushed) to the moment the bot's copy lands in the other chat
  (one clock, the server's). Each copy is checked: in the right chat, once, in order.
- `Child`: a bot under test (Peerline or a bare relay) in a process of its own, which
  answers `cpu` (its process CPU seconds, every thread included) and `rss` (its peak RSS).

Processes are started with "spawn": each starts clean, so a bot's peak RSS is its own. The
smoke tests set PEERLINE_BENCH_START=fork, which starts them at once from what the test process
has already loaded (its RSS figures then include the test process's).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import cProfile
import itertools
import multiprocessing
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from bot.catalog import EN
from bot.model import Role

if TYPE_CHECKING:
    from bot.sandbox.harness import Sandbox
    from bot.sandbox.telegram_api import SimUser

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

Command = Callable[..., Awaitable[Any]]
Chat = int | str  # a Telegram chat id, or a Signal account id (uuid)
Pair = tuple[Chat, Chat]  # (officer's chat, helper's chat): one live thread

_FIRST_USER = 5_000_001
LIFTED = 1e6  # a send rate (a second) no bench comes near: the pace lifted


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def pairs_of(threads: int) -> list[Pair]:
    """Chat ids for `threads` live threads: officer n and helper n."""
    return [(_FIRST_USER + 2 * n, _FIRST_USER + 2 * n + 1) for n in range(threads)]


def process_cpu() -> float:
    """CPU seconds of this process so far, all of its threads (aiosqlite's included)."""
    return time.process_time()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


async def connect(box: Sandbox) -> tuple[SimUser, SimUser]:
    """An officer and a peer joined through the sandbox and talking in a live thread."""
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await officer.send("/talk")
    for prompt, answer in (
        ("What's it mostly about?", "Stress or burnout"),
        ("Who would you like", "A peer"),
        ("outside your own agency", "Doesn't matter"),
        ("in a few words", "Skip"),
    ):
        await officer.press(await officer.wait_for(prompt), answer)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    return officer, peer


# -- a command loop over a pipe, run inside a child's event loop -------------------------------


async def serve(conn: Connection, commands: Mapping[str, Command]) -> None:
    """Answer `(name, kwargs)` requests with `("ok", result)` or `("error", text)` until
    `stop`. The pipe is read in a thread, so the loop keeps running in between."""
    handlers: dict[str, Command] = {
        "cpu": _async(process_cpu),
        "rss": _async(peak_rss_mb),
        "profile": _Profile().switch,
        **commands,
    }
    while True:
        name, kwargs = await asyncio.to_thread(conn.recv)
        if name == "stop":
            return
        try:
            conn.send(("ok", await handlers[name](**kwargs)))
        except Exception as exc:  # report it to the orchestrator, which raises it
            conn.send(("error", f"{name}: {type(exc).__name__}: {exc}"))


class _Profile:
    """cProfile of a child's event loop thread (not aiosqlite's): on, then off into a file."""

    def __init__(self) -> None:
        self._profiler = cProfile.Profile()

    async def switch(self, *, on: bool, path: str = "") -> None:
        if on:
            self._profiler.enable()
            return
        self._profiler.disable()
        self._profiler.dump_stats(path)
        self._profiler = cProfile.Profile()


@contextlib.contextmanager
def profiled(bot: Child, path: str) -> Iterator[None]:
    """Profile `bot`'s event loop with cProfile into `path` (nothing when it is "");
    read it with ``python -m pstats path``. The profiler's own cost lands in the CPU figures."""
    if not path:
        yield
        return
    bot.ask("profile", on=True)
    try:
        yield
    finally:
        bot.ask("profile", on=False, path=str(Path(path).resolve()))


def _async(function: Callable[[], float]) -> Command:
    async def call() -> float:
        return function()

    return call


class Child:
    """A process started with `target(conn, *args)` that answers commands over a pipe."""

    def __init__(self, target: Callable[..., None], *args: object) -> None:
        if os.environ.get("PEERLINE_BENCH_START") == "fork":
            context: Any = multiprocessing.get_context("fork")
        else:
            context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=target, args=(child_end, *args), daemon=True)
        self._process.start()
        child_end.close()
        self.ready: Any = self._receive(timeout=180)

    @property
    def pid(self) -> int:
        return self._process.pid or 0

    def ask(self, name: str, timeout: float = 600, **kwargs: object) -> Any:
        self._conn.send((name, kwargs))
        return self._receive(timeout)

    def _receive(self, timeout: float) -> Any:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"no answer from the benchmark process after {timeout:.0f} s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"benchmark process failed: {value}")
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("stop", {}))
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- the server process: the local Bot API and the people --------------------------------------


@dataclass
class Phase:
    """What one phase of load measured on the server side."""

    messages: int
    seconds: float  # first text queued to last copy landed
    latencies: list[float]  # seconds, each text queued -> its copy landed
    requests: dict[str, int] = field(default_factory=dict)  # HTTP calls, by method (route)
    doubled: int = 0  # copies of a text after its first
    misplaced: int = 0  # copies that landed in a chat other than the sender's counterpart
    out_of_order: int = 0  # copies that landed after a later text of the same sender's

    @property
    def exactly_once_in_order(self) -> bool:
        relayed = len(self.latencies) == self.messages
        return relayed and not (self.doubled or self.misplaced or self.out_of_order)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())


class ServerProcess(Child):
    """`ServerProcess()` starts the Bot API stand-in, `.ready` then being `{"base_url",
    "base_file_url", "token"}`; `ServerProcess("signal")` the signal-cli-rest-api one,
    `{"service", "number"}`. `pairs` (Signal only) makes people in live threads; `burst`,
    `paced` run load and return a `Phase`."""

    def __init__(self, platform: str = "telegram") -> None:
        super().__init__(_server_main, platform)
        self.platform = platform

    def pairs(self, threads: int) -> list[Pair]:
        """Signal accounts for `threads` live threads (Telegram's are `pairs_of(threads)`)."""
        return [(officer, helper) for officer, helper in self.ask("pairs", threads=threads)]

    def connected(self) -> None:
        """Returns once the Signal bot just started is connected, alone: a receive connection
        newer than any seen here before, and the last bot's closed (a text pushed before would
        go to a socket nobody reads, or to nobody)."""
        self.ask("connected", timeout=180)

    def contacts(self, count: int) -> None:
        """`count` more people the Signal gateway knows, who write nothing: its identity
        listing names everyone who ever wrote to the bot."""
        self.ask("contacts", count=count)

    def burst(self, pairs: list[Pair], per_thread: int) -> Phase:
        return Phase(**self.ask("burst", pairs=pairs, per_thread=per_thread))

    def paced(self, pairs: list[Pair], rate: float, seconds: float) -> Phase:
        return Phase(**self.ask("paced", pairs=pairs, rate=rate, seconds=seconds))


def _server_main(conn: Connection, platform: str) -> None:
    asyncio.run(_signal_server(conn) if platform == "signal" else _server(conn))


async def _server(conn: Connection) -> None:
    from bot.sandbox.telegram_api import LocalBotApi  # noqa: PLC0415 - in the child only

    api = LocalBotApi()
    await api.start()
    load = _Load(api, lambda call: str(call[0]), lambda chat: api.user(int(chat)))
    api.on_delivered = lambda user, view: load.delivered(user.user_id, view.text)
    conn.send(
        (
            "ok",
            {"base_url": api.base_url, "base_file_url": api.base_file_url, "token": api.token},
        )
    )
    try:
        await serve(conn, {"burst": load.burst, "paced": load.paced})
    finally:
        await api.stop()


async def _signal_server(conn: Connection) -> None:
    from bot.sandbox.signal_api import LocalSignalApi  # noqa: PLC0415 - in the child only

    api = LocalSignalApi()
    await api.start()
    people: dict[Chat, Any] = {}

    seen = 0  # receive connections made before the bot under test

    async def one_receiver(*, new: bool = False) -> None:
        """Exactly one bot connected (the last one's socket closed); with `new`, by a
        connection made since the last call with `new`."""
        nonlocal seen

        def ready() -> bool:
            return api.receivers == 1 and (not new or api.connections > seen)

        async with asyncio.timeout(120):
            while not ready():  # noqa: ASYNC110 - the stand-in has no event for a close
                await asyncio.sleep(0.05)
        if new:
            seen = api.connections

    async def make_pairs(threads: int) -> list[Pair]:
        made: list[Pair] = []
        for n in range(threads):
            officer, helper = api.user(f"Officer {n}"), api.user(f"Helper {n}")
            people[officer.address] = officer
            people[helper.address] = helper
            made.append((officer.address, helper.address))
        return made

    async def contacts(count: int) -> None:
        for n in range(count):
            api.user(f"Contact {n}")

    load = _Load(api, " ".join, people.__getitem__, before=one_receiver)
    api.on_delivered = lambda person, message: load.delivered(person.address, message.text)
    conn.send(("ok", {"service": api.service, "number": api.number}))

    async def connected() -> None:
        await one_receiver(new=True)

    commands: dict[str, Command] = {
        "pairs": make_pairs,
        "contacts": contacts,
        "connected": connected,
    }
    try:
        await serve(conn, {**commands, "burst": load.burst, "paced": load.paced})
    finally:
        await api.stop()


async def _nothing() -> None:
    return None


class _Load:
    """The people's side: texts sent to the bot, and their copies timed as they land.

    `api` is the stand-in (its `calls`, each named by `name`), `person(chat)` the simulated
    person of a chat (`await person.send(text)`); `before()` is awaited before each phase."""

    def __init__(
        self,
        api: Any,
        name: Callable[[Any], str],
        person: Callable[[Chat], Any],
        *,
        before: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        self._api = api
        self._name = name
        self._person = person
        self._before = before
        self._seq = 0
        self._queued: dict[int, float] = {}
        self._landed: dict[int, float] = {}
        self._to: dict[int, Chat] = {}  # each text's counterpart: where its copy belongs
        self._last_landed: dict[Chat, int] = {}  # chat -> highest text number landed there
        self._wrong = Counter[str]()
        self._expected = 0
        self._all_landed = asyncio.Event()

    def delivered(self, chat: Chat, text: str) -> None:
        """A message of the bot's landed in `chat`."""
        last = str(text).rsplit("\n", 1)[-1]
        if not last.startswith("bench ") or (seq := int(last[6:])) not in self._queued:
            return
        if seq in self._landed:
            self._wrong["doubled"] += 1
            return
        self._landed[seq] = time.perf_counter()
        if self._to[seq] != chat:
            self._wrong["misplaced"] += 1
        if seq < self._last_landed.get(chat, 0):
            self._wrong["out_of_order"] += 1
        self._last_landed[chat] = max(seq, self._last_landed.get(chat, 0))
        if len(self._landed) >= self._expected:
            self._all_landed.set()

    async def _reset(self, pairs: list[Pair], expected: int) -> int:
        for pair in pairs:  # both sides exist for the stand-in before anyone is sent a copy
            for chat in pair:
                self._person(chat)
        await self._before()
        self._queued.clear()
        self._landed.clear()
        self._to.clear()
        self._last_landed.clear()
        self._wrong.clear()
        self._expected = expected
        self._all_landed.clear()
        return len(self._api.calls)

    async def _send(self, pair: Pair, turn: int) -> None:
        """One text in a thread: the officer on even turns, the helper on odd ones."""
        sender = self._person(pair[turn % 2])
        self._seq += 1
        self._queued[self._seq] = time.perf_counter()
        self._to[self._seq] = pair[(turn + 1) % 2]
        await sender.send(f"bench {self._seq}")

    async def _finish(self, calls_before: int, started: float) -> dict[str, Any]:
        deadline = 60 + self._expected / 10  # generous: a slow machine is not a failure
        try:
            async with asyncio.timeout(deadline):
                await self._all_landed.wait()
        except TimeoutError:
            missing = self._expected - len(self._landed)
            raise RuntimeError(f"{missing} of {self._expected} relays never arrived") from None
        from bot.sandbox.settle import settle  # noqa: PLC0415 - in the child only

        await settle(self._api)  # a copy sent twice lands before the phase is counted
        counts = Counter(self._name(call) for call in self._api.calls[calls_before:])
        return {
            "messages": self._expected,
            "seconds": max(self._landed.values()) - started,
            "latencies": [self._landed[s] - self._queued[s] for s in self._landed],
            "requests": dict(counts),
            **self._wrong,
        }

    async def burst(self, pairs: list[Pair], per_thread: int) -> dict[str, Any]:
        """Every text queued at once (`per_thread` in each thread, the two sides in turn)."""
        calls_before = await self._reset(pairs, len(pairs) * per_thread)
        started = time.perf_counter()
        for turn in range(per_thread):
            for pair in pairs:
                await self._send(pair, turn)
        return await self._finish(calls_before, started)

    async def paced(self, pairs: list[Pair], rate: float, seconds: float) -> dict[str, Any]:
        """`rate` texts a second in all, for `seconds`, the threads taking turns."""
        total = max(1, round(rate * seconds))
        calls_before = await self._reset(pairs, total)
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            await self._send(pairs[n % len(pairs)], n // len(pairs))
        return await self._finish(calls_before, started)


# -- Peerline in a process of its own ----------------------------------------------------------


@dataclass(frozen=True)
class PeerlineSpec:
    server: Mapping[str, str]  # ServerProcess.ready
    pairs: list[Pair]
    rate_overall: float = LIFTED  # the cap lifted by default; 30.0 is Telegram's
    rate_per_chat: float = LIFTED
    platform: str = "telegram"  # or "signal": that transport alone, on ServerProcess("signal")


class PeerlineProcess(Child):
    """Peerline (the real App, its own composition of the Telegram or the Signal transport,
    logging to a file at INFO as `peerline run` does), with one live thread per pair, set up
    in its database before it starts."""

    def __init__(self, spec: PeerlineSpec) -> None:
        super().__init__(_peerline_main, spec)


def _peerline_main(conn: Connection, spec: PeerlineSpec) -> None:
    asyncio.run(_peerline(conn, spec))


async def _peerline(conn: Connection, spec: PeerlineSpec) -> None:
    # Imported here: the orchestrator itself never loads Peerline's app.
    from bot.app import App  # noqa: PLC0415
    from bot.config import (  # noqa: PLC0415
        Config,
        CryptoConfig,
        LoggingConfig,
        ProgramConfig,
        SignalConfig,
        StorageConfig,
        TelegramConfig,
    )
    from bot.logs import setup_logging  # noqa: PLC0415

    if spec.platform == "signal":
        telegram = TelegramConfig(enabled=False)
        signal = SignalConfig(
            enabled=True,
            service=spec.server["service"],
            number=spec.server["number"],
            rate_overall=spec.rate_overall,
            rate_per_chat=spec.rate_per_chat,
        )
    else:
        telegram = TelegramConfig(
            token=spec.server["token"],
            base_url=spec.server["base_url"],
            base_file_url=spec.server["base_file_url"],
            rate_overall=spec.rate_overall,
            rate_per_chat=spec.rate_per_chat,
        )
        signal = SignalConfig()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = Config(
            program=ProgramConfig(name="Bench Peer Support"),
            telegram=telegram,
            signal=signal,
            storage=StorageConfig(path=directory / "peerline.db"),
            crypto=CryptoConfig(key_file=None, key_text=key_text()),
            logging=LoggingConfig(level="INFO", file=directory / "peerline.log"),
        )
        setup_logging(config.logging.level, config.logging.file)
        await seed(config, spec.pairs, spec.platform)
        app = App(config)
        await app.start()
        conn.send(("ok", {"threads": len(spec.pairs)}))
        try:
            await serve(conn, {})
        finally:
            await app.stop()


def key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def seed(config: Any, pairs: list[Pair], platform: str = "telegram") -> None:
    """Members for every chat and a live thread per pair, written before the app starts (as
    a restart would find them)."""
    from bot.app import load_key, utc_now  # noqa: PLC0415
    from bot.events import Address, Platform  # noqa: PLC0415
    from bot.invites import create_invites  # noqa: PLC0415
    from bot.model import Category, Thread  # noqa: PLC0415
    from bot.storage.repository import Repository  # noqa: PLC0415
    from bot.storage.threads import new_thread_id  # noqa: PLC0415
    from crypto import Vault, normalize_invite_code  # noqa: PLC0415

    repo = await Repository.open(config.storage.path, Vault(load_key(config)))
    try:
        now = utc_now()
        codes: dict[Role, list[str]] = {Role.OFFICER: [], Role.PEER: []}
        for role, batch in itertools.product(codes, range(0, len(pairs), 500)):
            codes[role] += await create_invites(
                repo,
                role=role,
                agency=None,
                count=min(500, len(pairs) - batch),  # at most 500 at a time
                valid_for=timedelta(days=1),
                certified_until=now.date() + timedelta(days=30),
                now=now,
            )
        for n, (officer_chat, helper_chat) in enumerate(pairs):
            members = []
            for role, chat in ((Role.OFFICER, officer_chat), (Role.PEER, helper_chat)):
                code = normalize_invite_code(codes[role][n])
                assert code is not None
                address = Address(Platform(platform), str(chat))
                member = await repo.redeem_invite(code, address, now)
                assert not isinstance(member, str) and hasattr(member, "id"), member
                members.append(member)
            await repo.save_thread(
                Thread(
                    id=new_thread_id(),
                    tag=f"{n:03d}"[-3:],
                    officer_id=members[0].id,
                    helper_id=members[1].id,
                    officer_alias="Quiet Heron",
                    category=Category.STRESS,
                    urgent=False,
                    opened_at=now,
                )
            )
    finally:
        await repo.close()
