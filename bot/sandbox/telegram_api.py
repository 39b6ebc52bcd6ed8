"""A local stand-in for the Telegram Bot API, speaking the real wire over HTTP on 127.0.0.1.

Used by the test-suite and by `peerline demo`: the real python-telegram-bot talks to it exactly
as it would to api.telegram.org (set `ApplicationBuilder.base_url(api.base_url)`), while
simulated people (`api.user(...)`) type, press buttons and read what the bot sent them.

    api = LocalBotApi()
    await api.start()
    alice = api.user(1001, "Alice")
    await alice.send("/start")
    menu = await alice.wait_for("Welcome")
    await alice.press(menu, "Talk to a peer")
    ...
    await api.stop()

Message content is kept in memory for assertions only; the server logs method names at DEBUG
and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp
from aiohttp import web

from bot.events import CAPTIONED_MEDIA, MEDIA_KINDS
from bot.sandbox.faults import Fault, FaultPlan
from bot.sandbox.settle import Handling

__all__ = ["SEND_METHODS", "BotMessage", "LocalBotApi", "SimUser", "Storm", "poison_updates"]

_log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

# Form fields that PTB JSON-encodes (non-string values); every other field is a plain string.
_JSON_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_ids",
        "reply_to_message_id",
        "reply_parameters",
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "drop_pending_updates",
        "show_alert",
        "cache_time",
        "disable_notification",
        "protect_content",
        "link_preview_options",
        "disable_web_page_preview",
        "allow_sending_without_reply",
    }
)

# Telegram counts these limits in UTF-16 code units (an emoji is two).
_MAX_TEXT = 4096
_MAX_CAPTION = 1024


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_MAX_CALLBACK_DATA = 64
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_BLOCKED = "Forbidden: bot was blocked by the user"
# Methods whose target chat is `chat_id` (a blocked person makes them fail with 403).
_CHAT_METHODS = frozenset(
    {
        "sendmessage",
        "copymessage",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
        "deletemessage",
        "sendchataction",
        "sendphoto",
        "sendvoice",
        "sendaudio",
        "sendvideo",
        "sendanimation",
        "senddocument",
    }
)
# Upload methods and the media kind each one sends (media read from another platform).
_UPLOADS = {
    "sendphoto": "photo",
    "sendvoice": "voice",
    "sendaudio": "audio",
    "sendvideo": "video",
    "sendanimation": "animation",
    "senddocument": "document",
}
_MEDIA_FIELDS = MEDIA_KINDS
# Methods that put a new message into a chat (a late answer may make a second copy).
_NEW_MESSAGE_METHODS = frozenset({"sendmessage", "copymessage", *_UPLOADS})
# Media that carry a caption (the others ignore one, as on Telegram).
_CAPTIONED = CAPTIONED_MEDIA
# Content the bot cannot relay; `SimUser.send_unsupported` sends one of these.
_UNSUPPORTED_FIELDS = ("poll", "dice", "game", "story")

Buttons = list[list[tuple[str, str]]]


class ApiError(Exception):
    """Raised inside a method handler to answer with the Bot API error shape."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


@dataclass
class BotMessage:
    """A message the bot sent (or copied) into a simulated person's chat, as their phone shows it.

    Kept current: an edit changes `text`/`caption`/`buttons` in place and sets `edited`. For
    media, `text` holds the caption too (empty without one), so `wait_for` finds it.
    """

    message_id: int
    text: str
    buttons: Buttons = field(default_factory=list)
    reply_to_message_id: int | None = None
    copied_from: tuple[int, int] | None = None  # (chat_id, message_id) of the original
    edited: bool = False
    media_kind: str = ""  # set when a copied message carries media (photo, voice, ...)
    caption: str | None = None  # a media message's caption; None for text or without one
    data: bytes | None = field(default=None, repr=False)  # an uploaded file's bytes
    # Delivered by a call answered only after the client's timeout (a fault): the client saw a
    # timeout and may have sent it again.
    late: bool = False

    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int


@dataclass
class Storm:
    """A fault in force until `LocalBotApi.calm()`: every matching call fails the same way
    (or hangs, with status 0). `hits` counts the calls it failed."""

    status: int
    description: str
    retry_after: int | None
    methods: frozenset[str]
    chats: frozenset[int] | None  # None: every chat
    hits: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        return method in self.methods and (self.chats is None or chat_id in self.chats)


# What a bot sends with (a storm on these is a storm on delivery).
SEND_METHODS = frozenset({"sendmessage", "copymessage", "editmessagetext", "editmessagecaption"})


