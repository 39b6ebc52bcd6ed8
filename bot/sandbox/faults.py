"""Seeded faults for the local stand-ins: what each call to a chat meets.

A `FaultPlan` is shared by the Bot API and the Signal gateway stand-ins. Each call aimed at a
chat (a send, a copy, an edit; on Telegram also `getUpdates`) asks `decide(platform, chat)`,
which answers from the seed, the chat and how many calls that chat has had: a chat's n-th call
meets the same fault in every run with the same seed, whatever the other chats do meanwhile.

What a call can meet:
- `RATE_LIMITED`: 429 with a retry-after, and the next few calls to that chat too (a storm);
- `SERVER_ERROR`: 5xx, and possibly the next few calls to that chat too (an outage that can
  outlast a send's five tries);
- `LATE`: the call is carried out (the message is delivered) but answered only after the
  client's timeout, so the client sees a timeout and tries again;
- `HUNG`: the connection is accepted and never answered; nothing is delivered.

Blocked chats (403) are not drawn per call: a scenario blocks a person at a chosen moment
(`LocalBotApi.block`), as a person does.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections import Counter
from dataclasses import dataclass

__all__ = ["Fault", "FaultPlan", "FaultRates"]


class Fault(enum.Enum):
    NONE = "none"
    RATE_LIMITED = "429"
    SERVER_ERROR = "5xx"
    LATE = "late answer"
    HUNG = "hung"


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Chances per call (0 to 1) that a call starts each fault, and how long runs last."""

    storm: float = 0.02  # a 429 storm on that chat starts
    storm_calls: tuple[int, int] = (1, 4)  # calls answered 429 in a row
    retry_after: tuple[int, int] = (1, 2)  # seconds each 429 asks for
    outage: float = 0.03  # a 5xx run on that chat starts
    outage_calls: tuple[int, int] = (1, 7)  # 5 or more outlast a send's five tries
    late: float = 0.02
    hung: float = 0.01
    polls: float = 0.05  # a getUpdates call fails (5xx), for Telegram's receiving side

    def __post_init__(self) -> None:
        total = self.storm + self.outage + self.late + self.hung
        if not 0 <= total <= 1 or not 0 <= self.polls <= 1:
            raise ValueError("fault chances must add up to at most 1")


@dataclass(slots=True)
class _Run:
    fault: Fault
    left: int
    retry_after: int | None


class FaultPlan:
    """Decides, per call, which fault a stand-in injects. `timeout` is the clients' per-call
    timeout: a late answer comes `late_by` seconds after it; a hung call is never answered
    (`hang`), until the stand-in stops."""

    def __init__(self, seed: int, rates: FaultRates | None = None, *, timeout: float) -> None:
        self.seed = seed
        self.rates = rates or FaultRates()
        self.timeout = timeout
        self.late_by = timeout * 0.5 + 0.5
        self.active = False  # switched on by the scenario once everyone is connected
        self.injected: Counter[tuple[str, Fault]] = Counter()  # (platform, fault) -> calls
        self._calls: Counter[tuple[str, str]] = Counter()
        self._runs: dict[tuple[str, str], _Run] = {}

    def decide(self, platform: str, chat: str) -> tuple[Fault, int | None]:
        """The fault this call meets, and a retry-after in seconds for a 429."""
        if not self.active:
            return Fault.NONE, None
        key = (platform, chat)
        n = self._calls[key]
        self._calls[key] += 1
        fault, retry_after = self._draw(key, n)
        if fault is not Fault.NONE:
            self.injected[(platform, fault)] += 1
        return fault, retry_after

    def _draw(self, key: tuple[str, str], n: int) -> tuple[Fault, int | None]:
        run = self._runs.get(key)
        if run is not None:
            run.left -= 1
            if run.left <= 0:
                del self._runs[key]
            return run.fault, run.retry_after
        draw = random.Random(f"{self.seed}/{key[0]}/{key[1]}/{n}")  # noqa: S311 - not secret
        rates = self.rates
        x = draw.random()
        if key[1] == "getUpdates":
            return (Fault.SERVER_ERROR, None) if x < rates.polls else (Fault.NONE, None)
        for fault, chance in (
            (Fault.RATE_LIMITED, rates.storm),
            (Fault.SERVER_ERROR, rates.outage),
            (Fault.LATE, rates.late),
            (Fault.HUNG, rates.hung),
        ):
            if x < chance:
                return self._start(key, fault, draw)
            x -= chance
        return Fault.NONE, None

    def _start(
        self, key: tuple[str, str], fault: Fault, draw: random.Random
    ) -> tuple[Fault, int | None]:
        rates = self.rates
        if fault is Fault.RATE_LIMITED:
            retry_after = draw.randint(*rates.retry_after)
            calls = draw.randint(*rates.storm_calls)
        elif fault is Fault.SERVER_ERROR:
            retry_after = None
            calls = draw.randint(*rates.outage_calls)
        else:
            return fault, None
        if calls > 1:
            self._runs[key] = _Run(fault, calls - 1, retry_after)
        return fault, retry_after

    @staticmethod
    async def hang() -> None:
        """Accepted, never answered: wait until the stand-in's server cancels this call."""
        await asyncio.get_running_loop().create_future()

    def total(self, fault: Fault | None = None) -> int:
        return sum(n for (_, f), n in self.injected.items() if fault in (None, f))
