"""The composition root: the one place that builds and runs everything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import keyrotation
from bot.config import Config
from bot.delivery import SIGNAL_LIMITS, TELEGRAM_LIMITS, RateLimits, SupportsLedger
from bot.events import Address, Platform, Reply, Sent, SupportsMenus, Transport
from bot.filemodes import require_private_database
from bot.i18n import Catalogs, catalogs_for
from bot.logs import cap_noisy_loggers, where
from bot.relay import RelayEngine
from bot.runlock import RunLock
from bot.storage.integrity import KeyMismatchError
from bot.storage.repository import Repository
from crypto import MasterKey, Vault, load_master_key, master_key_from_text
from handlers import menus, offers, program, recovery
from handlers.base import ChoiceCodec, Services
from handlers.dispatch import Dispatcher, build_router

if TYPE_CHECKING:
    from bot.transports.telegram import Webhook

log = logging.getLogger(__name__)


class TransportFailedError(RuntimeError):
    """A transport can no longer receive anything; running on would leave people unanswered."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_key(config: Config) -> MasterKey:
    """The master key: from PEERLINE_MASTER_KEY if set, else from the key file."""
    if config.crypto.key_text:
        return master_key_from_text(config.crypto.key_text, source="PEERLINE_MASTER_KEY")
    if config.crypto.key_file is None:
        raise ValueError("no master key: set [crypto] key_file or PEERLINE_MASTER_KEY")
    return load_master_key(config.crypto.key_file)


class PlatformMessenger:
    """Sends through whichever transport serves the recipient's platform."""

    def __init__(self, transports: Sequence[Transport]) -> None:
        self._by_platform: dict[Platform, Transport] = {t.platform: t for t in transports}

    def _for(self, address: Address) -> Transport:
        transport = self._by_platform.get(address.platform)
        if transport is None:
            raise LookupError(f"no transport for {address.platform.value}")
        return transport

    async def send(self, to: Address, reply: Reply) -> Sent:
        return await self._for(to).send(to, reply)

    async def edit(self, sent: Sent, reply: Reply) -> None:
        await self._for(sent.address).edit(sent, reply)

    async def copy(
        self, to: Address, source: Address, message_id: str, caption: str | None = None
    ) -> Sent:
        if to.platform is source.platform:
            return await self._for(to).copy(to, source, message_id, caption=caption)
        # Across platforms the media is read into memory from one and sent to the other; it
        # never touches the disk, and the reference is dropped as soon as it is sent.
        media = await self._for(source).fetch_media(source, message_id)
        return await self._for(to).send_media(to, media, caption)

    async def edit_copy(self, sent: Sent, text: str, *, is_caption: bool) -> None:
        await self._for(sent.address).edit_copy(sent, text, is_caption=is_caption)

    async def delete(self, sent: Sent) -> None:
        await self._for(sent.address).delete(sent)

    async def accept_identity(self, address: Address) -> None:
        await self._for(address).accept_identity(address)

    async def set_menu(self, to: Address, commands: Sequence[tuple[str, str]]) -> None:
        transport = self._for(to)
        if isinstance(transport, SupportsMenus):  # Signal has no menu: its /help lists them
            await transport.set_menu(to, commands)


def telegram_transport(config: Config, catalogs: Catalogs) -> Transport:
    from bot.transports.telegram import TelegramTransport  # noqa: PLC0415 - platform at the edge

    return TelegramTransport(
        config.telegram.token,
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.base_file_url,
        poll_timeout=config.telegram.poll_timeout,
        default_menus=menus.stranger_menus(catalogs),
        limits=telegram_limits(config),
        webhook=telegram_webhook(config),
    )


def telegram_webhook(config: Config) -> Webhook | None:
    telegram = config.telegram
    if telegram.mode != "webhook":
        return None
    from bot.transports.telegram import Webhook  # noqa: PLC0415 - platform at the edge

    host, _, port = telegram.webhook_listen.rpartition(":")
    return Webhook(
        url=telegram.webhook_url,
        host=host.strip("[]"),
        port=int(port),
        max_connections=telegram.webhook_connections,
    )


def telegram_limits(config: Config) -> RateLimits:
    return replace(
        TELEGRAM_LIMITS,
        overall_per_second=config.telegram.rate_overall,
        per_chat_per_second=config.telegram.rate_per_chat,
        per_group_per_minute=config.telegram.rate_per_group,
    )


def signal_limits(config: Config) -> RateLimits:
    return replace(
        SIGNAL_LIMITS,
        overall_per_second=config.signal.rate_overall,
        per_chat_per_second=config.signal.rate_per_chat,
    )