def _parse_buttons(markup: object) -> Buttons:
    if not isinstance(markup, Mapping):
        return []
    rows = markup.get("inline_keyboard") or []
    return [
        [(str(b.get("text", "")), str(b.get("callback_data") or b.get("url") or "")) for b in row]
        for row in rows
    ]


def _decode_field(name: str, value: str) -> object:
    if name not in _JSON_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class SimUser:
    """A simulated person in a private chat with the bot (private chat id == user id)."""

    def __init__(
        self, api: LocalBotApi, user_id: int, first_name: str, username: str | None
    ) -> None:
        self._api = api
        self.user_id = user_id
        self.first_name = first_name
        self.username = username
        self.language_code: str | None = None  # the app's language, as Telegram reports it
        self.inbox: list[BotMessage] = []
        self._changed = asyncio.Condition()

    # -- what the person does ------------------------------------------------------------------

    @property
    def user_json(self) -> JsonDict:
        data: JsonDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    @property
    def chat_json(self) -> JsonDict:
        data: JsonDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        return data

    async def send(self, text: str, *, reply_to: BotMessage | None = None) -> int:
        """Type a message to the bot; returns its message_id. "/cmd ..." is sent as a command."""
        extra: JsonDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._send(extra, reply_to)

    async def send_media(
        self,
        kind: str = "photo",
        *,
        caption: str | None = None,
        reply_to: BotMessage | None = None,
        file_name: str | None = None,
        data: bytes | None = None,
    ) -> int:
        """Send a piece of media (photo, voice, audio, video, document, sticker, location,
        contact, video_note, animation); returns its message_id. `file_name` names a
        document; `data` is what downloading the file returns."""
        file_id = self._api.next_file_id()
        if data is not None:
            self._api.files[file_id] = data
        extra: JsonDict = _media_json(kind, file_id)
        if file_name is not None and isinstance(extra.get("document"), dict):
            extra["document"]["file_name"] = file_name
        if caption is not None:
            extra["caption"] = caption
        return await self._send(extra, reply_to)

    async def send_unsupported(
        self, kind: str = "poll", *, reply_to: BotMessage | None = None
    ) -> int:
        """Send something the bot cannot relay (poll, dice, game, story); returns its id."""
        return await self._send(_unsupported_json(kind, self), reply_to)

    async def edit(self, message_id: int, text: str) -> None:
        """Edit a message this person sent earlier: a text message gets `text` as its new text,
        media its new caption (empty removes it). Pushes an `edited_message` update."""
        original = self._api.raw_message(self.user_id, message_id)
        if original.get("from", {}).get("id") != self.user_id:
            raise AssertionError(f"user {self.user_id} sent no message {message_id}")
        message: JsonDict = {k: v for k, v in original.items() if k != "entities"}
        if "text" in original:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(command)}
                ]
        elif any(k in original for k in _CAPTIONED):
            message.pop("caption_entities", None)
            if text:
                message["caption"] = text
            else:
                message.pop("caption", None)
        else:
            raise AssertionError(f"message {message_id} has no text or caption to edit")
        message["edit_date"] = int(time.time())
        self._api.store_message(self.user_id, message)
        await self._api.push_update({"edited_message": message})

    async def _send(self, extra: JsonDict, reply_to: BotMessage | None) -> int:
        message: JsonDict = {
            "message_id": self._api.next_message_id(self.user_id),
            "date": int(time.time()),
            "chat": self.chat_json,
            "from": self.user_json,
            **extra,
        }
        if reply_to is not None:
            message["reply_to_message"] = self._api.raw_message(self.user_id, reply_to.message_id)
        self._api.store_message(self.user_id, message)
        await self._api.push_update({"message": message})
        return int(message["message_id"])

    async def press(self, message: BotMessage, label: str) -> None:
        """Press the inline button labelled `label` on `message` (as it currently looks)."""
        for row in message.buttons:
            for text, data in row:
                if text == label:
                    await self.press_data(data, message)
                    return
        raise AssertionError(
            f"no button {label!r} on message {message.message_id} ({message.text[:60]!r}); "
            f"buttons are {message.labels()}"
        )

    async def press_data(self, data: str, message: BotMessage | None = None) -> None:
        """Send a callback query with arbitrary (possibly forged) data. Without `message`, the
        last message in the inbox carries it (or none at all if the inbox is empty)."""
        carrier = message if message is not None else (self.inbox[-1] if self.inbox else None)
        query: JsonDict = {
            "id": self._api.new_callback_id(),
            "from": self.user_json,
            "chat_instance": f"ci-{self.user_id}",
            "data": data,
        }
        if carrier is not None:
            query["message"] = self._api.raw_message(self.user_id, carrier.message_id)
        else:
            query["inline_message_id"] = "sandbox-inline"
        await self._api.push_update({"callback_query": query})

    # -- what the person sees ------------------------------------------------------------------

    @property
    def last(self) -> BotMessage:
        if not self.inbox:
            raise AssertionError(f"user {self.user_id} has received nothing")
        return self.inbox[-1]

    def texts(self) -> list[str]:
        return [m.text for m in self.inbox]

    def menu(self) -> list[tuple[str, str]]:
        """The command menu this person's app shows: (command, description) pairs."""
        return self._api.menu_seen_by(self)

    def commands(self) -> list[str]:
        return [name for name, _ in self.menu()]

    async def wait_for(self, contains: str, *, timeout: float = 5.0) -> BotMessage:  # noqa: ASYNC109
        """The first inbox message whose text contains `contains`, waiting for it to arrive
        (or for an edit to make it so) up to `timeout` seconds."""
        found: list[BotMessage] = []

        def check() -> bool:
            found[:] = [m for m in self.inbox if contains in m.text][:1]
            return bool(found)

        await self._wait(check, timeout, lambda: f"no message containing {contains!r}")
        return found[0]

    async def wait_for_count(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the sandbox's documented API
    ) -> list[BotMessage]:
        """Wait until the inbox holds at least `n` messages; returns the inbox."""
        await self._wait(lambda: len(self.inbox) >= n, timeout, lambda: f"fewer than {n} messages")
        return list(self.inbox)

    async def wait_until(
        self,
        check: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the sandbox's documented API
    ) -> None:
        """Wait until `check()` (re-evaluated whenever the inbox changes) is true, e.g.
        `await peer.wait_until(lambda: any(m.copied_from for m in peer.inbox))`."""
        await self._wait(check, timeout, lambda: "the awaited condition still false")

    async def _wait(
        self, check: Callable[[], bool], seconds: float, what: Callable[[], str]
    ) -> None:
        try:
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(check)
        except TimeoutError:
            raise AssertionError(
                f"user {self.user_id}: {what()} after {seconds}s; inbox holds {self.texts()!r}"
            ) from None

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _media_json(kind: str, file_id: str) -> JsonDict:
    file: JsonDict = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
    match kind:
        case "photo":
            return {"photo": [{**file, "width": 90, "height": 90}]}
        case "voice" | "audio" | "video_note":
            return {
                kind: {**file, "duration": 3, **({"length": 90} if kind == "video_note" else {})}
            }
        case "video" | "animation":
            media = {**file, "width": 90, "height": 90, "duration": 3}
            # Telegram also fills `document` for animations.
            return {kind: media, **({"document": file} if kind == "animation" else {})}
        case "document":
            return {"document": {**file, "file_name": "file.pdf"}}
        case "sticker":
            sticker = {"type": "regular", "is_animated": False, "is_video": False}
            return {"sticker": {**file, "width": 90, "height": 90, **sticker}}
        case "location":
            return {"location": {"latitude": 51.5, "longitude": -0.12}}
        case "contact":
            return {"contact": {"phone_number": "+15555550100", "first_name": "Contact"}}
    raise ValueError(f"unsupported media kind {kind!r}")


