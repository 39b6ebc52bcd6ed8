"""The Telegram adapter: PTB updates in, normalized `Incoming` out; `Reply` in, messages out.

Only private chats are served. Updates from one chat reach the sink strictly in order (one
worker per chat), while different chats proceed concurrently, so one slow conversation never
holds up the others.

Polling is our own (not PTB's Updater), so that an update is confirmed to Telegram only once it
has been handled, each update is parsed once and on its own (one Telegram cannot be parsed is
logged by id, counted and confirmed past), and a chat stuck in a flood wait leaves the others
running. Sends are paced by `bot.delivery.Pacer` (overall, per chat, per group; priorities).

Nothing here logs message content or chat ids: failures are logged by error class and method.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import functools
import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.delivery import (
    ChatSlots,
    HandledLedger,
    NotHandledError,
    Pacer,
    Priority,
    RateLimits,
    backoff,
    current_priority,
    sending,
)
from bot.events import (
    CAPTIONED_MEDIA,
    MEDIA_KINDS,
    UNSUPPORTED_MEDIA,
    Address,
    DeliveryError,
    EventSink,
    Incoming,
    Kind,
    Media,
    MediaFile,
    NotRelayableError,
    Platform,
    Reply,
    Sent,
)
from bot.logs import where
from bot.transports.aiohttp_request import AiohttpRequest

__all__ = ["UNSUPPORTED", "TelegramStartError", "TelegramTransport", "Webhook", "webhook_secret"]

# Opt in to PTB's future `datetime.timedelta` time periods. Without it PTB emits a deprecation
# warning whenever it builds a RetryAfter (which the test-suite turns into an error).
os.environ.setdefault("PTB_TIMEDELTA", "true")

_log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_ATTEMPTS = 5  # tries per delivery through server errors: about 8 s of backoff
_MAX_CONCURRENT_CHATS = 32  # chats in the sink at once (not counting those waiting on a pace)
# Seconds stop() waits for queued events to be handled. An event cut off is not lost (its update
# is confirmed only once handled, so Telegram sends it again after the restart), but it may be
# handled twice, so stop waits for ordinary deliveries, flood waits of a few seconds included.
_DRAIN_TIMEOUT = 15.0
_POLL_LIMIT = 100  # updates per getUpdates, Telegram's maximum
# While a chat is stuck, Telegram re-sends the updates from the stuck one on; ask again at most
# this often (they are skipped by id, not parsed again).
_STUCK_POLL_INTERVAL = 0.5
# BadRequest descriptions meaning the person is unreachable for good.
_GONE = ("chat not found", "peer_id_invalid", "user not found", "user is deactivated")
# Command menus are paced as one lane of their own: never a turn taken from a person's chat.
_MENU_LANE = "menus"
_ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]

# Checked in this order: an animation also carries `document`.
_MEDIA_KINDS = ("animation", *(kind for kind in MEDIA_KINDS if kind != "animation"))
_CAPTIONED = CAPTIONED_MEDIA
UNSUPPORTED = UNSUPPORTED_MEDIA  # media_kind of content that cannot be relayed (poll, dice, ...)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

# Media refs (file ids) of recent incoming messages, so their media can be fetched into memory
# for a person on another platform. In memory only; file ids carry no content.
_REMEMBERED_MEDIA = 1000
# Kinds with a file another platform can show; stickers, locations and contacts cannot cross.
_FILE_KINDS = frozenset(
    {"photo", "voice", "audio", "video", "video_note", "animation", "document"}
)


@dataclass(frozen=True, slots=True)
class _MediaRef:
    kind: str
    file_id: str
    file_name: str
    content_type: str


class TelegramStartError(RuntimeError):
    """The transport could not start (bad token, unreachable Bot API). Carries no token."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """Webhook mode: Telegram POSTs each update to `url` (public, https, behind a proxy that
    forwards to `listen`). Each POST is answered 200 only once its update has been handled."""

    url: str
    host: str = "127.0.0.1"
    port: int = 8081
    max_connections: int = 10

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
_REMEMBERED_DONE = 10_000  # webhook update ids handled lately: a re-sent one is answered 200


def webhook_secret(token: str) -> str:
    """The secret Telegram sends with every webhook POST: derived from the bot token, so it
    changes when the token is rotated and is never stored (Telegram allows [A-Za-z0-9_-])."""
    return hashlib.blake2b(token.encode(), person=b"peerline-webhook", digest_size=32).hexdigest()


class _PollingBot(ExtBot[None]):
    """An ExtBot that can fetch updates as raw JSON, so each one is parsed on its own and
    updates already in hand are skipped without being parsed again."""

    async def fetch_updates(
        self, offset: int | None, wait: float, read_timeout: float
    ) -> list[object]:
        data: dict[str, object] = {
            "timeout": wait,
            "limit": _POLL_LIMIT,
            "allowed_updates": _ALLOWED_UPDATES,
        }
        if offset is not None:
            data["offset"] = offset
        result = await self._post("getUpdates", data, read_timeout=read_timeout + wait)
        return list(result) if isinstance(result, list) else []


@dataclass(slots=True)
class PollStats:
    """Counters for tests and benchmarks (no ids, no content)."""

    polls: int = 0  # getUpdates calls that answered
    parsed: int = 0  # updates parsed (each at most once in normal operation)
    poison: int = 0  # updates that could not be understood, confirmed past
    skipped: int = 0  # updates fetched again while a chat was stuck, skipped by id
    replay_skipped: int = 0  # updates handled before a crash, skipped after the restart
    spills: int = 0  # times updates in hand were confirmed early (see _spill)
    spilled: int = 0  # updates so confirmed


@dataclass(frozen=True, slots=True)
class _Job:
    incoming: Incoming
    callback_query_id: str = ""  # answered before the sink sees the choice
    update_id: int = -1  # confirmed to Telegram only once this job is done


@dataclass(slots=True)
class _Inflight:
    """Updates fetched and not yet handled: Telegram keeps (and re-sends) every update from the
    lowest of these on, so a crash loses nothing it was sent."""

    since: dict[int, float] = field(default_factory=dict)  # update id -> loop time fetched
    seen: set[int] = field(default_factory=set)  # fetched ids at or above the confirm point
    top: int | None = None  # highest id fetched
    confirmed: int | None = None  # the offset Telegram last acknowledged
    # In hand but confirmed early, so newer updates could be fetched: update id -> chat. Not
    # held by Telegram any more; who has them is in the ledger until they are handled.
    spilled: dict[int, str] = field(default_factory=dict)
    chat_of: dict[int, str] = field(default_factory=dict)  # in hand, queued for a chat worker

    def offset(self) -> int | None:
        if self.since:
            return min(self.since)
        return None if self.top is None else self.top + 1

    def handled_unconfirmed(self) -> set[int]:
        return {u for u in self.seen if u not in self.since and u not in self.spilled}


def _seconds(value: float | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class TelegramTransport:
    """A `Transport` over the Telegram Bot API (long polling) using python-telegram-bot."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        base_file_url: str | None = None,
        poll_timeout: float = 10.0,
        retry_base_delay: float = 0.5,
        default_menus: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (),
        limits: RateLimits | None = None,
        flood_wait_cap: float | None = None,
        poll_around_after: float = 1.0,
        stuck_after: float = 10.0,
        webhook: Webhook | None = None,
        request_timeout: float | None = None,
        pacing_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`request_timeout`, when set, is the longest a Bot API call may go unanswered (by
        default PTB's: 5 s to connect, 5 s to write plus 5 s to read); a call not answered by
        then counts as failed and is tried again.
        `flood_wait_cap`, when set, is the longest single sleep on a flood wait before the
        send is tried again (tests use it to keep a 60 s storm short; Telegram answers 429
        again while its wait is still in force). Polling waits for what it fetched to be
        handled, up to `poll_around_after` seconds; past that it polls around the update still
        in hand. After `stuck_after` seconds in hand its chat counts as stuck, and the ids
        handled above it are written to the ledger (never sooner: a slow moment under load
        must not put a disk write on the relay path).
        `pacing_clock` is the clock the rate limits are counted on (tests step it by hand).

        `default_menus` are the menus of everyone without their own (strangers), set at start:
        (language code, commands) pairs, "" for every language without its own."""
        self._token = token
        self._default_menus = tuple((lang, tuple(commands)) for lang, commands in default_menus)
        self._base_url = base_url
        self._base_file_url = base_file_url
        self._poll_timeout = poll_timeout
        self._retry_base_delay = retry_base_delay
        self._flood_wait_cap = flood_wait_cap
        self._poll_around_after = poll_around_after
        self._stuck_after = stuck_after
        self._request_timeout = request_timeout
        self.limits = limits or RateLimits()
        self._pacing_clock = pacing_clock
        self._pacer = Pacer(self.limits, pacing_clock)
        self._app: AnyApplication | None = None
        self._sink: EventSink | None = None
        self._lifecycle = asyncio.Lock()
        self._pending: dict[str, deque[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._slots = ChatSlots(_MAX_CONCURRENT_CHATS)
        self._inflight = _Inflight()
        self._enqueued: set[int] = set()  # update ids that became jobs during process_update
        self._progress = asyncio.Event()
        self._last_poll = 0.0  # loop time of the last getUpdates
        self._last_fresh = 0  # new updates it brought
        self._last_full = False  # it brought a whole window: newer updates may be waiting
        self._poller: asyncio.Task[None] | None = None
        self._failed = asyncio.Event()
        self._media_refs: OrderedDict[tuple[str, str], _MediaRef] = OrderedDict()
        self._ledger: HandledLedger | None = None
        self._ledger_kept: set[int] = set()  # what the ledger holds now
        self._ledger_wanted = asyncio.Event()
        self._ledger_writer: asyncio.Task[None] | None = None
        self._replayed: set[int] = set()  # handled before a crash: skip when they come back
        self._spill_rows: dict[str, str] = {}  # chat -> its ledger row, while it has spilled
        self._spill_lock = asyncio.Lock()
        self._posts = 0  # webhook requests waiting for their answer
        self.stats = PollStats()
        self._webhook = webhook
        self._webhook_runner: web.AppRunner | None = None
        self._waiters: dict[int, asyncio.Future[bool]] = {}  # webhook: update id -> handled?
        self._done: OrderedDict[int, None] = OrderedDict()  # webhook: handled lately

    def __repr__(self) -> str:
        return f"TelegramTransport(running={self._app is not None})"

    @property
    def platform(self) -> Platform:
        return Platform.TELEGRAM

    @property
    def failed(self) -> asyncio.Event:
        return self._failed

    @property
    def bot_username(self) -> str:
        return self._bot.username

    @property
    def sends_waiting(self) -> int:
        """Sends waiting for their turn under the overall rate limit."""
        return self._pacer.waiting

    @property
    def _bot(self) -> ExtBot[Any]:
        if self._app is None:
            raise RuntimeError("TelegramTransport is not started")
        bot: ExtBot[Any] = self._app.bot
        return bot

    def _send_request(self) -> AiohttpRequest:
        timeout = self._request_timeout
        if timeout is None:
            return AiohttpRequest()
        # The read allowance is the whole call's: aiohttp counts a slow write in it.
        return AiohttpRequest(read_timeout=timeout, write_timeout=0.0, connect_timeout=timeout)

    def use_ledger(self, ledger: HandledLedger) -> None:
        """Where handled update ids above the confirm point are kept while a chat is stuck."""
        self._ledger = ledger

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        async with self._lifecycle:
            if self._app is not None:
                raise RuntimeError("TelegramTransport is already started")
            # httpx logs every request URL at INFO, and the URL carries the bot token.
            httpx_log = logging.getLogger("httpx")
            if httpx_log.level == logging.NOTSET:
                httpx_log.setLevel(logging.WARNING)

            bot = _PollingBot(
                self._token,
                base_url=self._base_url or "https://api.telegram.org/bot",
                base_file_url=self._base_file_url or "https://api.telegram.org/file/bot",
                # aiohttp rather than PTB's default httpx: far less CPU per Bot API call.
                request=self._send_request(),
                get_updates_request=AiohttpRequest(connection_pool_size=1),
            )
            app: AnyApplication = (
                ApplicationBuilder()
                .bot(bot)
                .concurrent_updates(False)  # handlers only enqueue; per-chat workers run the sink
                .job_queue(None)
                .updater(None)  # our own polling confirms an update only once it is handled
                .build()
            )
            # New and edited messages share one handler, so both go through the chat's worker in
            # order. Service messages (a pin, ...) are not things a person said.
            app.add_handler(
                MessageHandler(
                    filters.UpdateType.MESSAGES
                    & filters.ChatType.PRIVATE
                    & ~filters.StatusUpdate.ALL,
                    self._on_message,
                )
            )
            app.add_handler(CallbackQueryHandler(self._on_callback))
            app.add_error_handler(self._on_error)

            self._sink = sink
            self._pacer = Pacer(self.limits, self._pacing_clock)
            try:
                await app.initialize()
            except InvalidToken:
                await app.bot.shutdown()
                raise TelegramStartError("Telegram rejected the bot token") from None
            except TelegramError as exc:
                await app.bot.shutdown()
                raise TelegramStartError(
                    f"could not reach the Telegram Bot API ({type(exc).__name__})"
                ) from None
            try:
                if self._ledger is not None:
                    self._replayed = await self._ledger.handled_updates(Platform.TELEGRAM.value)
                    self._ledger_kept = set(self._replayed)
                    self._ledger_writer = asyncio.create_task(
                        self._keep_ledger(self._ledger), name="telegram-ledger"
                    )
                await app.start()
                if self._webhook is not None:
                    await self._start_webhook(app, bot, self._webhook)
                else:
                    await app.bot.delete_webhook(drop_pending_updates=False)
                    self._poller = asyncio.create_task(
                        self._poll(app, bot), name="telegram-polling"
                    )
            except BaseException:
                await self._shutdown(app)
                raise
            self._app = app
            await self._set_default_menus()
            _log.info("telegram transport started")

    async def stop(self) -> None:
        async with self._lifecycle:
            app = self._app
            if app is None:
                return
            try:
                # Still "started" while draining: the sink may reply to what it is handed.
                await self._shutdown(app)
            finally:
                self._app = None
            _log.info("telegram transport stopped")

    async def _shutdown(self, app: AnyApplication) -> None:
        try:
            if self._poller is not None:
                self._poller.cancel()
                await asyncio.gather(self._poller, return_exceptions=True)
                self._poller = None
            if self._webhook_runner is not None:
                # No new deliveries; those in hand finish below or are answered 503.
                for site in list(self._webhook_runner.sites):
                    await site.stop()
            if app.running:
                await app.stop()
            await self._drain_workers()
            if self._webhook is None:
                await self._confirm(app)
            for waiter in self._waiters.values():
                if not waiter.done():
                    waiter.set_result(False)  # not handled: Telegram delivers it again
            if self._webhook_runner is not None:
                runner, self._webhook_runner = self._webhook_runner, None
                await runner.cleanup()
            if self._ledger_writer is not None:
                self._ledger_writer.cancel()
                await asyncio.gather(self._ledger_writer, return_exceptions=True)
                self._ledger_writer = None
                if self._ledger is not None:
                    await self._sync_ledger(self._ledger)  # drop what the confirm settled
        finally:
            await self._pacer.close()
            await app.shutdown()

    # -- polling: confirm an update only once it has been handled ------------------------------

    async def _poll(self, app: AnyApplication, bot: _PollingBot) -> None:
        try:
            await self._poll_forever(app, bot)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Never expected; without polling nothing more can arrive, so say so and let the app
            # exit (non-zero) for its supervisor to restart it.
            _log.critical("polling stopped: %s at %s", type(exc).__name__, where(exc))
            self._failed.set()

    async def _poll_forever(self, app: AnyApplication, bot: _PollingBot) -> None:
        failures = 0
        while True:
            around = await self._settle()
            if around and self._spill_due(waited=True):
                await self._spill()
            self._ledger_wanted.set()
            offset = self._inflight.offset()
            self._last_poll = asyncio.get_running_loop().time()
            try:
                raw = await bot.fetch_updates(offset, self._poll_timeout, 5.0)
                failures = 0
            except InvalidToken:
                # Revoked or changed: nothing will ever arrive. Say so and let the app stop.
                _log.error("Telegram rejected the bot token; no more messages can arrive")
                self._failed.set()
                return
            except TelegramError as exc:  # network trouble, 5xx, ...
                failures += 1
                _log.warning("getUpdates failed: %s", type(exc).__name__)
                await asyncio.sleep(backoff(failures, 1.0, 30.0))
                continue
            self.stats.polls += 1
            self._acknowledged(offset)
            fresh = 0
            for item in raw:
                fresh += await self._take(app, bot, item)
            self._last_fresh = fresh
            self._last_full = len(raw) >= _POLL_LIMIT  # more may wait beyond this window
            if around and not fresh:
                # Telegram re-sent only what is still in hand: wait for progress before asking
                # again (a window full of held updates cannot show newer ones).
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_STUCK_POLL_INTERVAL):
                        await self._progress.wait()

    async def _settle(self) -> bool:
        """Before asking again: wait for what is in hand to be handled, so the next offset
        confirms it and nothing is fetched twice. Returns True when an update has been in hand
        longer than `poll_around_after`: then polling goes on around it, but only once half a
        window of new updates can come back (and the last poll brought some), or
        `_STUCK_POLL_INTERVAL` after the last poll. The window from the oldest update in hand
        re-sends all those above it: asking after every update handled would fetch and skip
        nearly the same window again and again. Also returns True at once when a spill is due
        without waiting (see `_spill_due`)."""
        loop = asyncio.get_running_loop()
        while self._inflight.since:
            if self._spill_due(waited=False):
                return True
            now = loop.time()
            oldest = min(self._inflight.since.values())
            remaining = oldest + self._poll_around_after - now
            if remaining <= 0:
                if self._last_fresh and self._window_room() >= _POLL_LIMIT // 2:
                    return True
                remaining = self._last_poll + _STUCK_POLL_INTERVAL - now
                if remaining <= 0:
                    return True
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progress.wait()
        return False

    def _window_room(self) -> int:
        """How many new updates a poll now could bring (Telegram re-sends every update from
        the oldest one in hand on, handled or not, up to `_POLL_LIMIT` in all)."""
        offset = self._inflight.offset()
        if offset is None:
            return _POLL_LIMIT
        return _POLL_LIMIT - sum(1 for u in self._inflight.seen if u >= offset)

    def _spill_due(self, *, waited: bool) -> bool:
        """Spill now? Only when the last poll brought a whole window (newer updates may be
        waiting) and more than half of the window is in hand; and either the oldest has waited
        past `poll_around_after` (`waited`) or some update in hand is queued behind its chat's
        spilled ones (the next window of a backlog already spilled: waiting again for it would
        hold a newcomer behind three windows for three seconds)."""
        if self._ledger is None or self._webhook is not None or not self._last_full:
            return False
        if self._window_room() >= _POLL_LIMIT // 2:
            return False
        if waited:
            return True
        rows, chat_of = self._spill_rows, self._inflight.chat_of
        return any(chat_of.get(u) in rows for u in self._inflight.since)

    async def _spill(self) -> None:
        """Polling: the last poll brought a whole window (newer updates may be waiting), more
        than half of it still in hand, and the oldest has waited past `poll_around_after`: a
        slow chat's backlog would keep everything newer unfetched. Confirm past what is in hand
        (parsed and queued in memory), see `_note_spilled`. Spilling only the oldest half window
        was tried: a newcomer behind three windows then waited for six spills, while half the
        backlog went out."""
        inflight = self._inflight
        unqueued = [u for u in inflight.since if u not in inflight.chat_of]
        below = min(unqueued, default=None)  # only what is queued can be spilled
        await self._note_spilled([u for u in inflight.since if below is None or u < below])

    async def _note_spilled(self, update_ids: Sequence[int]) -> bool:
        """Note durably, once for this spill, which chats have these updates in hand, then
        count them as spilled (the caller confirms them: a poll's offset past them, or a
        webhook's early 200). Each chat's note is dropped once its spilled updates are handled;
        a stop that cuts them off leaves the note, and the person is told after the restart
        (they are not sent again). Without a ledger, or if the note cannot be written, nothing
        is spilled (False)."""
        ledger, inflight = self._ledger, self._inflight
        if ledger is None:
            return False
        async with self._spill_lock:  # webhook requests spill side by side: one note per chat
            chats = {inflight.chat_of[u] for u in update_ids if u in inflight.chat_of}
            new = chats - self._spill_rows.keys()
            if new:
                try:
                    self._spill_rows.update(
                        await ledger.record_spilled(Platform.TELEGRAM.value, sorted(new))
                    )
                except Exception as exc:
                    _log.error("spill not noted: %s at %s", type(exc).__name__, where(exc))
                    return False  # nothing confirmed that is not noted
                _log.info("updates in hand confirmed early for %d more chat(s)", len(new))
            moved = 0
            for update_id in update_ids:  # some may have finished during the write
                chat = inflight.chat_of.get(update_id)
                if update_id in inflight.since and chat is not None and chat in self._spill_rows:
                    del inflight.since[update_id]
                    inflight.spilled[update_id] = chat
                    moved += 1
            self.stats.spills += 1
            self.stats.spilled += moved
            return moved > 0

    def _acknowledged(self, offset: int | None) -> None:
        """Telegram now holds nothing below `offset`: forget those ids."""
        if offset is None:
            return
        inflight = self._inflight
        inflight.confirmed = offset
        inflight.seen = {u for u in inflight.seen if u >= offset}
        self._replayed = {u for u in self._replayed if u >= offset}

    async def _take(self, app: AnyApplication, bot: _PollingBot, item: object) -> int:
        """Hand one fetched update to PTB and the chat workers; returns 1 if it was new."""
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self.stats.poison += 1
            _log.warning("an update without an id was ignored")
            return 0
        inflight = self._inflight
        if update_id in inflight.seen or (
            inflight.confirmed is not None and update_id < inflight.confirmed
        ):
            self.stats.skipped += 1
            return 0
        inflight.seen.add(update_id)
        inflight.top = update_id if inflight.top is None else max(inflight.top, update_id)
        if update_id in self._replayed:
            self.stats.replay_skipped += 1
            return 1  # handled before a crash; confirmed with the next poll
        assert isinstance(item, dict)  # noqa: S101 - checked above, for mypy
        await self._hand_over(app, bot, item, update_id)
        return 1

    async def _hand_over(
        self, app: AnyApplication, bot: ExtBot[Any], item: dict[str, Any], update_id: int
    ) -> None:
        """Parse one update and give it to PTB and the chat workers; it is in hand until
        `_finish(update_id)`."""
        self._inflight.since[update_id] = asyncio.get_running_loop().time()
        try:
            update = Update.de_json(item, bot)
            _check_shape(update)
        except Exception as exc:  # anything PTB or we cannot read
            self._poison(update_id, exc)
            return
        self.stats.parsed += 1
        await app.process_update(update)
        if update_id not in self._enqueued:
            self._finish(update_id)  # not for us (a group, a service message, ...): done
        self._enqueued.discard(update_id)

    # -- webhook: answer 200 only once the update has been handled ----------------------------

    async def _start_webhook(self, app: AnyApplication, bot: ExtBot[Any], hook: Webhook) -> None:
        secret = webhook_secret(self._token)

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                _log.warning("a webhook request without the right secret was refused")
                return web.Response(status=403)
            return await self._on_webhook(app, bot, request)

        server = web.Application(client_max_size=4 * 1024 * 1024)
        server.router.add_post(hook.path, receive)
        # access_log=None: an access line would name the path and the caller for every update.
        runner = web.AppRunner(server, access_log=None, shutdown_timeout=_DRAIN_TIMEOUT)
        await runner.setup()
        await web.TCPSite(runner, hook.host, hook.port).start()
        self._webhook_runner = runner
        await bot.set_webhook(
            hook.url,
            secret_token=secret,
            allowed_updates=_ALLOWED_UPDATES,
            max_connections=hook.max_connections,
            drop_pending_updates=False,
        )
        _log.info("telegram webhook set; listening on %s:%d", hook.host, hook.port)

    async def _on_webhook(
        self, app: AnyApplication, bot: ExtBot[Any], request: web.Request
    ) -> web.Response:
        try:
            item = await request.json()
        except ValueError:
            self.stats.poison += 1
            _log.warning("a webhook body that is not JSON was ignored")
            return web.Response(status=200)  # nothing to handle, ever: do not have it re-sent
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self.stats.poison += 1
            _log.warning("an update without an id was ignored")
            return web.Response(status=200)
        if update_id in self._done:
            self.stats.skipped += 1  # Telegram sent again what was already handled
            return web.Response(status=200)
        waiter = self._waiters.get(update_id)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[update_id] = waiter
            await self._hand_over(app, bot, item, update_id)
        self._posts += 1
        try:
            handled = await self._handled_or_spilled(update_id, waiter)
        finally:
            self._posts -= 1
        if not handled:
            return web.Response(status=503)  # stopping: Telegram delivers it again later
        self._done[update_id] = None
        while len(self._done) > _REMEMBERED_DONE:
            self._done.popitem(last=False)
        return web.Response(status=200)

    async def _handled_or_spilled(self, update_id: int, waiter: asyncio.Future[bool]) -> bool:
        """Wait for the update to be handled. But Telegram sends nothing newer while all its
        connections wait (the webhook's own head of line): then an update queued behind its
        own chat's earlier ones, or in hand past `poll_around_after`, is spilled and answered
        at once. Age alone would not do: 10 connections on a backlog drained at 50 a second
        each wait 0.2 s, while a newcomer behind the backlog waits for all of it."""
        hook = self._webhook
        assert hook is not None  # noqa: S101 - webhook mode only
        loop = asyncio.get_running_loop()
        since = loop.time()
        while True:
            inflight = self._inflight
            if self._posts >= hook.max_connections and update_id in inflight.since:
                chat = inflight.chat_of.get(update_id)
                behind = chat in self._spill_rows or any(
                    u < update_id and inflight.chat_of.get(u) == chat for u in inflight.since
                )
                waited = loop.time() - since >= self._poll_around_after
                if (waited or behind) and await self._note_spilled([update_id]):
                    return True
            done, _ = await asyncio.wait([waiter], timeout=_STUCK_POLL_INTERVAL)
            if done:
                return waiter.result()

    def _poison(self, update_id: int, exc: BaseException) -> None:
        self.stats.poison += 1
        _log.warning(
            "update %d could not be read (%s at %s); confirmed past",
            update_id,
            type(exc).__name__,
            where(exc),
        )
        self._finish(update_id)

    def _finish(self, update_id: int) -> None:
        if update_id >= 0:
            self._inflight.since.pop(update_id, None)
            self._inflight.chat_of.pop(update_id, None)
            if self._inflight.spilled.pop(update_id, None) is not None:
                self._ledger_wanted.set()
            waiter = self._waiters.pop(update_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(True)
            self._progress.set()
            if self._ledger_kept or self._inflight.since:
                self._ledger_wanted.set()

    def _stuck(self) -> bool:
        since = self._inflight.since
        if not since:
            return False
        return asyncio.get_running_loop().time() - min(since.values()) >= self._stuck_after

    async def _keep_ledger(self, ledger: HandledLedger) -> None:
        while True:
            await self._ledger_wanted.wait()
            self._ledger_wanted.clear()
            await self._sync_ledger(ledger)

    async def _sync_ledger(self, ledger: HandledLedger) -> None:
        """Keeps the ledger equal to the handled, unconfirmed ids while a chat is stuck, and
        shrinks it as Telegram confirms them. Nothing is written while no chat is stuck.
        Drops the spill notes of chats whose spilled updates are all handled."""
        await self._forget_spills(ledger)
        unconfirmed = self._inflight.handled_unconfirmed() | self._replayed
        wanted = unconfirmed if self._stuck() else self._ledger_kept & unconfirmed
        if wanted == self._ledger_kept:
            return
        try:
            await ledger.keep_handled_updates(Platform.TELEGRAM.value, wanted)
            self._ledger_kept = wanted
        except Exception as exc:
            _log.error("handled update ids not kept: %s at %s", type(exc).__name__, where(exc))

    async def _forget_spills(self, ledger: HandledLedger) -> None:
        holding = set(self._inflight.spilled.values())
        done = {chat: row for chat, row in self._spill_rows.items() if chat not in holding}
        if not done:
            return
        for chat in done:  # before the write: a spill meanwhile notes the chat afresh
            del self._spill_rows[chat]
        try:
            await ledger.forget_spilled(list(done.values()))
        except Exception as exc:  # left behind: the person is told once more than needed
            _log.error("spill notes not dropped: %s at %s", type(exc).__name__, where(exc))

    async def _confirm(self, app: AnyApplication) -> None:
        """At stop: confirm what was handled, so a restart does not replay it."""
        offset = self._inflight.offset()
        if offset is None:
            return
        bot = app.bot
        if not isinstance(bot, _PollingBot):  # pragma: no cover - built in start()
            return
        try:
            await bot.fetch_updates(offset, 0, 5.0)  # raw: nothing is parsed on the way out
            self._acknowledged(offset)
        except Exception as exc:
            _log.warning("could not confirm handled updates: %s", type(exc).__name__)

    async def _drain_workers(self) -> None:
        workers = list(self._workers.values())
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=_DRAIN_TIMEOUT)
        if late:
            _log.warning("stopping with %d chats still in the sink; cancelling", len(late))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- receiving -----------------------------------------------------------------------------

    async def _on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            message, edited = update.message, False
        elif update.edited_message is not None:
            message, edited = update.edited_message, True
        else:
            return
        if message.chat.type != ChatType.PRIVATE:
            return
        incoming = self._convert_edit(message) if edited else self._convert(message)
        if incoming is not None:
            self._enqueue(_Job(incoming, update_id=update.update_id))

    async def _on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        carrier = query.message
        if carrier is None or carrier.chat.type != ChatType.PRIVATE:
            # Inline-mode or group buttons are not ours; still stop the client's spinner.
            await self._answer(query.id)
            return
        address = Address(Platform.TELEGRAM, str(carrier.chat.id))
        incoming = Incoming(
            address=address,
            kind=Kind.CHOICE,
            choice=query.data or "",
            message_id=str(carrier.message_id),
        )
        self._enqueue(_Job(incoming, callback_query_id=query.id, update_id=update.update_id))

    def _convert(self, message: Message) -> Incoming:
        address, ids = _origin(message)
        text = message.text
        if text is not None:
            entities = message.entities
            if (
                entities
                and entities[0].type == MessageEntity.BOT_COMMAND
                and entities[0].offset == 0
            ):
                head = text[: entities[0].length]
                rest = text[entities[0].length :]
                command = head[1:].split("@", 1)[0].lower()
                return Incoming(address, Kind.COMMAND, command=command, args=rest.strip(), **ids)
            return Incoming(address, Kind.TEXT, text=text, **ids)
        # Anything else (a poll, dice, a game, a story, ...) still reaches the sink, so the person
        # can be told it was not relayed rather than meet silence.
        kind = _media_kind(message) or UNSUPPORTED
        self._remember_media(address, ids["message_id"], kind, message)
        return Incoming(address, Kind.MEDIA, text=message.caption or "", media_kind=kind, **ids)

    def _remember_media(
        self, address: Address, message_id: str, kind: str, message: Message
    ) -> None:
        ref = _media_ref(kind, message)
        if ref is None:
            return
        self._media_refs[(address.chat_id, message_id)] = ref
        while len(self._media_refs) > _REMEMBERED_MEDIA:
            self._media_refs.popitem(last=False)

    def _convert_edit(self, message: Message) -> Incoming | None:
        address, ids = _origin(message)
        if message.text is not None:
            return Incoming(address, Kind.EDIT, text=message.text, **ids)
        kind = _media_kind(message)
        if kind not in _CAPTIONED:
            return None  # e.g. a live location moving: nothing a person re-worded
        return Incoming(address, Kind.EDIT, text=message.caption or "", media_kind=kind, **ids)

    def _enqueue(self, job: _Job) -> None:
        self._enqueued.add(job.update_id)
        key = job.incoming.address.chat_id
        if job.update_id >= 0:
            self._inflight.chat_of[job.update_id] = key
        self._pending.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name="telegram-chat-worker")

    async def _work(self, key: str) -> None:
        """Feed one chat's events to the sink, one at a time, in arrival order."""
        try:
            while queue := self._pending.get(key):
                job = queue.popleft()
                async with self._slots.held():
                    handled = await self._run(job)
                if not handled:
                    # Stopping without a way to answer: this update and the rest of the chat's
                    # queue stay unconfirmed, and Telegram sends them again after the restart.
                    queue.clear()
                    return
                self._finish(job.update_id)
        finally:
            # Not reached with the update finished when cancelled at stop: it stays unconfirmed.
            self._pending.pop(key, None)
            self._workers.pop(key, None)

    async def _run(self, job: _Job) -> bool:
        """Hand one event to the sink; False if it must not be confirmed."""
        if job.callback_query_id:
            await self._answer(job.callback_query_id)
        sink = self._sink
        if sink is None:
            return True
        try:
            await sink(job.incoming)
        except NotHandledError:
            _log.warning("a %s event was left unconfirmed", job.incoming.kind.value)
            return False
        except Exception as exc:  # a failing handler must not stop the others or polling
            # No traceback: it would quote the exception, and exceptions can carry content.
            _log.error(
                "sink failed on a %s event: %s at %s",
                job.incoming.kind.value,
                type(exc).__name__,
                where(exc),
            )
        return True

    async def _answer(self, callback_query_id: str) -> None:
        try:
            await self._bot.answer_callback_query(callback_query_id)
        except TelegramError as exc:
            _log.warning("answerCallbackQuery failed: %s", type(exc).__name__)

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        place = where(error) if error is not None else "?"
        _log.error("update handling failed: %s at %s", type(error).__name__, place)

    # -- sending -------------------------------------------------------------------------------

    async def send(self, to: Address, reply: Reply) -> Sent:
        chat_id = _chat_id(to)
        markup = _keyboard(reply)
        message = await self._deliver(
            "sendMessage",
            chat_id,
            lambda: self._bot.send_message(
                chat_id=chat_id, text=reply.text, reply_markup=markup, parse_mode=None
            ),
        )
        assert message is not None  # noqa: S101 - only edits may come back empty
        return Sent(to, str(message.message_id))

    async def edit(self, sent: Sent, reply: Reply) -> None:
        chat_id = _chat_id(sent.address)
        message_id = int(sent.message_id)
        # Without reply_markup Telegram removes the inline keyboard, as empty choices should.
        markup = _keyboard(reply)
        await self._deliver(
            "editMessageText",
            chat_id,
            lambda: self._bot.edit_message_text(
                chat_id=chat_id,
                message_id=message_id,
                text=reply.text,
                reply_markup=markup,
                parse_mode=None,
            ),
            not_modified_ok=True,
        )

    async def copy(
        self, to: Address, source: Address, message_id: str, caption: str | None = None
    ) -> Sent:
        """Copy a message a person sent into another chat (no "forwarded from" header).

        `caption`, when given, replaces the caption (plain text) of media that carry one.
        """
        chat_id = _chat_id(to)
        from_chat_id = _chat_id(source)
        source_id = int(message_id)
        copied = await self._deliver(
            "copyMessage",
            chat_id,
            lambda: self._bot.copy_message(
                chat_id=chat_id,
                from_chat_id=from_chat_id,
                message_id=source_id,
                caption=caption,  # None is not sent: the original caption stays
                parse_mode=None,
            ),
        )
        assert copied is not None  # noqa: S101 - only edits may come back empty
        return Sent(to, str(copied.message_id))

    async def edit_copy(self, sent: Sent, text: str, *, is_caption: bool) -> None:
        """Edit a relayed copy: its text (editMessageText) or caption (editMessageCaption)."""
        chat_id = _chat_id(sent.address)
        message_id = int(sent.message_id)
        if is_caption:
            await self._deliver(
                "editMessageCaption",
                chat_id,
                lambda: self._bot.edit_message_caption(
                    chat_id=chat_id, message_id=message_id, caption=text, parse_mode=None
                ),
                not_modified_ok=True,
            )
        else:
            await self._deliver(
                "editMessageText",
                chat_id,
                lambda: self._bot.edit_message_text(
                    chat_id=chat_id, message_id=message_id, text=text, parse_mode=None
                ),
                not_modified_ok=True,
            )

    async def delete(self, sent: Sent) -> None:
        chat_id = _chat_id(sent.address)
        message_id = int(sent.message_id)
        await self._deliver(
            "deleteMessage",
            chat_id,
            lambda: self._bot.delete_message(chat_id=chat_id, message_id=message_id),
        )

    async def _set_default_menus(self) -> None:
        with sending(Priority.BACKGROUND):
            for language, commands in self._default_menus:
                listed = [BotCommand(name, description) for name, description in commands]
                set_default = functools.partial(
                    self._bot.set_my_commands, listed, language_code=language or None
                )
                try:
                    await self._deliver("setMyCommands", None, set_default, lane=_MENU_LANE)
                except DeliveryError as exc:
                    _log.warning("default command menu not set (permanent=%s)", exc.permanent)

    async def set_menu(self, to: Address, commands: Sequence[tuple[str, str]]) -> None:
        """This person's own menu (BotCommandScopeChat): paced on a lane of its own, so a menu
        never takes a turn from the person's messages, and sent at the caller's priority."""
        chat_id = _chat_id(to)
        scope = BotCommandScopeChat(chat_id)
        if commands:
            listed = [BotCommand(name, description) for name, description in commands]
            await self._deliver(
                "setMyCommands",
                chat_id,
                lambda: self._bot.set_my_commands(listed, scope=scope),
                lane=_MENU_LANE,
            )
        else:
            await self._deliver(
                "deleteMyCommands",
                chat_id,
                lambda: self._bot.delete_my_commands(scope=scope),
                lane=_MENU_LANE,
            )

    async def accept_identity(self, address: Address) -> None:
        """Telegram has no per-contact identity keys to trust."""

    async def fetch_media(self, source: Address, message_id: str) -> Media:
        """Download a person's media into memory (never to disk) for another platform."""
        ref = self._media_refs.get((source.chat_id, message_id))
        if ref is None or ref.kind not in _FILE_KINDS:
            raise NotRelayableError()
        file = await self._deliver("getFile", None, lambda: self._bot.get_file(ref.file_id))
        assert file is not None  # noqa: S101 - only edits may come back empty
        data = await self._deliver("downloadFile", None, file.download_as_bytearray)
        assert data is not None  # noqa: S101 - only edits may come back empty
        name = ref.file_name or ""
        return Media(ref.kind, (MediaFile(bytes(data), ref.content_type, name),))

    async def send_media(self, to: Address, media: Media, caption: str | None) -> Sent:
        """Send media read from another platform: the first file as its kind with the caption,
        any further files (Signal sends several at once) as their own messages."""
        first: Sent | None = None
        for index, file in enumerate(media.files):
            kind = media.kind if index == 0 else _kind_of(file.content_type)
            sent = await self._send_file(to, kind, file, caption if index == 0 else None)
            first = first or sent
        if first is None:
            raise NotRelayableError("no file to send")
        return first

    async def _send_file(
        self, to: Address, kind: str, file: MediaFile, caption: str | None
    ) -> Sent:
        chat_id = _chat_id(to)
        bot = self._bot
        data, name = file.data, file.file_name or None
        calls: dict[str, Callable[[], Awaitable[Message]]] = {
            "photo": lambda: bot.send_photo(chat_id, data, caption=caption, parse_mode=None),
            "voice": lambda: bot.send_voice(chat_id, data, caption=caption, parse_mode=None),
            "audio": lambda: bot.send_audio(
                chat_id, data, caption=caption, filename=name, parse_mode=None
            ),
            "video": lambda: bot.send_video(
                chat_id, data, caption=caption, filename=name, parse_mode=None
            ),
            "animation": lambda: bot.send_animation(
                chat_id, data, caption=caption, filename=name, parse_mode=None
            ),
        }
        calls["video_note"] = calls["video"]
        call = calls.get(kind) or (
            lambda: bot.send_document(
                chat_id, data, caption=caption, filename=name or "file", parse_mode=None
            )
        )
        message = await self._deliver(f"send_{kind}", chat_id, call)
        assert message is not None  # noqa: S101 - only edits may come back empty
        return Sent(to, str(message.message_id))

    async def _deliver(
        self,
        method: str,
        chat_id: int | None,
        call: Callable[[], Awaitable[T]],
        *,
        not_modified_ok: bool = False,
        lane: str | None = None,
    ) -> T | None:
        """Run one Bot API call, paced, through flood waits and bounded server-error retries,
        mapping failures to `DeliveryError`.

        A flood wait holds this chat (not the others) and is waited out however long it is:
        the send resumes, it is not dropped. `chat_id` None: not a message (a file download),
        so not paced. `lane`, when given, is paced and held instead of the chat.
        """
        chat = lane or str(chat_id)
        group = lane is None and chat_id is not None and chat_id < 0
        paced = lane is not None or chat_id is not None
        priority = current_priority()
        failures = 0
        while True:
            if self._app is None:
                raise DeliveryError("Telegram transport stopped", permanent=False, stopped=True)
            if paced:
                await self._pacer.turn(chat, priority, group=group)
            if self._app is None:
                raise DeliveryError("Telegram transport stopped", permanent=False, stopped=True)
            try:
                return await call()
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                _log.warning("%s rate limited; holding that chat", method)
                if self._flood_wait_cap is not None:
                    wait = min(wait, self._flood_wait_cap)
                self._pacer.hold(chat, wait, group=group)
            except Forbidden:
                _log.warning("%s refused: Forbidden", method)
                raise DeliveryError("blocked or deactivated", permanent=True) from None
            except BadRequest as exc:
                description = exc.message.lower()
                if not_modified_ok and "message is not modified" in description:
                    return None
                gone = any(marker in description for marker in _GONE)
                _log.warning("%s refused: BadRequest (%s)", method, "gone" if gone else "other")
                reason = "chat not found" if gone else "rejected by Telegram"
                raise DeliveryError(reason, permanent=gone) from None
            except NetworkError as exc:  # includes TimedOut and 5xx answers
                failures += 1
                _log.warning("%s failed: %s (attempt %d)", method, type(exc).__name__, failures)
                if failures >= _MAX_ATTEMPTS:
                    raise DeliveryError("network failure", permanent=False) from None
                await asyncio.sleep(backoff(failures, self._retry_base_delay))
            except TelegramError as exc:  # InvalidToken, Conflict, ChatMigrated, ...
                _log.warning("%s failed: %s", method, type(exc).__name__)
                raise DeliveryError("Telegram error", permanent=False) from None


def _check_shape(update: Update) -> None:
    """Refuse what PTB parsed but nobody could use: a message without a date, a chat id that is
    not a number, a chat without a type (seen from Bot API servers that lag the library)."""
    message = update.effective_message
    if update.callback_query is not None and not isinstance(update.callback_query.id, str):
        raise TypeError("callback query without an id")
    if message is None:
        return
    if not isinstance(message.date, dtm.datetime):
        raise TypeError("message without a date")
    if not isinstance(message.message_id, int) or isinstance(message.message_id, bool):
        raise TypeError("message id not a number")
    chat = message.chat
    if not isinstance(chat.id, int) or isinstance(chat.id, bool):
        raise TypeError("chat id not a number")
    if not isinstance(chat.type, str) or not chat.type:
        raise TypeError("chat without a type")


def _origin(message: Message) -> tuple[Address, dict[str, str]]:
    address = Address(Platform.TELEGRAM, str(message.chat.id))
    reply_to = message.reply_to_message
    sender = message.from_user
    ids = {
        "message_id": str(message.message_id),
        "reply_to_id": str(reply_to.message_id) if reply_to else "",
        # The app's language, for a new member's catalog (it is not stored as such).
        "language": (sender.language_code or "") if sender is not None else "",
    }
    return address, ids


def _media_kind(message: Message) -> str:
    return next((kind for kind in _MEDIA_KINDS if getattr(message, kind, None)), "")


def _media_ref(kind: str, message: Message) -> _MediaRef | None:
    if kind == "photo" and message.photo:
        return _MediaRef(kind, message.photo[-1].file_id, "", "image/jpeg")
    attachment = getattr(message, kind, None)
    file_id = getattr(attachment, "file_id", None)
    if not isinstance(file_id, str):
        return None
    name = getattr(attachment, "file_name", None) or ""
    mime = getattr(attachment, "mime_type", None) or _DEFAULT_TYPES.get(kind, "")
    return _MediaRef(kind, file_id, name, mime or "application/octet-stream")


_DEFAULT_TYPES = {
    "voice": "audio/ogg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
    "sticker": "image/webp",
}


def _kind_of(content_type: str) -> str:
    """The Telegram media kind to send a file of this type as."""
    if content_type.startswith("image/") and content_type != "image/gif":
        return "photo"
    if content_type.startswith("video/") or content_type == "image/gif":
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "document"


def _chat_id(address: Address) -> int:
    if address.platform is not Platform.TELEGRAM:
        raise ValueError(f"not a Telegram address: {address!r}")
    return int(address.chat_id)


def _keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.choices:
        return None
    columns = max(1, reply.columns)
    buttons = [InlineKeyboardButton(c.label, callback_data=c.data) for c in reply.choices]
    return InlineKeyboardMarkup(
        [buttons[i : i + columns] for i in range(0, len(buttons), columns)]
    )
