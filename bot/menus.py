"""Keeping each chat's own command menu as it should be, in the background.

`MenuKeeper.want` asks for a chat's menu and returns at once; a task per chat sets it at the
lowest priority (so a menu never delays a relay), and the latest wish wins if several arrive
while one is in flight. What each chat shows is remembered in memory only and bounded: after a
restart, or when a set failed, the next wish for that chat sets it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from bot.delivery import Priority, sending
from bot.events import Address, DeliveryError, Menu, SupportsMenus
from bot.logs import where

__all__ = ["MenuKeeper"]

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 50_000


class MenuKeeper:
    def __init__(self, max_remembered: int = _MAX_REMEMBERED) -> None:
        self._max = max_remembered
        self._shown: OrderedDict[bytes, Menu] = OrderedDict()  # chat key -> its menu, as set
        self._wanted: dict[bytes, tuple[Address, Menu]] = {}
        self._tasks: dict[bytes, asyncio.Task[None]] = {}
        self.failures = 0  # sets that failed (for tests; logged by type only)

    def shown(self, key: bytes) -> Menu | None:
        """The menu last set for this chat by this process, or None if unknown."""
        return self._shown.get(key)

    def want(self, platform: object, key: bytes, to: Address, menu: Menu) -> None:
        """`to` (whose lookup key is `key`) should see `menu`; () removes their own menu.
        Nothing is sent when this process already set exactly that, or when `platform` has
        no menus."""
        if not isinstance(platform, SupportsMenus):
            return
        task = self._tasks.get(key)
        busy = task is not None and not task.done()
        if not busy and self._shown.get(key) == menu:
            self._shown.move_to_end(key)
            return
        self._wanted[key] = (to, menu)
        if not busy:
            started = asyncio.create_task(self._apply(platform, key), name="menu")
            self._tasks[key] = started
            started.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: bytes, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]

    async def _apply(self, platform: SupportsMenus, key: bytes) -> None:
        with sending(Priority.BACKGROUND):
            while (wanted := self._wanted.pop(key, None)) is not None:
                to, menu = wanted
                if self._shown.get(key) == menu:
                    continue
                self._shown.pop(key, None)  # unknown until the platform has it
                try:
                    await platform.set_menu(to, menu)
                except DeliveryError as exc:
                    if not exc.stopped:
                        self.failures += 1
                        log.warning("command menu not set (permanent=%s)", exc.permanent)
                    continue
                except Exception as exc:
                    self.failures += 1
                    log.error("command menu not set: %s at %s", type(exc).__name__, where(exc))
                    continue
                self._shown[key] = menu
                while len(self._shown) > self._max:
                    self._shown.popitem(last=False)

    async def settled(self, key: bytes | None = None) -> None:
        """Wait until every menu asked for (for the chat `key`, if given) has been tried."""

        def pending() -> list[asyncio.Task[None]]:
            tasks = self._tasks.items()
            return [t for k, t in tasks if not t.done() and (key is None or k == key)]

        while waiting := pending():
            await asyncio.gather(*waiting, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._wanted.clear()
