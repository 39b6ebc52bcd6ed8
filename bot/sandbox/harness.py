"""A whole Peerline on this machine: the real app and the real PTB against the local Bot API.

Used by `peerline demo` and by the end-to-end tests. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import App, crisis_words, utc_now
from bot.catalog import EN, Catalog
from bot.config import (
    Config,
    CryptoConfig,
    LoggingConfig,
    ProgramConfig,
    RoutingConfig,
    SignalConfig,
    StorageConfig,
    TelegramConfig,
)
from bot.delivery import RateLimits
from bot.events import Transport
from bot.i18n import catalogs_for
from bot.invites import create_invites
from bot.model import HELPER_ROLES, Role
from bot.sandbox.faults import FaultPlan
from bot.sandbox.signal_api import LocalSignalApi, SignalUser
from bot.sandbox.telegram_api import LocalBotApi, SimUser
from bot.transports.signal import SignalTransport
from bot.transports.telegram import TelegramTransport, Webhook
from crypto import generate_key_file, load_master_key
from handlers import menus
from handlers.dispatch import build_router


def sandbox_config(
    directory: Path, api: LocalBotApi, signal: LocalSignalApi | None = None, **routing: object
) -> Config:
    return Config(
        signal=SignalConfig(enabled=True, service=signal.service, number=signal.number)
        if signal is not None
        else SignalConfig(),
        program=ProgramConfig(name="Sandbox Peer Support"),
        telegram=TelegramConfig(
            token=api.token,
            base_url=api.base_url,
            base_file_url=api.base_file_url,
            bot_username=api.bot_username,
            poll_timeout=1.0,
        ),
        storage=StorageConfig(path=directory / "peerline.db"),
        crypto=CryptoConfig(key_file=directory / "master.key"),
        routing=replace(RoutingConfig(), **routing),  # type: ignore[arg-type]
        logging=LoggingConfig(level="INFO", file=directory / "peerline.log"),
        source=directory / "config.toml",
    )


class Sandbox:
    """Starts a local Bot API and Peerline against it; creates people who have joined."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        api: LocalBotApi | None = None,
        signal: LocalSignalApi | bool = False,
        limits: RateLimits = RateLimits(1000.0, 1000.0, 1000.0, chat_burst=1000),  # noqa: B008 - frozen
        signal_limits: RateLimits | None = None,
        flood_wait_cap: float | None = None,
        webhook: Webhook | None = None,
        faults: FaultPlan | None = None,
        **routing: object,
    ) -> None:
        """`limits` default to far above Telegram's: the local Bot API has none, and tests send
        many messages to one chat; `signal_limits`, when given, pace Signal differently (a slow
        outbound side). `flood_wait_cap` shortens flood waits (see
        TelegramTransport). `faults` has both stand-ins inject seeded faults (switched on with
        `faults.active`) and bounds every call of both transports by its timeout."""
        self.limits = limits
        self.signal_limits = signal_limits or limits
        self.faults = faults
        self.flood_wait_cap = flood_wait_cap
        self.webhook = webhook  # Telegram in webhook mode instead of polling
        self.directory = directory
        self.clock = clock
        self.api = api or LocalBotApi()
        # A Signal gateway stand-in beside the Bot API one, when asked for.
        self.signal: LocalSignalApi | None = (
            signal if isinstance(signal, LocalSignalApi) else LocalSignalApi() if signal else None
        )
        self.signal_transport: SignalTransport | None = None
        self.api.faults = faults
        if self.signal is not None:
            self.signal.faults = faults
        self._signal_up = True
        self._routing = routing
        self._user_ids = itertools.count(1_000_001)
        self.app: App | None = None
        self.config: Config | None = None

    async def start(self, *, signal_up: bool = True) -> None:
        """Start the stand-ins and Peerline; `signal_up=False` leaves the Signal gateway down
        (start it later with `sandbox.signal.start()`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        await self.api.start()
        self._signal_up = signal_up
        if self.signal is not None and signal_up:
            await self.signal.start()
        self.config = sandbox_config(self.directory, self.api, self.signal, **self._routing)
        if not self.key_file.exists():
            generate_key_file(self.key_file)
        await self.start_app()

    @property
    def key_file(self) -> Path:
        return self.directory / "master.key"

    def _config(self) -> Config:
        if self.config is None:
            raise RuntimeError("the sandbox is not started")
        return self.config

    async def start_app(self) -> None:
        """Start (or, after `stop_app`, restart) Peerline against the same database."""
        config = self._config()
        telegram = TelegramTransport(
            config.telegram.token,
            base_url=config.telegram.base_url,
            base_file_url=config.telegram.base_file_url,
            poll_timeout=config.telegram.poll_timeout,
            retry_base_delay=0.05,
            default_menus=menus.stranger_menus(catalogs_for(config)),
            limits=self.limits,
            flood_wait_cap=self.flood_wait_cap,
            webhook=self.webhook,
            request_timeout=self.faults.timeout if self.faults else None,
        )
        transports: list[Transport] = [telegram]
        connections = self.signal.connections if self.signal is not None else 0
        if self.signal is not None:
            self.signal_transport = SignalTransport(
                config.signal.service,
                config.signal.number,
                commands=build_router().commands,
                choose_hint=EN.signal_choose_hint,
                crisis_hint=EN.signal_crisis_hint,
                command_words=crisis_words(catalogs_for(config)),
                retry_base_delay=0.05,
                reconnect_delay=0.05,
                max_reconnect_delay=0.5,
                limits=self.signal_limits,
                call_timeout=self.faults.timeout if self.faults else None,
            )
            transports.append(self.signal_transport)
        self.app = App(
            config,
            transports=transports,
            key=load_master_key(self.key_file),
            clock=self.clock,
        )
        await self.app.start()
        if self.signal is not None and self._signal_up:
            await self.signal.wait_connected(after=connections)

    async def stop_app(self) -> None:
        if self.app is not None:
            await self.app.stop()
            self.app = None

    async def stop(self) -> None:
        await self.stop_app()
        await self.api.stop()
        if self.signal is not None:
            await self.signal.stop()

    async def invite(self, role: Role, *, agency: str | None = None, count: int = 1) -> list[str]:
        if self.app is None or self.app.repo is None:
            raise RuntimeError("the sandbox is not running")
        helper = role in HELPER_ROLES
        certified = self.clock().date() + timedelta(days=365) if helper else None
        return await create_invites(
            self.app.repo,
            role=role,
            agency=agency,
            count=count,
            valid_for=timedelta(days=7),
            certified_until=certified,
            now=self.clock(),
        )

    def text(self, language: str = "en") -> Catalog:
        """What the bot says in `language`, with this sandbox's program name and crisis lines."""
        if self.app is None:
            raise RuntimeError("the sandbox is not running")
        return self.app.catalogs.get(language)

    def person(self, first_name: str) -> SimUser:
        return self.api.user(next(self._user_ids), first_name)

    async def join(
        self, first_name: str, role: Role, *, agency: str | None = None, available: bool = True
    ) -> SimUser:
        """A person who has redeemed an invite (and, for helpers, said /available)."""
        user = self.person(first_name)
        (code,) = await self.invite(role, agency=agency)
        await user.send(f"/start {code}")
        await user.wait_for("Welcome")
        if available and role in HELPER_ROLES:
            await user.send("/available")
            await user.wait_for("You're available")
        return user

    def signal_person(
        self, name: str, *, number: str | None = None, has_uuid: bool = True
    ) -> SignalUser:
        if self.signal is None:
            raise RuntimeError("this sandbox has no Signal gateway (Sandbox(signal=True))")
        return self.signal.user(name, number=number, has_uuid=has_uuid)

    async def join_signal(
        self,
        name: str,
        role: Role,
        *,
        agency: str | None = None,
        available: bool = True,
        number: str | None = None,
        has_uuid: bool = True,
    ) -> SignalUser:
        """A Signal user who has sent their invite code (alone, as Signal has no deep links)
        and, for helpers, said "available" (without the slash)."""
        user = self.signal_person(name, number=number, has_uuid=has_uuid)
        (code,) = await self.invite(role, agency=agency)
        await user.send(code)
        await user.wait_for("Welcome")
        if available and role in (Role.PEER, Role.CHAPLAIN):
            await user.send("available")
            await user.wait_for("You're available")
        return user
