"""The Telegram adapter: PTB updates in, normalized `Incoming` out; `Reply` in, messages out.

Only private chats are served. Updates from one chat reach the sink strictly in order (one
worker per chat), while different chats proceed concurrently, so one slow conversation never
holds up the others.

Nothing here logs message content or chat ids: failures are logged by error class and method.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import os
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram import (
    BotCommand,
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
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
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

__all__ = ["UNSUPPORTED", "TelegramStartError", "TelegramTransport"]

# Opt in to PTB's future `datetime.timedelta` time periods. Without it PTB emits a deprecation
# warning whenever it builds a RetryAfter (which the test-suite turns into an error).
os.environ.setdefault("PTB_TIMEDELTA", "true")

_log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_ATTEMPTS = 5  # tries per delivery, retries included: about 8 s of 5xx backoff
_MAX_RETRY_AFTER = 30.0  # seconds; a longer flood wait fails fast instead of stalling the chat
_MAX_CONCURRENT_CHATS = 32  # chats whose events are in the sink at the same time
# Seconds stop() waits for queued events to be handled. An event cut off is not lost (its update
# is confirmed only once handled, so Telegram sends it again after the restart), but it may be
# handled twice, so stop waits for ordinary deliveries, flood waits of a few seconds included.
_DRAIN_TIMEOUT = 15.0
# BadRequest descriptions meaning the person is unreachable for good.
_GONE = ("chat not found", "peer_id_invalid", "user not found", "user is deactivated")

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


class _HandledRateLimit(logging.Filter):
    """Drops AIORateLimiter's ERROR+traceback for a 429: with max_retries=0 every flood wait
    "exhausts" its retries there, while `_deliver` handles and logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Rate limit hit after maximum of 0 retries")


_RATE_LIMIT_FILTER = _HandledRateLimit()


class TelegramStartError(RuntimeError):
    """The transport could not start (bad token, unreachable Bot API). Carries no token."""