def signal_transport(config: Config, catalogs: Catalogs) -> Transport:
    from bot.transports.signal import SignalTransport  # noqa: PLC0415 - platform at the edge

    return SignalTransport(
        config.signal.service,
        config.signal.number,
        https=config.signal.https,
        limits=signal_limits(config),
        commands=build_router().commands,
        choose_hint=catalogs.default.signal_choose_hint,
        crisis_hint=catalogs.default.signal_crisis_hint,
        command_words=crisis_words(catalogs),
    )


def crisis_words(catalogs: Catalogs) -> dict[str, str]:
    """Every language's crisis word stands for /crisis on Signal, whatever the member's."""
    return {text.crisis_word: "crisis" for text in catalogs.by_language.values()}


class App:
    """Peerline, assembled. `start()` then `stop()`; or `run()` until a signal arrives."""

    def __init__(
        self,
        config: Config,
        *,
        transports: Sequence[Transport] | None = None,
        key: MasterKey | None = None,
        clock: Callable[[], datetime] = utc_now,
        tick_every: float | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.catalogs = catalogs_for(config)
        self._key = key
        self._transports = list(transports) if transports is not None else None
        self._started: list[Transport] = []
        self._tick_every = (
            tick_every if tick_every is not None else config.routing.clock_tick.total_seconds()
        )
        self._scheduler: AsyncIOScheduler | None = None
        self._wake_at: datetime | None = None  # when the check-in dispatcher is next woken
        self._followup_lock = asyncio.Lock()
        self._run_lock = RunLock(config.storage.path)
        # Present while running; still there at start-up only if the last run died.
        path = config.storage.path
        self._running_marker = path.with_name(path.name + ".running")
        self._announcing: asyncio.Task[int] | None = None
        self._telling_spilled: asyncio.Task[int] | None = None
        self.repo: Repository | None = None
        self.services: Services | None = None
        self.dispatcher: Dispatcher | None = None

    @property
    def transports(self) -> list[Transport]:
        if self._transports is None:
            self._transports = []
            if self.config.telegram.enabled:
                self._transports.append(telegram_transport(self.config, self.catalogs))
            if self.config.signal.enabled:
                self._transports.append(signal_transport(self.config, self.catalogs))
        return self._transports

    async def start(self) -> None:
        cap_noisy_loggers()
        key = self._key or load_key(self.config)
        path = self.config.storage.path
        require_private_database(path)
        self._run_lock.acquire(
            exclusive=False,
            busy_message="a key rotation is running on this database; start again when it ends",
        )
        vault = Vault(key)
        try:
            self.repo = await Repository.open(path, vault)
        except KeyMismatchError:
            self._run_lock.release()
            raise KeyMismatchError(await keyrotation.mismatch_hint(self.config)) from None
        except BaseException:
            self._run_lock.release()
            raise
        refused = [m for m, _, state in await self.repo.unusable_members() if state == "refused"]
        if refused:
            log.warning(
                "%d member record(s) fail their integrity check and are refused;"
                " see `peerline roster list`",
                len(refused),
            )
        crashed = self._running_marker.exists()
        # Read before any transport starts: rows written from here on are this run's own.
        spilled = await self.repo.spilled_chats()
        self._running_marker.touch(mode=0o600)
        relay = RelayEngine()
        for thread in await self.repo.live_threads():
            relay.open(thread)
        self.services = Services(
            config=self.config,
            repo=self.repo,
            messenger=PlatformMessenger(self.transports),
            vault=vault,
            relay=relay,
            catalogs=self.catalogs,
            clock=self.clock,
            codec=ChoiceCodec(vault),
        )
        self.dispatcher = Dispatcher(self.services)
        log.info("restored %d live thread(s)", len(relay.threads))
        for transport in self.transports:
            if isinstance(transport, SupportsLedger):
                transport.use_ledger(self.repo)
            await transport.start(self.dispatcher.handle)
            self._started.append(transport)
            log.info("%s transport started", transport.platform.value)
        # The contact clock: open requests (and their offers) live in the database, so after a
        # restart the first tick picks up exactly where the last run stopped.
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self._tick_every,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.services.followups_changed = self.wake_followups_by
        if self.config.followups.enabled:
            # Check-ins: the table is the schedule; the scheduler only wakes the dispatcher at
            # the next due time, and a sweep catches any wake-up that was missed.
            self._scheduler.add_job(
                self.dispatch_followups,
                "interval",
                seconds=self.config.followups.sweep_every.total_seconds(),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        # The coverage forecast to coordinators, Monday morning in the program's time zone.
        self._scheduler.add_job(
            self.send_weekly_coverage,
            "cron",
            day_of_week="mon",
            hour=8,
            timezone=ZoneInfo(self.config.program.timezone),
            coalesce=True,
            misfire_grace_time=6 * 3600,
        )
        self._scheduler.start()
        if crashed and relay.threads:
            log.warning(
                "the last run did not stop cleanly; telling %d live conversation(s) again "
                "that they are open",
                len(relay.threads),
            )
            self._announcing = asyncio.create_task(offers.announce_open_threads(self.services))
        if spilled:
            log.warning(
                "the last run stopped with messages confirmed but not yet handled; telling "
                "%d person(s) to send anything important again",
                len({address for _, address in spilled}),
            )
            self._telling_spilled = asyncio.create_task(
                recovery.tell_spilled(self.services, spilled)
            )
        await self.tick()
        # Anything that fell due while the bot was down goes out at once, in the background, so
        # a long backlog does not hold up the start.
        self.wake_followups_by(self.clock())

    async def send_weekly_coverage(self) -> int:
        if self.services is None:
            return 0
        try:
            sent = await program.send_weekly_coverage(self.services)
        except Exception as exc:
            log.error("coverage forecast failed: %s at %s", type(exc).__name__, where(exc))
            return 0
        log.info("coverage forecast sent to %d coordinator(s)", sent)
        return sent

    async def dispatch_followups(self) -> int:
        """Send the check-ins that are due, then arm the wake-up for the next one."""
        if self.dispatcher is None or self.repo is None:
            return 0
        async with self._followup_lock:
            sent = await self.dispatcher.dispatch_followups()
            self._wake_at = None
            due = await self.repo.next_due()
        if due is not None:
            self.wake_followups_by(due)
        return sent

    def wake_followups_by(self, due: datetime) -> None:
        """Make sure the dispatcher wakes by `due` (a time on the app's clock)."""
        if self._scheduler is None or not self.config.followups.enabled:
            return
        if self._wake_at is not None and self._wake_at <= due:
            return
        self._wake_at = due
        # The app's clock may not be the wall clock (tests move it by hand): wait as long as
        # the app's clock says is left, counted from now on the wall clock.
        delay = max(due - self.clock(), timedelta(0))
        self._scheduler.add_job(
            self.dispatch_followups,
            "date",
            run_date=utc_now() + delay,
            id="followups-wake",
            replace_existing=True,
            misfire_grace_time=None,
        )

    @property
    def followups_wake_at(self) -> datetime | None:
        return self._wake_at

    async def tick(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.tick()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._announcing is not None:
            await asyncio.gather(self._announcing, return_exceptions=True)
            self._announcing = None
        if self._telling_spilled is not None:
            # Whoever is not told yet keeps their row, and is told after the next start.
            self._telling_spilled.cancel()
            await asyncio.gather(self._telling_spilled, return_exceptions=True)
            self._telling_spilled = None
        if self.services is not None:
            await self.services.menus.close()  # set again at each member's next message
            # Let a running clock step (and check-in dispatch) finish its sends while the
            # transports are still up.
            async with self.services.matching_lock, self._followup_lock:
                pass
        while self._started:
            transport = self._started.pop()
            try:
                await transport.stop()
            except Exception as exc:
                log.error(
                    "%s transport did not stop cleanly: %s at %s",
                    transport.platform.value,
                    type(exc).__name__,
                    where(exc),
                )
        if self.repo is not None:
            if self.services is not None:
                # A clock step or an accept may still be running: let it finish its writes.
                async with self.services.matching_lock:
                    await self.repo.close()
            else:
                await self.repo.close()
            self.repo = None
            self._running_marker.unlink(missing_ok=True)  # stopped cleanly
        self._run_lock.release()
        log.info("stopped")

    async def run(self) -> None:
        """Run until SIGINT or SIGTERM, then shut down cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            log.info("Peerline is running; press Ctrl-C to stop")
            waits = [asyncio.ensure_future(stop.wait())]
            waits += [asyncio.ensure_future(t.failed.wait()) for t in self.transports]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            broken = [t.platform.value for t in self.transports if t.failed.is_set()]
            if broken and not stop.is_set():
                raise TransportFailedError(
                    f"the {', '.join(broken)} connection failed for good "
                    "(token revoked, or polling stopped: see the log)"
                )
        finally:
            await self.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)