def _unsupported_json(kind: str, user: SimUser) -> JsonDict:
    match kind:
        case "poll":
            options = [
                {"persistent_id": f"o{i}", "text": t, "voter_count": 0}
                for i, t in enumerate(("Yes", "No"))
            ]
            poll = {
                "id": f"poll-{user.user_id}",
                "question": "Coffee?",
                "options": options,
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
            return {"poll": poll}
        case "dice":
            return {"dice": {"emoji": "\N{GAME DIE}", "value": 4}}
        case "game":
            photo = [{"file_id": "game", "file_unique_id": "ugame", "width": 9, "height": 9}]
            return {"game": {"title": "Game", "description": "A game", "photo": photo}}
        case "story":
            return {"story": {"chat": user.chat_json, "id": 1}}
    raise ValueError(f"unknown unsupported kind {kind!r}")


def poison_updates(user: SimUser) -> list[JsonDict]:
    """Updates a Bot API server may send that python-telegram-bot cannot use (seen from
    self-hosted servers that lag the library): each must be skipped, not kill polling."""
    base: JsonDict = {
        "message_id": 9001,
        "date": int(time.time()),
        "chat": user.chat_json,
        "from": user.user_json,
        "text": f"poison text from {user.user_id}",
    }
    no_date = {k: v for k, v in base.items() if k != "date"}
    string_chat = {**base, "chat": {**user.chat_json, "id": f"chat-{user.user_id}"}}
    no_type = {**base, "chat": {k: v for k, v in user.chat_json.items() if k != "type"}}
    old_poll = {
        **{k: v for k, v in base.items() if k != "text"},
        # Bot API 2.x shape: options as bare strings, no counts, no type.
        "poll": {"id": "p1", "question": "Coffee?", "options": ["Yes", "No"]},
    }
    no_chat = {k: v for k, v in base.items() if k != "chat"}
    bad_callback = {"callback_query": {"from": user.user_json, "data": "x"}}
    return [
        {"message": no_date},
        {"message": string_chat},
        {"message": no_type},
        {"message": old_poll},
        {"message": no_chat},
        {"edited_message": "not an object"},
        bad_callback,
    ]


@dataclass(frozen=True, slots=True)
class WebhookSetting:
    url: str
    secret_token: str
    max_connections: int


class LocalBotApi:
    """An aiohttp server answering `POST /bot{token}/{method}` like api.telegram.org."""

    def __init__(
        self,
        token: str = "123456:sandbox-token",  # noqa: S107 - a fixed fake token
        bot_username: str = "peerline_sandbox_bot",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_username = bot_username
        self.calls: list[tuple[str, dict[str, object]]] = []
        self.callback_answers: list[dict[str, object]] = []
        # Command menus as set: (scope type, chat id for scope "chat", language code or "")
        # -> [(command, description)]. `menu_seen_by(user)` resolves what a person sees.
        self.menus: dict[MenuKey, list[tuple[str, str]]] = {}
        self._users: dict[int, SimUser] = {}
        self._messages: dict[tuple[int, int], JsonDict] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(1)
        self._updates_changed = asyncio.Condition()
        self._callback_ids = itertools.count(1)
        self._open_callbacks: set[str] = set()
        self._file_ids = itertools.count(1)
        self.files: dict[str, bytes] = {}  # file_id -> bytes, for downloads
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._blocked: set[int] = set()
        self._storms: list[Storm] = []
        self.faults: FaultPlan | None = None  # seeded faults per call (bot.sandbox.faults)
        self._calm = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._handling = Handling(
            lambda request: request.match_info.get("method", "").lower() == "getupdates"
        )
        self._port = 0
        self._closing = False
        self._held = False  # getUpdates answers nothing while held (see hold_updates)
        self.webhook: WebhookSetting | None = None
        self.webhook_answers: list[tuple[int, int]] = []  # (update id, HTTP status) per POST
        # The last failed webhook delivery (unix time, Telegram's words), as getWebhookInfo says.
        self.webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        # Called with each message the bot puts in a person's chat, as it lands (benchmarks
        # time relays with it).
        self.on_delivered: Callable[[SimUser, BotMessage], None] | None = None
        self._methods: dict[str, Callable[[JsonDict], Any]] = {
            "getme": self._get_me,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemessage": self._delete_message,
            "sendchataction": lambda _p: True,
            "copymessage": self._copy_message,
            "getfile": self._get_file,
            **{name: functools.partial(self._upload, kind) for name, kind in _UPLOADS.items()},
        }

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._handling.middleware])
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # access_log=None: an access line would carry the token in the URL.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._closing = False

    def hold_updates(self) -> None:
        """Until `release_updates`, getUpdates answers nothing: what people send meanwhile
        comes in one go, as after a bot's outage."""
        self._held = True

    async def release_updates(self) -> None:
        self._held = False
        async with self._updates_changed:
            self._updates_changed.notify_all()

    def busy(self) -> bool:
        """A call of the bot's (a long poll aside) is being answered."""
        return self._handling.busy()

    async def stop(self) -> None:
        self._closing = True
        self.calm()
        await self._stop_webhook()
        async with self._updates_changed:
            self._updates_changed.notify_all()  # release pending long polls at once
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> LocalBotApi:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if not self._port:
            raise RuntimeError("LocalBotApi is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.root_url}/file/bot"

    # -- people and updates --------------------------------------------------------------------

    def user(self, user_id: int, first_name: str = "User", username: str | None = None) -> SimUser:
        """The simulated person with this id (created on first use)."""
        if user_id not in self._users:
            self._users[user_id] = SimUser(self, user_id, first_name, username)
        return self._users[user_id]

    async def push_update(self, update: JsonDict) -> int:
        """Queue a raw update (an `update_id` is assigned); returns the update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        async with self._updates_changed:
            self._updates_changed.notify_all()
        return update_id

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def next_file_id(self) -> str:
        return f"file-{next(self._file_ids)}"

    def new_callback_id(self) -> str:
        callback_id = f"cb-{next(self._callback_ids)}"
        self._open_callbacks.add(callback_id)
        return callback_id

    def store_message(self, chat_id: int, message: JsonDict) -> None:
        self._messages[(chat_id, int(message["message_id"]))] = message

    def raw_message(self, chat_id: int, message_id: int) -> JsonDict:
        try:
            return self._messages[(chat_id, message_id)]
        except KeyError:
            raise AssertionError(f"no message {message_id} in chat {chat_id}") from None

    # -- faults --------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail with the Bot API error shape."""
        fault = _Fault(status, description, retry_after, times)
        self._faults.setdefault(method.lower(), []).append(fault)

    def storm(
        self,
        *,
        status: int = 429,
        description: str = "Too Many Requests: retry after 60",
        retry_after: int | None = None,
        methods: frozenset[str] = SEND_METHODS,
        chats: set[int] | None = None,
    ) -> Storm:
        """Fail every call of `methods` (to `chats`, or to any chat) until `calm()`: a flood
        wait with any `retry_after` (429), a 5xx outage, a 403 wave. Status 0 hangs each call
        (no answer at all) until `calm()`."""
        if status == 429 and retry_after is None:
            retry_after = 60
        storm = Storm(
            status,
            description,
            retry_after,
            frozenset(m.lower() for m in methods),
            frozenset(chats) if chats is not None else None,
        )
        self._storms.append(storm)
        self._calm.clear()
        return storm

    def calm(self) -> None:
        """End every storm; hung calls answer normally."""
        self._storms.clear()
        self._calm.set()

    def block(self, user_id: int) -> None:
        """The person blocks the bot: anything aimed at their chat gets 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of `method` only after `seconds` (0 removes the delay)."""
        self._delays[method.lower()] = seconds

    def calls_of(self, method: str) -> list[dict[str, object]]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        handler = self._methods.get(method.lower())
        if handler is None:
            return _error(404, "Not Found")
        _log.debug("bot api call %s", method)
        params = await _read_params(request)
        self.calls.append((method, params))
        key = method.lower()
        if delay := self._delays.get(key):
            await asyncio.sleep(delay)
        started = time.monotonic()
        try:
            fault = await self._apply_plan(key, params)
            await self._apply_storms(key, params)
            self._apply_faults(key, params)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return _error(exc.status, exc.description, exc.retry_after)
        plan = self.faults
        if plan is not None and key in _CHAT_METHODS:
            if fault is Fault.LATE:
                await asyncio.sleep(plan.timeout + plan.late_by)
            if key in _NEW_MESSAGE_METHODS and time.monotonic() - started >= plan.timeout:
                self._mark_late(params, result)  # the client gave up before the answer
        return web.json_response({"ok": True, "result": result})

    async def _apply_plan(self, key: str, params: JsonDict) -> Fault:
        """The seeded fault of this call, if a plan is set (see `bot.sandbox.faults`)."""
        plan = self.faults
        if plan is None or (key not in _CHAT_METHODS and key != "getupdates"):
            return Fault.NONE
        chat = "getUpdates" if key == "getupdates" else str(_int(params.get("chat_id")))
        fault, retry_after = plan.decide("telegram", chat)
        if fault is Fault.RATE_LIMITED:
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        if fault is Fault.SERVER_ERROR:
            raise ApiError(502, "Bad Gateway")
        if fault is Fault.HUNG:
            await plan.hang()  # accepted, never answered, not carried out
        return fault

    def _mark_late(self, params: JsonDict, result: object) -> None:
        chat_id = _int(params.get("chat_id"))
        message_id = result.get("message_id") if isinstance(result, dict) else None
        user = self._users.get(chat_id) if chat_id is not None else None
        for view in user.inbox if user is not None else []:
            if view.message_id == message_id:
                view.late = True

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        stored = self.files.get(path.removeprefix("files/"))
        return web.Response(
            body=stored if stored is not None else b"sandbox file " + path.encode()
        )

    async def _apply_storms(self, key: str, params: JsonDict) -> None:
        scope = params.get("scope")
        # A person's own menu names its chat in the scope.
        in_scope = scope.get("chat_id") if isinstance(scope, Mapping) else None
        chat_id = _int(params.get("chat_id", in_scope))
        for storm in list(self._storms):
            if not storm.matches(key, chat_id):
                continue
            storm.hits += 1
            if storm.status == 0:  # a hung connection: no answer until calm()
                await self._calm.wait()
                return
            raise ApiError(storm.status, storm.description, storm.retry_after)

    def _apply_faults(self, key: str, params: JsonDict) -> None:
        queue = self._faults.get(key)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            raise ApiError(fault.status, fault.description, fault.retry_after)
        if key in _CHAT_METHODS and _int(params.get("chat_id")) in self._blocked:
            raise ApiError(403, _BLOCKED)

    # -- methods -------------------------------------------------------------------------------

    def _get_me(self, _params: JsonDict) -> JsonDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Peerline",
            "username": self.bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # -- webhook mode: updates are POSTed until a 200 answers each ---------------------------

    def _set_webhook(self, params: JsonDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        self.webhook = WebhookSetting(
            url=url,
            secret_token=str(params.get("secret_token") or ""),
            max_connections=_int(params.get("max_connections")) or 40,
        )
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        return True

    def _get_webhook_info(self, _params: JsonDict) -> JsonDict:
        hook = self.webhook
        info: JsonDict = {
            "url": hook.url if hook is not None else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
        if self.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return info

    def _delete_webhook(self, _params: JsonDict) -> bool:
        self.webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None
        return True

    async def _stop_webhook(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _deliver_webhook(self) -> None:
        """Like Telegram: the oldest updates, up to max_connections at once, each POSTed with
        the secret header until it is answered 200; anything else is retried a little later."""
        in_flight: dict[int, asyncio.Task[int]] = {}
        async with aiohttp.ClientSession() as http:
            try:
                while (hook := self.webhook) is not None and not self._closing:
                    for update in list(self._updates):
                        if len(in_flight) >= hook.max_connections:
                            break
                        if update["update_id"] not in in_flight:
                            in_flight[update["update_id"]] = asyncio.create_task(
                                self._post_update(http, hook, update)
                            )
                    if not in_flight:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.5), self._updates_changed:
                                await self._updates_changed.wait_for(lambda: bool(self._updates))
                        continue
                    done, _ = await asyncio.wait(
                        in_flight.values(), timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                    )
                    for update_id, task in list(in_flight.items()):
                        if task not in done:
                            continue
                        del in_flight[update_id]
                        status = task.result()
                        self.webhook_answers.append((update_id, status))
                        if status != 200:
                            self.webhook_error = (int(time.time()), _delivery_error(status))
                        if status == 200:
                            self._updates = [
                                u for u in self._updates if u["update_id"] != update_id
                            ]
                        else:
                            await asyncio.sleep(0.05)  # Telegram, too, waits before a retry
            finally:
                for task in in_flight.values():
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _post_update(
        self, http: aiohttp.ClientSession, hook: WebhookSetting, update: JsonDict
    ) -> int:
        headers = (
            {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        )
        try:
            async with http.post(hook.url, json=update, headers=headers) as answer:
                return answer.status
        except aiohttp.ClientError:
            return 0  # nobody listening: retried

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = _int(params.get("offset")) or 0
        timeout = float(params.get("timeout") or 0)
        limit = _int(params.get("limit")) or 100
        if offset > 0:  # confirms (drops) every update before `offset`
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if self._held and not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout), self._updates_changed:
                    await self._updates_changed.wait_for(lambda: not self._held or self._closing)
            if self._held:
                return []
        if not self._updates and timeout > 0 and not self._closing:
            try:
                async with asyncio.timeout(timeout), self._updates_changed:
                    await self._updates_changed.wait_for(
                        lambda: bool(self._updates) or self._closing
                    )
            except TimeoutError:
                return []
        return self._updates[:limit]

    def _target(self, params: JsonDict, key: str = "chat_id") -> SimUser:
        chat_id = _int(params.get(key))
        user = self._users.get(chat_id) if chat_id is not None else None
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        return user

    def _bot_message(self, user: SimUser, params: JsonDict, content: JsonDict) -> JsonDict:
        message: JsonDict = {
            "message_id": self.next_message_id(user.user_id),
            "date": int(time.time()),
            "chat": user.chat_json,
            "from": {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "Peerline",
                "username": self.bot_username,
            },
            **content,
        }
        reply_to = _reply_to_id(params)
        if reply_to is not None:
            original = self._messages.get((user.user_id, reply_to))
            if original is None:
                raise ApiError(400, "Bad Request: message to be replied not found")
            message["reply_to_message"] = original
        markup = _checked_markup(params.get("reply_markup"))
        if markup:
            message["reply_markup"] = markup
        return message

    async def _deliver(self, user: SimUser, message: JsonDict, view: BotMessage) -> None:
        self.store_message(user.user_id, message)
        user.inbox.append(view)
        if self.on_delivered is not None:
            self.on_delivered(user, view)
        await user.notify()

    async def _send_message(self, params: JsonDict) -> JsonDict:
        user = self._target(params)
        text = _text(params.get("text"))
        message = self._bot_message(user, params, {"text": text})
        view = BotMessage(
            message_id=message["message_id"],
            text=text,
            buttons=_parse_buttons(message.get("reply_markup")),
            reply_to_message_id=_reply_to_id(params),
        )
        await self._deliver(user, message, view)
        return message

    async def _copy_message(self, params: JsonDict) -> JsonDict:
        user = self._target(params)
        source_chat = _int(params.get("from_chat_id"))
        source_id = _int(params.get("message_id"))
        original = self._messages.get((source_chat or 0, source_id or 0))
        if original is None or source_chat is None or source_id is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        fields = ("text", "entities", *_MEDIA_FIELDS, *_UNSUPPORTED_FIELDS)
        # Only content: a copy carries no forward_origin / forward_from, so no "Forwarded" line.
        content = {k: original[k] for k in fields if k in original}
        media = _media_of(original)
        if media in _CAPTIONED:
            if "caption" in params:
                caption = _caption(params.get("caption"))
                if caption:
                    content["caption"] = caption
            elif original.get("caption"):
                content["caption"] = original["caption"]
                if "caption_entities" in original:
                    content["caption_entities"] = original["caption_entities"]
        message = self._bot_message(user, params, content)
        view = BotMessage(
            message_id=message["message_id"],
            text=str(message.get("text") or message.get("caption") or ""),
            buttons=_parse_buttons(message.get("reply_markup")),
            reply_to_message_id=_reply_to_id(params),
            copied_from=(source_chat, source_id),
            media_kind=media,
            caption=message.get("caption"),
        )
        await self._deliver(user, message, view)
        return {"message_id": message["message_id"]}

    async def _upload(self, kind: str, params: JsonDict) -> JsonDict:
        """sendPhoto, sendVoice, ...: a file uploaded as bytes (media from another platform)."""
        user = self._target(params)
        part = params.get(kind)
        if not isinstance(part, web.FileField):
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        data = part.file.read()
        file_id = self.next_file_id()
        self.files[file_id] = data
        content = _media_json(kind, file_id)
        caption = _caption(params.get("caption"))
        if caption:
            content["caption"] = caption
        message = self._bot_message(user, params, content)
        view = BotMessage(
            message_id=message["message_id"],
            text=caption,
            media_kind=kind,
            caption=caption or None,
            data=data,
        )
        await self._deliver(user, message, view)
        return message

    def _find_view(self, user: SimUser, message_id: int | None) -> tuple[JsonDict, BotMessage]:
        message = self._messages.get((user.user_id, message_id or 0))
        view = next((m for m in user.inbox if m.message_id == message_id), None)
        if message is None or view is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message, view

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        user = self._target(params)
        message, view = self._find_view(user, _int(params.get("message_id")))
        text = _text(params.get("text"))
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        # As on Telegram, an edit without reply_markup removes the inline keyboard.
        markup = _checked_markup(params.get("reply_markup"))
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        _set_markup(message, markup)
        view.text = text
        view.buttons = _parse_buttons(markup)
        return await self._edited(user, message, view)

    async def _edit_message_caption(self, params: JsonDict) -> JsonDict:
        user = self._target(params)
        message, view = self._find_view(user, _int(params.get("message_id")))
        if _media_of(message) not in _CAPTIONED:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = _caption(params.get("caption"))  # absent or empty removes the caption
        markup = _checked_markup(params.get("reply_markup"))
        if caption == (message.get("caption") or "") and markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        message.pop("caption_entities", None)
        if caption:
            message["caption"] = caption
        else:
            message.pop("caption", None)
        _set_markup(message, markup)
        view.text = caption
        view.caption = caption or None
        view.buttons = _parse_buttons(markup)
        return await self._edited(user, message, view)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        user = self._target(params)
        message, view = self._find_view(user, _int(params.get("message_id")))
        markup = _checked_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        _set_markup(message, markup)
        view.buttons = _parse_buttons(markup)
        return await self._edited(user, message, view)

    async def _edited(self, user: SimUser, message: JsonDict, view: BotMessage) -> JsonDict:
        message["edit_date"] = int(time.time())
        view.edited = True
        await user.notify()
        return message

    async def _delete_message(self, params: JsonDict) -> bool:
        user = self._target(params)
        message_id = _int(params.get("message_id")) or 0
        if self._messages.pop((user.user_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        user.inbox[:] = [m for m in user.inbox if m.message_id != message_id]
        await user.notify()
        return True

    def _answer_callback_query(self, params: JsonDict) -> bool:
        callback_id = str(params.get("callback_query_id", ""))
        if callback_id not in self._open_callbacks:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is "
                "invalid",
            )
        self._open_callbacks.discard(callback_id)
        self.callback_answers.append(params)
        return True

    async def _set_my_commands(self, params: JsonDict) -> bool:
        key = _menu_key(params)
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > _MAX_COMMANDS:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100")
        listed = [_command(item) for item in commands]
        if listed:
            self.menus[key] = listed
        else:  # as on Telegram, an empty list removes the menu of that scope and language
            self.menus.pop(key, None)
        await self._menu_changed(key)
        return True

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        key = _menu_key(params)
        self.menus.pop(key, None)
        await self._menu_changed(key)
        return True

    def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        listed = self.menus.get(_menu_key(params), [])
        return [{"command": name, "description": text} for name, text in listed]

    async def _menu_changed(self, key: MenuKey) -> None:
        scope, chat_id, _ = key
        for user in list(self._users.values()):
            if scope != "chat" or user.user_id == chat_id:
                await user.notify()

    def menu_seen_by(self, user: SimUser) -> list[tuple[str, str]]:
        """The menu `user`'s app shows, resolved as Telegram does for a private chat: their
        chat's own menu in their language, then without a language, then the menus for all
        private chats, then the default ones."""
        language = (user.language_code or "").split("-")[0].lower()
        for scope, chat_id in (("chat", user.user_id), ("all_private_chats", None)):
            for lang in (language, ""):
                if (found := self.menus.get((scope, chat_id, lang))) is not None:
                    return found
        for lang in (language, ""):
            if (found := self.menus.get(("default", None, lang))) is not None:
                return found
        return []

    def _get_file(self, params: JsonDict) -> JsonDict:
        file_id = str(params.get("file_id", ""))
        if not file_id:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": 16,
            "file_path": f"files/{file_id}",
        }


# -- helpers -----------------------------------------------------------------------------------

MenuKey = tuple[str, int | None, str]
_MAX_COMMANDS = 100
_MENU_SCOPES = frozenset({"default", "all_private_chats", "chat"})
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


def _menu_key(params: JsonDict) -> MenuKey:
    """The scope and language a set/delete/getMyCommands call names, checked like Telegram."""
    scope = params.get("scope")
    scope = scope if isinstance(scope, Mapping) else {"type": "default"}
    kind = str(scope.get("type", ""))
    if kind not in _MENU_SCOPES:  # group scopes are not modelled: Peerline serves private chats
        raise ApiError(400, "Bad Request: can't parse BotCommandScope")
    chat_id = _int(scope.get("chat_id")) if kind == "chat" else None
    if kind == "chat" and chat_id is None:
        raise ApiError(400, "Bad Request: chat not found")
    language = str(params.get("language_code") or "")
    if language and not _LANGUAGE_CODE.fullmatch(language):
        raise ApiError(400, "Bad Request: invalid language code specified")
    return kind, chat_id, language


def _command(item: object) -> tuple[str, str]:
    name = item.get("command") if isinstance(item, Mapping) else None
    description = item.get("description") if isinstance(item, Mapping) else None
    if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
        raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
    if not isinstance(description, str) or not 1 <= _units(description.strip()) <= 256:
        raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    return name, description


def _delivery_error(status: int) -> str:
    """What Telegram's getWebhookInfo says of a delivery that failed with `status` (0: nobody
    answered)."""
    if status == 0:
        return "Connection refused"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"Wrong response from the webhook: {status} {phrase}".rstrip()


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: JsonDict = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> JsonDict:
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        return dict(body) if isinstance(body, Mapping) else {}
    params: JsonDict = {}
    for source in (request.query, await request.post()):
        for name, value in source.items():
            # Multipart file parts arrive as FileField objects and are kept as they are.
            params[name] = _decode_field(name, value) if isinstance(value, str) else value
    return params


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _text(value: object) -> str:
    text = value if isinstance(value, str) else ""
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _units(text) > _MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _caption(value: object) -> str:
    caption = value if isinstance(value, str) else ""
    if _units(caption) > _MAX_CAPTION:
        raise ApiError(400, "Bad Request: message caption is too long")
    return caption


def _media_of(message: Mapping[str, object]) -> str:
    """What a stored message carries: a media kind, an unsupported kind ("poll", ...) or ""."""
    if "animation" in message:  # Telegram fills `document` for animations too
        return "animation"
    kind = next((k for k in _MEDIA_FIELDS if k in message), "")
    return kind or next((k for k in _UNSUPPORTED_FIELDS if k in message), "")


def _reply_to_id(params: JsonDict) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, Mapping):
        return _int(reply.get("message_id"))
    return _int(params.get("reply_to_message_id"))


def _checked_markup(markup: object) -> JsonDict | None:
    """The inline keyboard to store, or None; rejects what Telegram rejects."""
    if not isinstance(markup, Mapping) or not markup.get("inline_keyboard"):
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= _MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
    return dict(markup)


def _set_markup(message: JsonDict, markup: JsonDict | None) -> None:
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)