@dataclass(frozen=True, slots=True)
class _Job:
    incoming: Incoming
    callback_query_id: str = ""  # answered before the sink sees the choice
    update_id: int = -1  # confirmed to Telegram only once this job is done


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
        menu: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._token = token
        self._menu = tuple(menu)
        self._base_url = base_url
        self._base_file_url = base_file_url
        self._poll_timeout = poll_timeout
        self._retry_base_delay = retry_base_delay
        self._app: AnyApplication | None = None
        self._sink: EventSink | None = None
        self._lifecycle = asyncio.Lock()
        self._pending: dict[str, deque[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(_MAX_CONCURRENT_CHATS)
        self._paused_until = 0.0  # loop time before which nothing is sent (flood control)
        # Update ids fetched and not yet handled; Telegram keeps (and re-sends) every update
        # from the lowest of these on, so a crash loses nothing it was sent.
        self._unfinished: set[int] = set()
        self._known: set[int] = set()  # fetched ids at or above the confirmed offset
        self._next_offset: int | None = None
        self._progress = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._running: list[_Job] = []
        self._failed = asyncio.Event()
        self._media_refs: OrderedDict[tuple[str, str], _MediaRef] = OrderedDict()

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
    def _bot(self) -> ExtBot[Any]:
        if self._app is None:
            raise RuntimeError("TelegramTransport is not started")
        bot: ExtBot[Any] = self._app.bot
        return bot

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        async with self._lifecycle:
            if self._app is not None:
                raise RuntimeError("TelegramTransport is already started")
            # httpx logs every request URL at INFO, and the URL carries the bot token.
            httpx_log = logging.getLogger("httpx")
            if httpx_log.level == logging.NOTSET:
                httpx_log.setLevel(logging.WARNING)

            logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_RATE_LIMIT_FILTER)

            builder = (
                ApplicationBuilder()
                .token(self._token)
                .rate_limiter(AIORateLimiter(max_retries=0))  # retries are ours, see _deliver
                .concurrent_updates(False)  # handlers only enqueue; per-chat workers run the sink
                .job_queue(None)
                .updater(None)  # our own polling confirms an update only once it is handled
            )
            if self._base_url is not None:
                builder = builder.base_url(self._base_url)
            if self._base_file_url is not None:
                builder = builder.base_file_url(self._base_file_url)
            app: AnyApplication = builder.build()
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
                await app.start()
                await app.bot.delete_webhook(drop_pending_updates=False)
                self._poller = asyncio.create_task(self._poll(app), name="telegram-polling")
            except BaseException:
                await self._shutdown(app)
                raise
            self._app = app
            if self._menu:
                # The command menu keeps /crisis one tap away in every chat.
                try:
                    await app.bot.set_my_commands(
                        [BotCommand(name, description) for name, description in self._menu]
                    )
                except TelegramError as exc:
                    _log.warning("command menu not set (%s)", type(exc).__name__)
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
            if app.running:
                await app.stop()
            await self._drain_workers()
            await self._confirm(app)
        finally:
            await app.shutdown()

    # -- polling: confirm an update only once it has been handled ------------------------------

    async def _poll(self, app: AnyApplication) -> None:
        allowed = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
        failures = 0
        while True:
            try:
                updates = await app.bot.get_updates(
                    offset=self._offset(),
                    timeout=dtm.timedelta(seconds=self._poll_timeout),
                    allowed_updates=allowed,
                    read_timeout=self._poll_timeout + 5.0,
                )
                failures = 0
            except InvalidToken:
                # Revoked or changed: nothing will ever arrive. Say so and let the app stop.
                _log.error("Telegram rejected the bot token; no more messages can arrive")
                self._failed.set()
                return
            except TelegramError as exc:  # network trouble, 5xx, ...
                failures += 1
                _log.warning("getUpdates failed: %s", type(exc).__name__)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            fresh = [u for u in updates if u.update_id not in self._known]
            for update in fresh:
                self._known.add(update.update_id)
                self._unfinished.add(update.update_id)
                await app.process_update(update)
                if not any(job.update_id == update.update_id for job in self._queued()):
                    self._finish(update.update_id)  # not for us (a group, ...): done already
            if updates and not fresh:
                # Telegram re-sent only what is still being handled: wait for progress rather
                # than asking again at once.
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._progress.wait()

    def _queued(self) -> list[_Job]:
        return [job for queue in self._pending.values() for job in queue] + self._running

    def _offset(self) -> int | None:
        """Everything below the lowest unfinished update is confirmed; nothing above it is."""
        if self._unfinished:
            offset = min(self._unfinished)
        elif self._known:
            offset = max(self._known) + 1
        else:
            return self._next_offset
        self._known = {u for u in self._known if u >= offset}
        self._next_offset = offset
        return offset

    def _finish(self, update_id: int) -> None:
        if update_id >= 0:
            self._unfinished.discard(update_id)
            self._progress.set()

    async def _confirm(self, app: AnyApplication) -> None:
        """At stop: confirm what was handled, so a restart does not replay it."""
        offset = self._offset()
        if offset is None:
            return
        try:
            await app.bot.get_updates(offset=offset, timeout=0, allowed_updates=[])
        except TelegramError as exc:
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
        key = job.incoming.address.chat_id
        self._pending.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name="telegram-chat-worker")

    async def _work(self, key: str) -> None:
        """Feed one chat's events to the sink, one at a time, in arrival order."""
        try:
            while queue := self._pending.get(key):
                job = queue.popleft()
                self._running.append(job)
                try:
                    async with self._slots:
                        await self._run(job)
                finally:
                    self._running.remove(job)
                # Not reached when cancelled at stop: that update stays unconfirmed, and
                # Telegram sends it again after the restart.
                self._finish(job.update_id)
        finally:
            self._pending.pop(key, None)
            self._workers.pop(key, None)

    async def _run(self, job: _Job) -> None:
        if job.callback_query_id:
            await self._answer(job.callback_query_id)
        sink = self._sink
        if sink is None:
            return
        try:
            await sink(job.incoming)
        except Exception as exc:  # a failing handler must not stop the others or polling
            # No traceback: it would quote the exception, and exceptions can carry content.
            _log.error(
                "sink failed on a %s event: %s at %s",
                job.incoming.kind.value,
                type(exc).__name__,
                where(exc),
            )

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
                lambda: self._bot.edit_message_caption(
                    chat_id=chat_id, message_id=message_id, caption=text, parse_mode=None
                ),
                not_modified_ok=True,
            )
        else:
            await self._deliver(
                "editMessageText",
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
            lambda: self._bot.delete_message(chat_id=chat_id, message_id=message_id),
        )

    async def accept_identity(self, address: Address) -> None:
        """Telegram has no per-contact identity keys to trust."""

    async def fetch_media(self, source: Address, message_id: str) -> Media:
        """Download a person's media into memory (never to disk) for another platform."""
        ref = self._media_refs.get((source.chat_id, message_id))
        if ref is None or ref.kind not in _FILE_KINDS:
            raise NotRelayableError()
        file = await self._deliver("getFile", lambda: self._bot.get_file(ref.file_id))
        assert file is not None  # noqa: S101 - only edits may come back empty
        data = await self._deliver("downloadFile", file.download_as_bytearray)
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
        message = await self._deliver(f"send_{kind}", call)
        assert message is not None  # noqa: S101 - only edits may come back empty
        return Sent(to, str(message.message_id))

    async def _deliver(
        self,
        method: str,
        call: Callable[[], Awaitable[T]],
        *,
        not_modified_ok: bool = False,
    ) -> T | None:
        """Run one Bot API call with bounded retries, mapping failures to `DeliveryError`."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            if (pause := self._paused_until - loop.time()) > _MAX_RETRY_AFTER:
                raise DeliveryError("rate limited", permanent=False)
            if pause > 0:
                await asyncio.sleep(pause)
            if self._app is None:
                raise DeliveryError("Telegram transport stopped", permanent=False)
            last_try = attempt == _MAX_ATTEMPTS
            try:
                return await call()
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                _log.warning("%s rate limited (attempt %d)", method, attempt)
                # Flood control is per bot: hold back every send, not just this one, even when
                # this one gives up (hammering during a long ban only prolongs it).
                self._paused_until = max(self._paused_until, loop.time() + wait)
                if last_try or wait > _MAX_RETRY_AFTER:
                    raise DeliveryError("rate limited", permanent=False) from None
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
                _log.warning("%s failed: %s (attempt %d)", method, type(exc).__name__, attempt)
                if last_try:
                    raise DeliveryError("network failure", permanent=False) from None
                await asyncio.sleep(self._retry_base_delay * 2 ** (attempt - 1))
            except TelegramError as exc:  # InvalidToken, Conflict, ChatMigrated, ...
                _log.warning("%s failed: %s", method, type(exc).__name__)
                raise DeliveryError("Telegram error", permanent=False) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _origin(message: Message) -> tuple[Address, dict[str, str]]:
    address = Address(Platform.TELEGRAM, str(message.chat.id))
    reply_to = message.reply_to_message
    ids = {
        "message_id": str(message.message_id),
        "reply_to_id": str(reply_to.message_id) if reply_to else "",
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
