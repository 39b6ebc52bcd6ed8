"""Waiting until a stand-in has finished what a killed client sent it.

A SIGKILLed bot's last requests can sit in the stand-in's sockets after the process is gone;
the stand-in (in the test's event loop) handles them a moment later. A crash harness that
counts what people received "before the kill" must wait for those first, or it files them
under the next run and sees a restarted bot's resend as a second copy in one run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

_BOUND = 30.0  # seconds: a stand-in answers any call sooner, faults included

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Handling:
    """Counts requests being handled, except long waits (a long poll, a receive socket) that
    deliver nothing to anyone and may outlive their client by their own timeout."""

    def __init__(self, is_long_wait: Callable[[web.Request], bool]) -> None:
        self.count = 0
        self._is_long_wait = is_long_wait

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._is_long_wait(request):
            return await handler(request)
        self.count += 1
        try:
            return await handler(request)
        finally:
            self.count -= 1

    def busy(self) -> bool:
        # Open connections are not waited for: aiohttp reads no more from a connection while
        # it handles a request on it, so a long poll keeps a dead client's connection until its
        # own timeout. A request already read is being handled (counted); one still in the
        # socket is read at the next turns of the loop, before `settle` has seen two quiet
        # checks.
        return self.count > 0


class StandIn(Protocol):
    def busy(self) -> bool:
        """A request (long waits aside) is being handled."""
        ...


async def settle(*stand_ins: StandIn) -> None:
    """Returns once none of `stand_ins` is busy, seen twice in a row a few loop turns apart.
    Call it after the clients' process has died: every request it had sent is then answered
    (and whatever it delivered is in the people's chats). Not for use with the `hung` fault
    (bot.sandbox.faults): a call never answered keeps its stand-in busy until the bound."""
    async with asyncio.timeout(_BOUND):
        calm = 0
        while calm < 2:
            await asyncio.sleep(0.02)
            calm = 0 if any(s.busy() for s in stand_ins) else calm + 1
