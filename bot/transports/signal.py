"""The Signal adapter: signal-cli-rest-api (json-rpc mode) through `signalbot`.

Receiving: one websocket to the gateway, read here rather than by signalbot's pipeline, for
four reasons found in its 2.2 source: its producer is not restarted after a cleanly closed
websocket, its three consumers may reorder one person's messages, a parse failure prints a
traceback that quotes the message, and it logs every raw envelope. Each frame is parsed by
`signalbot.parse`; one person's events reach the sink strictly in order (one worker per
chat), different people's side by side. Sending, edits, remote deletion and attachment
deletion go through `signalbot.SignalBot`'s actions; attachment downloads and identity keys,
which signalbot has no public call for, through the same gateway with aiohttp.

People are keyed by their ACI (uuid); a phone number only when it is the only id.

Buttons do not exist on Signal: choices become numbered lines, answered with the number (as a
reply to the message, inside a conversation). Commands work with or without the slash: a
message that is exactly one command word ("help", "crisis", "end") is that command.

What the gateway cannot give: an acknowledgement. In json-rpc mode signal-cli has already
taken a message off the Signal servers when it pushes it over the websocket, so a message is
lost if Peerline dies between receiving the frame and handling it (at most the few frames in
the per-chat queues), and any message that arrives while no websocket is connected (Peerline
down or reconnecting) is dropped by the gateway. See the README.

Nothing here logs message content, phone numbers or uuids.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import aiohttp
from signalbot import (
    DataMessage,
    EditMessage,
    RemoteDelete,
    SendMessage,
    SentMessage,
    SignalAPIError,
    SignalBot,
    parse,
)

from bot.delivery import (
    SIGNAL_LIMITS,
    ChatSlots,
    NotHandledError,
    Pacer,
    RateLimits,
    backoff,
    current_priority,
)
from bot.events import (
    CAPTIONED_MEDIA,
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
from bot.logs import OFF, where

__all__ = ["SCALE_SEPARATOR", "SignalTransport", "render"]

SCALE_SEPARATOR = "   "

_log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_ATTEMPTS = 5  # tries per delivery through server errors: about 8 s of backoff
# Seconds one gateway call may take. signalbot's session has aiohttp's default of 5 minutes, so
# a hung connection would hold a chat for 25 minutes before its sender was told.
_CALL_TIMEOUT = 20.0
_MAX_CONCURRENT_CHATS = 32  # chats in the sink at once (not counting those waiting on a pace)
_DRAIN_TIMEOUT = 15.0
_RECEIVE_HEARTBEAT = 30.0  # seconds between websocket pings, so a dead link is noticed
# signalbot logs sent texts at INFO and recipients' numbers at WARNING: never let them through.
_SIGNALBOT_LOGGER = "signalbot"
# Envelope parts that are things a person said to the bot (receipts, typing, calls, stories and
# the bot's own linked devices' sync messages are not).
_SAID = ("dataMessage", "editMessage")
_UNTRUSTED = "UNTRUSTED"


class _NoDownloads:
    """What `signalbot.parse` needs to know of the client: not to download attachments (they
    are fetched into memory only when relayed)."""

    download_attachments = False


@dataclass(frozen=True, slots=True)
class _Attachment:
    id: str
    content_type: str
    file_name: str
    voice_note: bool


@dataclass(slots=True)
class _Job:
    incoming: Incoming
    attachments: tuple[_Attachment, ...] = ()
    sticker: bool = False
    check_identity: bool = True
    received: int = 0  # the frame's number on the receive connection(s), counted from 1


@dataclass(slots=True)
class _Listing:
    """One answer of the gateway's identity listing, and the frames received before it was
    asked for (only those may be judged by it)."""

    covers: int
    answer: asyncio.Future[frozenset[str]]  # the ids (uuids, numbers) that are UNTRUSTED

    def usable_for(self, received: int) -> bool:
        answer = self.answer
        failed = answer.done() and (answer.cancelled() or answer.exception() is not None)
        return received <= self.covers and not failed


@dataclass(slots=True)
class _InFlight:
    kind: str
    attachments: tuple[_Attachment, ...]
    fetched: dict[str, bytes] = field(default_factory=dict)


def render(reply: Reply, *, choose_hint: str = "", crisis_hint: str = "") -> str:
    """A reply as Signal shows it: choices as numbered lines, then how to answer them (the
    reply's own hints, in its reader's language, else the transport's)."""
    if not reply.choices:
        return reply.text
    lines = [reply.text, ""]
    labels = [choice.label for choice in reply.choices]
    if labels == [str(number) for number in range(1, len(labels) + 1)]:
        lines.append(SCALE_SEPARATOR.join(labels))  # a scale (a rating): "1   2   3   4   5"
    else:
        lines += [f"{number}. {label}" for number, label in enumerate(labels, 1)]
    lines += [hint for hint in reply.hints or (choose_hint, crisis_hint) if hint]
    return "\n".join(lines)


def media_kind(attachment: _Attachment) -> str:
    content_type = attachment.content_type.lower()
    if attachment.voice_note:
        return "voice"
    if content_type == "image/gif":
        return "animation"
    if content_type.startswith("image/"):
        return "photo"
    if content_type.startswith("audio/"):
        return "audio"
    if content_type.startswith("video/"):
        return "video"
    return "document"


class SignalTransport:
    """A `Transport` over signal-cli-rest-api in json-rpc mode."""

    def __init__(
        self,
        service: str,
        number: str,
        *,
        https: bool = False,
        commands: Iterable[str] = (),
        choose_hint: str = "",
        crisis_hint: str = "",
        command_words: Mapping[str, str] | None = None,
        retry_base_delay: float = 0.5,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
        limits: RateLimits = SIGNAL_LIMITS,
        call_timeout: float | None = None,
    ) -> None:
        """`call_timeout` (default 20 s) bounds each gateway call: one not answered by then (a
        hung connection) counts as failed and is tried again, like a server error."""
        self._service = service
        self._call_timeout = call_timeout or _CALL_TIMEOUT
        self._number = number
        self._https = https
        self._commands = frozenset(c.lower() for c in commands)
        self._choose_hint = choose_hint
        self._crisis_hint = crisis_hint
        # Words in any language that stand for a command when sent alone ("crisis" -> crisis).
        self._command_words = {k.lower(): v for k, v in (command_words or {}).items()}
        self._retry_base_delay = retry_base_delay
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._bot: SignalBot | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sink: EventSink | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._pending: dict[str, deque[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._slots = ChatSlots(_MAX_CONCURRENT_CHATS)
        self._inflight: dict[tuple[str, str], _InFlight] = {}
        self._received = 0  # frames read from the receive websocket so far
        self._listing: _Listing | None = None  # the identity listing asked for last
        self.limits = limits
        self._pacer = Pacer(limits)
        self._failed = asyncio.Event()
        self._lifecycle = asyncio.Lock()
        self.connected = asyncio.Event()  # set while the receive websocket is open

    def __repr__(self) -> str:
        return f"SignalTransport(running={self._bot is not None})"

    @property
    def platform(self) -> Platform:
        return Platform.SIGNAL

    @property
    def failed(self) -> asyncio.Event:
        return self._failed

    def _http(self, path: str) -> str:
        return f"{'https' if self._https else 'http'}://{self._service}{path}"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Begin receiving in the background and return at once: a gateway that is down at
        start-up is reported in one line and retried, while the rest of Peerline runs."""
        async with self._lifecycle:
            if self._bot is not None:
                raise RuntimeError("SignalTransport is already started")
            self._sink = sink
            self._bot = SignalBot(
                {
                    "phone_number": self._number,
                    "signal_service": self._service,
                    "connection_mode": "https_only" if self._https else "http_only",
                    "storage": {"type": "in-memory"},
                    "download_attachments": False,
                    "logging_level": logging.ERROR,
                }
            )
            _quiet_signalbot()
            self._pacer = Pacer(self.limits)
            self._session = aiohttp.ClientSession()
            self._receiver = asyncio.create_task(self._receive_forever(), name="signal-receive")
            _log.info("signal transport started")

    async def stop(self) -> None:
        async with self._lifecycle:
            bot = self._bot
            if bot is None:
                return
            try:
                if self._receiver is not None:
                    self._receiver.cancel()
                    await asyncio.gather(self._receiver, return_exceptions=True)
                    self._receiver = None
                await self._drain_workers()
            finally:
                if self._listing is not None:
                    self._listing.answer.cancel()  # nobody waits for it: the workers are done
                self._listing = None
                self._bot = None
                await self._pacer.close()
                await bot.close()
                if self._session is not None:
                    await self._session.close()
                    self._session = None
                self.connected.clear()
            _log.info("signal transport stopped")

    async def _drain_workers(self) -> None:
        workers = list(self._workers.values())
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=_DRAIN_TIMEOUT)
        if late:
            _log.warning("stopping with %d Signal chats still in the sink; cancelling", len(late))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- receiving -----------------------------------------------------------------------------

    async def _receive_forever(self) -> None:
        """Keep one receive websocket open: reconnect with backoff after a drop, a clean
        close, or a gateway that is not (yet) up."""
        delay = self._reconnect_delay
        reported_down = False
        while True:
            try:
                await self._check_gateway()
                if reported_down:
                    _log.info("Signal gateway at %s is answering again", self._service)
                    reported_down = False
                clean = await self._receive_once()
                delay = self._reconnect_delay  # it was up: start the backoff afresh
                how = "closed by the gateway" if clean else "dropped"
                _log.warning("Signal receive connection %s; reconnecting", how)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, SignalAPIError, OSError, TimeoutError) as exc:
                if not reported_down:
                    _log.error(
                        "Signal gateway at %s is not answering (%s); Peerline keeps running "
                        "and retries, backing off to every %.0fs",
                        self._service,
                        type(exc).__name__,
                        self._max_reconnect_delay,
                    )
                    reported_down = True
            except _WrongGatewayError as exc:
                if not reported_down:
                    _log.error("Signal gateway at %s: %s; retrying", self._service, exc.reason)
                    reported_down = True
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(self._max_reconnect_delay, delay * 2)

    async def _check_gateway(self) -> None:
        about = await self._signal().general.about()
        if about.mode != "json-rpc":
            raise _WrongGatewayError(f"mode is {about.mode!r}, Peerline needs json-rpc")

    async def _receive_once(self) -> bool:
        """Read one websocket until it ends; True when the gateway closed it cleanly."""
        scheme = "wss" if self._https else "ws"
        url = f"{scheme}://{self._service}/v1/receive/{self._number}"
        async with self._client().ws_connect(url, heartbeat=_RECEIVE_HEARTBEAT) as socket:
            self.connected.set()
            _log.info("signal receive connection open")
            async for frame in socket:
                if frame.type is aiohttp.WSMsgType.TEXT:
                    await self._on_frame(frame.data)
                elif frame.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
            self.connected.clear()
            return socket.close_code == aiohttp.WSCloseCode.OK

    async def _on_frame(self, raw: str) -> None:
        self._received += 1
        received = self._received
        try:
            frame = json.loads(raw)
            envelope = frame.get("envelope") if isinstance(frame, dict) else None
            if not isinstance(envelope, dict) or not any(k in envelope for k in _SAID):
                return  # a receipt, typing, a call, a sync from the bot's own devices, ...
            message = await parse(cast(Any, _NoDownloads()), raw)
        except Exception as exc:  # malformed or unknown: never quote it
            _log.warning("signal frame not understood: %s", type(exc).__name__)
            return
        job = self._convert(message)
        if job is not None:
            job.received = received
            self._enqueue(job)

    def _convert(self, message: object) -> _Job | None:
        if not isinstance(message, DataMessage | RemoteDelete) or message.is_group():
            return None  # reactions, typing, group traffic: not ours
        chat_id = message.source_uuid or message.source_number
        if not chat_id:
            return None
        address = Address(Platform.SIGNAL, chat_id)
        if isinstance(message, RemoteDelete):
            return _Job(Incoming(address, Kind.DELETE, message_id=str(message.timestamp)))
        attachments = tuple(
            _Attachment(
                id=a.local_filename,
                content_type=a.content_type or "application/octet-stream",
                file_name=a.remote_filename or "",
                voice_note=bool(a.is_voice_note),
            )
            for a in message.attachments or ()
            if a.local_filename
        )
        text = message.text or ""
        reply_to = str(message.quote.id) if message.quote is not None else ""
        if isinstance(message, EditMessage):
            kind = media_kind(attachments[0]) if attachments else ""
            incoming = Incoming(
                address,
                Kind.EDIT,
                text=text,
                media_kind=kind if kind in CAPTIONED_MEDIA else "",
                message_id=str(message.target_sent_timestamp),
            )
            return _Job(incoming, attachments=attachments)  # so the gateway's copies go too
        ids = {"message_id": str(message.timestamp), "reply_to_id": reply_to}
        if message.sticker is not None:
            return _Job(Incoming(address, Kind.MEDIA, media_kind="sticker", **ids), sticker=True)
        if attachments:
            kind = media_kind(attachments[0])
            incoming = Incoming(address, Kind.MEDIA, text=text, media_kind=kind, **ids)
            return _Job(incoming, attachments=attachments)
        if not text.strip():
            # A poll, a contact card, a payment, ...: tell the person it was not relayed.
            return _Job(Incoming(address, Kind.MEDIA, media_kind=UNSUPPORTED_MEDIA, **ids))
        command = self._command(text)
        if command is not None:
            name, args = command
            return _Job(Incoming(address, Kind.COMMAND, command=name, args=args, **ids))
        return _Job(Incoming(address, Kind.TEXT, text=text, **ids))

    def _command(self, text: str) -> tuple[str, str] | None:
        """A command: "/name args", or one known command word alone ("help", "Crisis!").
        Words with more after them are never commands without the slash: "end it" is a thing
        a person says, and must reach the other side."""
        stripped = text.strip()
        if stripped.startswith("/"):
            head, _, rest = stripped[1:].partition(" ")
            name = head.split("@", 1)[0].lower()
            return (name, rest.strip()) if name else None
        word = stripped.rstrip(".!?").lower()
        if word in self._commands:
            return word, ""
        if (command := self._command_words.get(word)) is not None:
            return command, ""
        return None

    def _enqueue(self, job: _Job) -> None:
        key = job.incoming.address.chat_id
        self._pending.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name="signal-chat-worker")

    async def _work(self, key: str) -> None:
        """Feed one chat's events to the sink, one at a time, in arrival order."""
        try:
            while queue := self._pending.get(key):
                job = queue.popleft()
                async with self._slots.held():
                    await self._run(job)
        finally:
            self._pending.pop(key, None)
            self._workers.pop(key, None)

    async def _run(self, job: _Job) -> None:
        sink = self._sink
        if sink is None:
            return
        incoming = job.incoming
        flight_key = (incoming.address.chat_id, incoming.message_id)
        if job.attachments or job.sticker:
            kind = "sticker" if job.sticker else incoming.media_kind
            self._inflight[flight_key] = _InFlight(kind, job.attachments)
        try:
            if job.check_identity and incoming.kind is not Kind.DELETE:
                await self._report_identity_change(incoming.address, job.received)
            await sink(incoming)
        except NotHandledError:
            # Stopping mid-way. The gateway has no acknowledgement to withhold: this one is lost
            # (see the module docstring and the README).
            _log.warning("a %s event was cut off by the stop", incoming.kind.value)
        except Exception as exc:  # a failing handler must not stop the others or receiving
            _log.error(
                "sink failed on a %s event: %s at %s",
                incoming.kind.value,
                type(exc).__name__,
                where(exc),
            )
        finally:
            self._inflight.pop(flight_key, None)
            # Relayed or not, the files leave the gateway's disk now.
            for attachment in job.attachments:
                await self._delete_attachment(attachment.id)

    async def _report_identity_change(self, address: Address, received: int) -> None:
        """If the person's identity key changed (UNTRUSTED at the gateway), the sink hears of
        it first, so the rule for helpers applies before anything else they send."""
        try:
            changed = address.chat_id in await self._untrusted_since(received)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            _log.warning("identity check failed: %s", type(exc).__name__)
            return
        if changed and self._sink is not None:
            _log.info("a Signal identity key changed")
            await self._sink(Incoming(address, Kind.IDENTITY))

    async def _untrusted_since(self, received: int) -> frozenset[str]:
        """Who is UNTRUSTED in the gateway's identity listing, asked for after frame `received`
        arrived. The gateway records a key change before it hands over the message that
        brought it, so any listing asked for later shows it. One listing serves every frame
        received before it was asked for: a burst costs a request or two, not one a message,
        and a frame that came later waits for a later listing."""
        listing = self._listing
        if listing is None or not listing.usable_for(received):
            answer = asyncio.ensure_future(self._untrusted())
            answer.add_done_callback(_retrieved)  # its waiters may all be gone (a stop)
            listing = self._listing = _Listing(self._received, answer)
        return await asyncio.shield(listing.answer)

    async def _untrusted(self) -> frozenset[str]:
        url = self._http(f"/v1/identities/{self._number}")
        async with self._client().get(url) as response:
            response.raise_for_status()
            entries = await response.json()
        return frozenset(
            str(key)
            for e in (entries if isinstance(entries, list) else ())
            if isinstance(e, dict) and e.get("status") == _UNTRUSTED
            for key in (e.get("uuid"), e.get("number"))
            if key
        )

    async def _delete_attachment(self, attachment_id: str) -> None:
        try:
            async with self._client().delete(self._http(f"/v1/attachments/{attachment_id}")) as r:
                if r.status >= 400 and r.status != 404:
                    _log.warning("attachment not deleted from the gateway: HTTP %d", r.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            _log.warning("attachment not deleted from the gateway: %s", type(exc).__name__)

    # -- sending -------------------------------------------------------------------------------

    def _signal(self) -> SignalBot:
        if self._bot is None:
            raise DeliveryError("Signal transport stopped", permanent=False, stopped=True)
        return self._bot

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise DeliveryError("Signal transport stopped", permanent=False, stopped=True)
        return self._session

    def _render(self, reply: Reply) -> str:
        return render(reply, choose_hint=self._choose_hint, crisis_hint=self._crisis_hint)

    async def send(self, to: Address, reply: Reply) -> Sent:
        return await self._send(to, SendMessage(text=self._render(reply)))

    async def edit(self, sent: Sent, reply: Reply) -> None:
        message = SendMessage(text=self._render(reply), edit_timestamp=int(sent.message_id))
        await self._send(sent.address, message)

    async def copy(
        self, to: Address, source: Address, message_id: str, caption: str | None = None
    ) -> Sent:
        media = await self.fetch_media(source, message_id)
        return await self.send_media(to, media, caption)

    async def edit_copy(self, sent: Sent, text: str, *, is_caption: bool) -> None:
        # A Signal edit replaces the text of a message; a caption is that text.
        await self._send(sent.address, SendMessage(text=text, edit_timestamp=int(sent.message_id)))

    async def delete(self, sent: Sent) -> None:
        target = SentMessage.model_construct(
            recipient=_recipient(sent.address), timestamp=int(sent.message_id)
        )
        bot = self._signal()
        await self._deliver(
            "remote-delete", lambda: bot.messages.remote_delete(target), sent.address
        )

    async def accept_identity(self, address: Address) -> None:
        url = self._http(f"/v1/identities/{self._number}/trust/{_recipient(address)}")

        async def trust() -> None:
            async with self._client().put(url, json={"trust_all_known_keys": True}) as r:
                r.raise_for_status()

        try:
            await self._deliver("trust", trust, address)
        finally:
            # A listing asked for before the trust still says UNTRUSTED: their next message
            # is judged by a new one, or they would be told twice (those already waiting for
            # that listing still get it).
            self._listing = None

    async def fetch_media(self, source: Address, message_id: str) -> Media:
        """The attachments of a message being handled, read from the gateway into memory."""
        flight = self._inflight.get((source.chat_id, message_id))
        if flight is None or flight.kind == "sticker" or not flight.attachments:
            raise NotRelayableError()
        files = []
        for attachment in flight.attachments:
            data = flight.fetched.get(attachment.id)
            if data is None:
                data = await self._download(attachment.id, source)
                flight.fetched[attachment.id] = data  # sent to two platforms, fetched once
            files.append(MediaFile(data, attachment.content_type, attachment.file_name))
        return Media(flight.kind, tuple(files))

    async def _download(self, attachment_id: str, source: Address) -> bytes:
        url = self._http(f"/v1/attachments/{attachment_id}")

        async def get() -> bytes:
            async with self._client().get(url) as response:
                response.raise_for_status()
                return await response.read()

        data = await self._deliver("attachment", get, source, paced=False)
        assert data is not None  # noqa: S101 - a download always returns bytes
        return data

    async def send_media(self, to: Address, media: Media, caption: str | None) -> Sent:
        attachments = [_data_uri(file) for file in media.files]
        return await self._send(
            to, SendMessage(text=caption or "", base64_attachments=attachments)
        )

    async def _send(self, to: Address, message: SendMessage) -> Sent:
        bot = self._signal()
        recipient = _recipient(to)
        sent = await self._deliver("send", lambda: bot.messages.send(message, recipient), to)
        assert sent is not None  # noqa: S101 - a send always returns its record
        return Sent(to, str(sent.timestamp))

    async def _deliver(
        self, method: str, call: Callable[[], Awaitable[T]], to: Address, *, paced: bool = True
    ) -> T | None:
        """Run one gateway call, paced like Telegram's sends (`bot.delivery`: per chat, overall,
        most important first), through rate limits and bounded server-error retries, mapping
        failures to `DeliveryError`.

        A 429 holds this chat (not the others) and is waited out: the send resumes, it is not
        dropped. `paced=False`: not a message (an attachment download).
        """
        priority = current_priority()
        failures = limited = 0
        while True:
            self._signal()  # raises once the transport is stopping
            if paced:
                await self._pacer.turn(to.chat_id, priority)
                self._signal()
            try:
                async with asyncio.timeout(self._call_timeout):
                    return await call()
            except (SignalAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                status, retry_after = _status_of(exc)
            if status == 429:
                limited += 1
                wait = retry_after if retry_after is not None else backoff(limited, 1.0)
                _log.warning("signal %s rate limited; holding that chat", method)
                self._pacer.hold(to.chat_id, wait)
                if not paced:
                    await asyncio.sleep(wait)
                continue
            if status is None or status >= 500:
                failures += 1
                _log.warning("signal %s failed: HTTP %s (attempt %d)", method, status, failures)
                if failures >= _MAX_ATTEMPTS:
                    raise DeliveryError("gateway failure", permanent=False)
                await asyncio.sleep(backoff(failures, self._retry_base_delay))
                continue
            _log.warning("signal %s refused: HTTP %d", method, status)
            if method == "send" and status == 400 and await self._untrusted_now(to):
                # The person's key changed before they wrote: tell the sink, like on receipt.
                self._enqueue(_Job(Incoming(to, Kind.IDENTITY), check_identity=False))
                raise DeliveryError("identity key changed", permanent=False)
            raise DeliveryError("rejected by the Signal gateway", permanent=False)

    async def _untrusted_now(self, to: Address) -> bool:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, DeliveryError):
            return to.chat_id in await self._untrusted()
        return False


class _WrongGatewayError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _status_of(exc: BaseException) -> tuple[int | None, float | None]:
    """The HTTP status behind a gateway failure (None when the gateway did not answer), and
    its Retry-After in seconds if it sent one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientResponseError):
            retry_after = None
            header = seen.headers.get("Retry-After") if seen.headers else None
            with contextlib.suppress(ValueError):
                retry_after = float(header) if header else None
            return seen.status, retry_after
        seen = seen.__cause__
    return None, None


def _retrieved(answer: asyncio.Future[frozenset[str]]) -> None:
    if not answer.cancelled():
        answer.exception()


def _recipient(address: Address) -> str:
    if address.platform is not Platform.SIGNAL:
        raise ValueError(f"not a Signal address: {address!r}")
    return address.chat_id


def _data_uri(file: MediaFile) -> str:
    encoded = base64.b64encode(file.data).decode("ascii")
    name = f";filename={file.file_name}" if file.file_name else ""
    return f"data:{file.content_type}{name};base64,{encoded}"


def _quiet_signalbot() -> None:
    """signalbot adds a console handler of its own and logs sent texts (INFO) and recipients
    (WARNING) and tracebacks (ERROR): route it through ours, switched off at every level."""
    logger = logging.getLogger(_SIGNALBOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(OFF)
