"""How sends are paced, ordered and retried, for every transport (no platform library here).

- `Priority` says which sends go first when a rate limit binds: relays and crisis lines before
  replies, replies before status updates and answers to strangers. Handlers set it for a block
  of code with `sending(Priority.X)`; transports read `current_priority()` (a context variable,
  so it follows the handler into every send it makes without changing the `Messenger` seam).
- `Pacer` enforces the limits: one overall bucket shared by all chats (served in priority
  order) and one bucket per chat. A flood wait on a chat holds that chat only.
- `ChatSlots` bounds how many chats a transport has in its sink at once; a send waiting for its
  turn in the `Pacer` lends its chat's slot to another chat meanwhile (a chat held only by
  pacing or a flood wait must not keep a newcomer's chat out).
- `StrangerGate` lets a stranger be answered at most once per window (memory only).
- `backoff()` is the retry delay shared by transports and the notice loop.
- `HandledLedger` is where a transport keeps, across a crash, the ids of updates it handled
  above its confirm point while some chat is stuck, and who has spilled updates in hand (ids
  and sealed addresses only, never content).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "SIGNAL_LIMITS",
    "TELEGRAM_LIMITS",
    "ChatSlots",
    "HandledLedger",
    "NotHandledError",
    "Pacer",
    "Priority",
    "RateLimits",
    "StrangerGate",
    "SupportsLedger",
    "backoff",
    "current_priority",
    "sending",
]


class Priority(enum.IntEnum):
    """Lower goes first."""

    RELAY = 0  # a person's words on their way to the other side, and crisis lines
    REPLY = 1  # an answer to what a member just did
    BACKGROUND = 2  # status updates from the clock, answers to strangers


_priority: ContextVar[Priority] = ContextVar("send_priority", default=Priority.REPLY)


def current_priority() -> Priority:
    return _priority.get()


@contextlib.contextmanager
def sending(priority: Priority) -> Iterator[None]:
    """Sends made inside this block (and in tasks it starts) carry `priority`."""
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


class ChatSlots:
    """At most `size` chats in a transport's sink at once. A chat takes a slot for each event
    with `async with slots.held():`; while a send made for that event waits in a `Pacer` (its
    chat's pace, a flood wait, the overall pace), the slot is lent to another chat and taken
    back before the send goes. Only the task that took the slot lends it: tasks the handler
    starts inherit the context but not the slot."""

    def __init__(self, size: int) -> None:
        self._free = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        lease = _Lease(self._free, asyncio.current_task())
        await self._free.acquire()
        lease.held = True
        token = _lease.set(lease)
        try:
            yield
        finally:
            _lease.reset(token)
            if lease.held:
                self._free.release()


@dataclass(slots=True)
class _Lease:
    free: asyncio.Semaphore
    owner: asyncio.Task[object] | None
    held: bool = False


_lease: ContextVar[_Lease | None] = ContextVar("chat_slot", default=None)


@contextlib.asynccontextmanager
async def _slot_lent() -> AsyncIterator[None]:
    """While waiting for a turn: let another chat use this one's slot."""
    lease = _lease.get()
    if lease is None or not lease.held or lease.owner is not asyncio.current_task():
        yield
        return
    lease.free.release()
    lease.held = False
    try:
        yield
    finally:
        await lease.free.acquire()  # if cancelled here, `held` stays False: nothing leaks
        lease.held = True


class NotHandledError(Exception):
    """Raised through a transport's sink when an event could not be handled for lack of a way
    to answer (the transport is stopping): the transport must not confirm it, so the platform
    delivers it again after the restart."""


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): doubling, capped."""
    return min(cap, base * 2.0 ** max(0, attempt - 1))


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Sends allowed. Telegram documents about 30 messages a second overall, one a second in
    one chat (short bursts are tolerated) and 20 a minute in one group."""

    overall_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    chat_burst: int = 3  # sends a chat may take at once before its per-second rate applies

    def __post_init__(self) -> None:
        for name in ("overall_per_second", "per_chat_per_second", "per_group_per_minute"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number")
        if self.chat_burst < 1:
            raise ValueError("chat_burst must be at least 1")


TELEGRAM_LIMITS = RateLimits()
# Signal publishes no rate limits; the gateway answers 429 when its server objects. These keep
# a burst (a clock tick offering a batch, a long text in pieces) well under that.
SIGNAL_LIMITS = RateLimits(overall_per_second=10.0, per_chat_per_second=2.0, chat_burst=5)


class _Bucket:
    """A token bucket: `rate` tokens a second, at most `capacity` saved up."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0 if there is one now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.capacity


@dataclass(slots=True)
class _ChatState:
    bucket: _Bucket
    held_until: float = 0.0


_MAX_CHAT_STATES = 10_000  # chats remembered; idle ones with a full bucket are forgotten


class Pacer:
    """Decides when a send may go: first its chat's turn (its own bucket, and any flood wait
    on that chat), then a token from the overall bucket, handed out in priority order."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._overall = _Bucket(
            limits.overall_per_second, max(1.0, limits.overall_per_second), clock()
        )
        self._chats: OrderedDict[str, _ChatState] = OrderedDict()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._server: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def _chat(self, chat: str, *, group: bool) -> _ChatState:
        state = self._chats.get(chat)
        if state is None:
            now = self._clock()
            if group:
                bucket = _Bucket(self.limits.per_group_per_minute / 60.0, 1.0, now)
            else:
                burst = float(self.limits.chat_burst)
                bucket = _Bucket(self.limits.per_chat_per_second, burst, now)
            state = self._chats[chat] = _ChatState(bucket)
            self._forget_idle(now)
        return state

    def _forget_idle(self, now: float) -> None:
        if len(self._chats) <= _MAX_CHAT_STATES:
            return
        for key in list(self._chats)[: len(self._chats) // 2]:
            state = self._chats[key]
            if state.held_until <= now and state.bucket.full(now):
                del self._chats[key]

    def hold(self, chat: str, seconds: float, *, group: bool = False) -> None:
        """A flood wait on `chat`: nothing goes to it for `seconds`; other chats go on."""
        state = self._chat(chat, group=group)
        state.held_until = max(state.held_until, self._clock() + seconds)

    @property
    def waiting(self) -> int:
        """Sends waiting for a token from the overall bucket."""
        return sum(not future.done() for _, _, future in self._waiting)

    def held_for(self, chat: str) -> float:
        state = self._chats.get(chat)
        return max(0.0, state.held_until - self._clock()) if state else 0.0

    async def turn(self, chat: str, priority: Priority, *, group: bool = False) -> None:
        """Wait until a send to `chat` may go; the caller sends right after."""
        state = self._chat(chat, group=group)
        while True:
            now = self._clock()
            wait = max(state.held_until - now, state.bucket.wait(now))
            if wait <= 0:
                state.bucket.tokens -= 1.0
                break
            async with _slot_lent():
                await asyncio.sleep(wait)
        await self._overall_token(priority)

    async def _overall_token(self, priority: Priority) -> None:
        if not self._waiting and self._overall.wait(self._clock()) == 0:
            self._overall.tokens -= 1.0
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(priority), next(self._order), future))
        if self._server is None or self._server.done():
            self._server = asyncio.create_task(self._serve(), name="pacer")
        self._wake.set()
        async with _slot_lent():
            await future

    async def _serve(self) -> None:
        """Hand out overall tokens to waiting sends, highest priority first."""
        while self._waiting:
            _, _, future = self._waiting[0]
            if future.done():  # its sender was cancelled
                heapq.heappop(self._waiting)
                continue
            wait = self._overall.wait(self._clock())
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()  # a higher priority may have arrived
                continue
            heapq.heappop(self._waiting)
            self._overall.tokens -= 1.0
            future.set_result(None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.cancel()
            await asyncio.gather(self._server, return_exceptions=True)
            self._server = None
        for _, _, future in self._waiting:
            future.cancel()
        self._waiting.clear()


class StrangerGate:
    """At most `allowance` answers per `window` seconds to each key (a stranger's address
    hash).

    Memory only and bounded: the oldest keys are forgotten first, so a flood from many
    accounts costs a fixed amount of memory.
    """

    def __init__(
        self,
        window: float,
        *,
        allowance: int = 1,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.window = window
        self.allowance = allowance
        self._clock = clock
        self._max_keys = max_keys
        self._answered: OrderedDict[bytes, tuple[float, int]] = OrderedDict()
        self.suppressed = 0  # answers not given (a counter for tests and logs)

    def refusing(self, key: bytes) -> bool:
        """True while `key` has used its answers for this window (nothing is counted)."""
        entry = self._answered.get(key)
        if entry is None:
            return False
        started, count = entry
        return count >= self.allowance and self._clock() - started < self.window

    def forget(self, key: bytes) -> None:
        """`key` is no stranger any more (they joined)."""
        self._answered.pop(key, None)

    def allow(self, key: bytes) -> bool:
        now = self._clock()
        started, count = self._answered.pop(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        self._answered[key] = (started, count + 1)
        while len(self._answered) > self._max_keys:
            self._answered.popitem(last=False)
        if count >= self.allowance:
            self.suppressed += 1
            return False
        return True


class HandledLedger(Protocol):
    """What a transport keeps across a crash about updates it holds (ids only): the ids it
    handled above its confirm point, and who has spilled updates in hand (updates confirmed
    before they were handled, so that newer ones could be fetched)."""

    async def handled_updates(self, platform: str) -> set[int]: ...

    async def keep_handled_updates(self, platform: str, ids: Collection[int]) -> None:
        """Replace the stored ids of `platform` with `ids` (empty removes them all)."""
        ...

    async def record_spilled(self, platform: str, chat_ids: Collection[str]) -> dict[str, str]:
        """Durably note that these chats have spilled updates in hand; chat id -> row id."""
        ...

    async def forget_spilled(self, rows: Collection[str]) -> None:
        """Their spilled updates are handled: drop these rows."""
        ...


@runtime_checkable
class SupportsLedger(Protocol):
    def use_ledger(self, ledger: HandledLedger) -> None: ...
