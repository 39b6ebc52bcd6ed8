"""TelegramTransport driven through the real python-telegram-bot against LocalBotApi over HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.events import Address, Choice, DeliveryError, Incoming, Kind, Platform, Reply, Sent
from bot.sandbox.telegram_api import LocalBotApi, SimUser
from bot.transports.telegram import TelegramStartError, TelegramTransport

os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"

SECRET = "my partner hits me"  # message content that must never reach a log line


class Inbox:
    """The sink: collects Incoming events; `get()` waits for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self.fail_on: str | None = None
        self.slow_chat: str | None = None

    async def __call__(self, incoming: Incoming) -> None:
        if self.slow_chat == incoming.address.chat_id:
            await asyncio.sleep(0.05)
        self.queue.put_nowait(incoming)
        if self.fail_on is not None and self.fail_on in incoming.text:
            raise ValueError(incoming.text)

    async def get(self) -> Incoming:
        async with asyncio.timeout(5.0):
            return await self.queue.get()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi() as api:
        yield api


@pytest.fixture
def sink() -> Inbox:
    return Inbox()


@pytest.fixture
async def transport(api: LocalBotApi, sink: Inbox) -> AsyncIterator[TelegramTransport]:
    transport = TelegramTransport(
        api.token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        poll_timeout=2.0,
        retry_base_delay=0.05,
    )
    await transport.start(sink)
    yield transport
    await transport.stop()


def addr(user: SimUser) -> Address:
    return Address(Platform.TELEGRAM, str(user.user_id))


async def test_text_and_command_arrive_normalized(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    assert transport.platform is Platform.TELEGRAM
    assert transport.bot_username == "peerline_sandbox_bot"
    alice = api.user(1001, "Alice")

    first = await alice.send("hello there")
    event = await sink.get()
    assert event.kind is Kind.TEXT
    assert event.text == "hello there"
    assert event.address == Address(Platform.TELEGRAM, "1001")
    assert event.message_id == str(first)
    assert event.reply_to_id == ""

    await alice.send("/Start@peerline_sandbox_bot  code 42 ")
    event = await sink.get()
    assert (event.kind, event.command, event.args, event.text) == (
        Kind.COMMAND,
        "start",
        "code 42",
        "",
    )

    await alice.send("/help")
    event = await sink.get()
    assert (event.kind, event.command, event.args) == (Kind.COMMAND, "help", "")


async def test_reply_to_a_bot_message_carries_its_id(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    sent = await transport.send(addr(alice), Reply("How are you?"))
    question = await alice.wait_for("How are you")
    await alice.send("fine", reply_to=question)
    event = await sink.get()
    assert event.reply_to_id == sent.message_id == str(question.message_id)


async def test_buttons_render_and_press_arrives_as_choice(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    choices = (Choice("Yes", "c:yes"), Choice("No", "c:no"), Choice("Later", "c:later"))
    sent = await transport.send(addr(alice), Reply("Talk now?", choices=choices, columns=2))

    menu = await alice.wait_for("Talk now?")
    assert menu.buttons == [[("Yes", "c:yes"), ("No", "c:no")], [("Later", "c:later")]]
    assert str(menu.message_id) == sent.message_id
    sent_markup = api.calls_of("sendMessage")[-1]
    assert "parse_mode" not in sent_markup  # plain text: nothing is interpreted as markup

    await alice.press(menu, "No")
    event = await sink.get()
    assert (event.kind, event.choice, event.message_id) == (Kind.CHOICE, "c:no", sent.message_id)
    assert event.address == addr(alice)
    assert len(api.callback_answers) == 1  # the spinner was stopped

    with pytest.raises(AssertionError, match="no button 'Maybe'"):
        await alice.press(menu, "Maybe")

    await alice.press_data("forged")
    event = await sink.get()
    assert (event.kind, event.choice) == (Kind.CHOICE, "forged")


async def test_edit_replaces_text_and_buttons(
    api: LocalBotApi, transport: TelegramTransport
) -> None:
    alice = api.user(1001)
    sent = await transport.send(addr(alice), Reply("Pick one", choices=(Choice("A", "a"),)))
    await transport.edit(sent, Reply("Picked A"))
    edited = await alice.wait_for("Picked A")
    assert edited.edited
    assert edited.buttons == []
    assert alice.texts() == ["Picked A"]

    # Same content again: Telegram says "message is not modified", which is success here.
    await transport.edit(sent, Reply("Picked A"))
    await transport.edit(sent, Reply("Again?", choices=(Choice("B", "b"), Choice("C", "c"))))
    assert alice.last.buttons == [[("B", "b")], [("C", "c")]]


async def test_rate_limit_is_waited_out_and_delivered_once(
    api: LocalBotApi, transport: TelegramTransport, caplog: pytest.LogCaptureFixture
) -> None:
    alice = api.user(1001)
    api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    started = time.monotonic()
    await transport.send(addr(alice), Reply("after the flood"))
    assert time.monotonic() - started >= 1.0
    assert len(api.calls_of("sendMessage")) == 2
    assert alice.texts() == ["after the flood"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("rate limited" in r.getMessage() for r in caplog.records)


async def test_server_errors_are_retried(api: LocalBotApi, transport: TelegramTransport) -> None:
    alice = api.user(1001)
    api.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)
    await transport.send(addr(alice), Reply("eventually"))
    assert len(api.calls_of("sendMessage")) == 3
    assert alice.texts() == ["eventually"]

    api.fail_next("sendMessage", status=502, description="Bad Gateway", times=5)
    with pytest.raises(DeliveryError) as info:
        await transport.send(addr(alice), Reply("never"))
    assert not info.value.permanent
    assert alice.texts() == ["eventually"]


async def test_blocked_and_unknown_chats_are_permanent_failures(
    api: LocalBotApi, transport: TelegramTransport
) -> None:
    alice = api.user(1001)
    api.block(alice.user_id)
    with pytest.raises(DeliveryError) as info:
        await transport.send(addr(alice), Reply("are you there?"))
    assert info.value.permanent
    assert len(api.calls_of("sendMessage")) == 1  # no pointless retries

    with pytest.raises(DeliveryError) as info:
        await transport.send(Address(Platform.TELEGRAM, "424242"), Reply("hello?"))
    assert info.value.permanent


async def test_copy_relays_media_without_forward_header(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send_media("photo", caption="look")
    event = await sink.get()
    assert (event.kind, event.media_kind, event.text) == (Kind.MEDIA, "photo", "look")

    await alice.send_media("voice")
    voice = await sink.get()
    assert (voice.kind, voice.media_kind, voice.text) == (Kind.MEDIA, "voice", "")

    sent = await transport.copy(addr(bob), event.address, event.message_id)
    await bob.wait_for_count(1)
    assert bob.texts() == ["look"]
    assert bob.last.copied_from == (alice.user_id, int(event.message_id))
    assert (bob.last.media_kind, bob.last.caption) == ("photo", "look")
    assert sent.message_id == str(bob.last.message_id)
    call = api.calls_of("copyMessage")[-1]
    assert "caption" not in call
    assert "parse_mode" not in call


MEDIA_KINDS = (
    "photo",
    "voice",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contact",
    "video_note",
    "animation",
)
CAPTIONED = {"photo", "voice", "audio", "video", "document", "animation"}
FORWARD_FIELDS = {
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_sender_name",
    "forward_signature",
    "forward_date",
    "is_automatic_forward",
}


@pytest.mark.parametrize("kind", MEDIA_KINDS)
async def test_every_media_kind_arrives_and_copies_without_forward_header(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox, kind: str
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    caption = f"a {kind}" if kind in CAPTIONED else None
    sent_id = await alice.send_media(kind, caption=caption)
    event = await sink.get()
    assert (event.kind, event.media_kind, event.text) == (Kind.MEDIA, kind, caption or "")
    assert event.message_id == str(sent_id)

    sent = await transport.copy(addr(bob), event.address, event.message_id)
    copy = (await bob.wait_for_count(1))[0]
    assert (copy.media_kind, copy.text, copy.caption) == (kind, caption or "", caption)
    assert copy.copied_from == (alice.user_id, sent_id)
    assert sent == Sent(addr(bob), str(copy.message_id))
    stored = api.raw_message(bob.user_id, copy.message_id)
    assert not FORWARD_FIELDS & stored.keys()
    assert stored["from"]["is_bot"]
    assert kind in stored


async def test_copy_caption_override_replaces_the_caption(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send_media("video", caption="original words")
    event = await sink.get()
    await transport.copy(addr(bob), event.address, event.message_id, caption="Officer #7: hi")
    copy = await bob.wait_for("Officer #7")
    assert (copy.media_kind, copy.caption, copy.text) == (
        "video",
        "Officer #7: hi",
        "Officer #7: hi",
    )
    call = api.calls_of("copyMessage")[-1]
    assert call["caption"] == "Officer #7: hi"
    assert "parse_mode" not in call  # plain text

    # Media without a caption get one; a caption on a sticker is ignored, as on Telegram.
    await alice.send_media("photo")
    photo = await sink.get()
    await transport.copy(addr(bob), photo.address, photo.message_id, caption="Officer #7:")
    assert (await bob.wait_for_count(2))[-1].caption == "Officer #7:"
    await alice.send_media("sticker")
    sticker = await sink.get()
    await transport.copy(addr(bob), sticker.address, sticker.message_id, caption="ignored")
    last = (await bob.wait_for_count(3))[-1]
    assert (last.media_kind, last.caption, last.text) == ("sticker", None, "")


async def test_copy_of_a_text_message(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send("plain words")
    event = await sink.get()
    await transport.copy(addr(bob), event.address, event.message_id)
    copy = await bob.wait_for("plain words")
    assert (copy.media_kind, copy.caption, copy.copied_from) == ("", None, (1001, 1))


async def test_copy_of_a_message_never_sent_is_rejected(
    api: LocalBotApi, transport: TelegramTransport
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    with pytest.raises(DeliveryError) as info:
        await transport.copy(addr(bob), addr(alice), "77")
    assert not info.value.permanent
    assert info.value.reason == "rejected by Telegram"
    assert bob.inbox == []


async def test_copy_to_a_blocked_person_is_permanent(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send_media("voice")
    event = await sink.get()
    api.block(bob.user_id)
    with pytest.raises(DeliveryError) as info:
        await transport.copy(addr(bob), event.address, event.message_id)
    assert info.value.permanent
    assert len(api.calls_of("copyMessage")) == 1  # no pointless retries
    assert bob.inbox == []


async def test_copy_rate_limit_is_retried(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send_media("photo", caption="after the flood")
    event = await sink.get()
    api.fail_next(
        "copyMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    started = time.monotonic()
    await transport.copy(addr(bob), event.address, event.message_id)
    assert time.monotonic() - started >= 1.0
    assert len(api.calls_of("copyMessage")) == 2
    assert bob.texts() == ["after the flood"]  # delivered exactly once


async def test_edits_arrive_as_edit_events_in_order(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    first = await alice.send("helo")
    photo = await alice.send_media("photo", caption="old caption")
    await alice.edit(first, "hello")
    await alice.send("after")
    await alice.edit(photo, "new caption")
    await alice.edit(photo, "")
    events = [await sink.get() for _ in range(6)]
    assert [(e.kind, e.text, e.message_id, e.media_kind) for e in events] == [
        (Kind.TEXT, "helo", str(first), ""),
        (Kind.MEDIA, "old caption", str(photo), "photo"),
        (Kind.EDIT, "hello", str(first), ""),
        (Kind.TEXT, "after", "3", ""),
        (Kind.EDIT, "new caption", str(photo), "photo"),
        (Kind.EDIT, "", str(photo), "photo"),
    ]
    assert all(e.address == addr(alice) for e in events)
    assert api.raw_message(alice.user_id, first)["text"] == "hello"


async def test_uncaptioned_edits_and_group_edits_are_ignored(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    location = await alice.send_media("location")
    assert (await sink.get()).media_kind == "location"
    with pytest.raises(AssertionError, match="no text or caption"):
        await alice.edit(location, "moved")
    # A live location moving arrives as an edit without text or caption: not an EDIT event.
    live = {**api.raw_message(alice.user_id, location), "edit_date": int(time.time())}
    await api.push_update({"edited_message": live})
    group_edit = {
        "message_id": 9,
        "date": int(time.time()),
        "edit_date": int(time.time()),
        "chat": {"id": -100123, "type": "supergroup", "title": "Station"},
        "from": alice.user_json,
        "text": "edited in a group",
    }
    await api.push_update({"edited_message": group_edit})
    await alice.send("next")
    assert (await sink.get()).text == "next"
    assert sink.queue.empty()
    with pytest.raises(AssertionError, match="no message 99"):
        await alice.edit(99, "x")


async def test_wait_until_waits_for_the_inbox(
    api: LocalBotApi, transport: TelegramTransport
) -> None:
    alice = api.user(1001)
    waiting = asyncio.create_task(alice.wait_until(lambda: len(alice.inbox) == 2))
    await transport.send(addr(alice), Reply("one"))
    await transport.send(addr(alice), Reply("two"))
    await waiting
    with pytest.raises(AssertionError, match="still false"):
        await alice.wait_until(lambda: False, timeout=0.1)


@pytest.mark.parametrize("kind", ["poll", "dice", "game", "story"])
async def test_unsupported_content_reaches_the_sink(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox, kind: str
) -> None:
    alice = api.user(1001)
    sent_id = await alice.send_unsupported(kind)
    event = await sink.get()
    assert (event.kind, event.media_kind, event.text, event.message_id) == (
        Kind.MEDIA,
        "unsupported",
        "",
        str(sent_id),
    )


async def test_service_messages_are_not_events(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    first = await alice.send("pin me")
    assert (await sink.get()).text == "pin me"
    pinned = {
        "message_id": 50,
        "date": int(time.time()),
        "chat": alice.chat_json,
        "from": alice.user_json,
        "pinned_message": api.raw_message(alice.user_id, first),
    }
    await api.push_update({"message": pinned})
    await alice.send("after the pin")
    assert (await sink.get()).text == "after the pin"
    assert sink.queue.empty()


async def test_edit_copy_changes_text_and_caption(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    await alice.send("Officer: helo")
    text_event = await sink.get()
    await alice.send_media("document", caption="the form")
    doc_event = await sink.get()
    text_copy = await transport.copy(addr(bob), text_event.address, text_event.message_id)
    doc_copy = await transport.copy(addr(bob), doc_event.address, doc_event.message_id)

    await transport.edit_copy(text_copy, "Officer: hello", is_caption=False)
    edited = await bob.wait_for("Officer: hello")
    assert edited.edited
    assert str(edited.message_id) == text_copy.message_id
    assert "parse_mode" not in api.calls_of("editMessageText")[-1]

    await transport.edit_copy(doc_copy, "the signed form", is_caption=True)
    doc = await bob.wait_for("the signed form")
    assert (doc.edited, doc.caption, doc.media_kind) == (True, "the signed form", "document")
    assert "parse_mode" not in api.calls_of("editMessageCaption")[-1]
    assert api.raw_message(bob.user_id, doc.message_id)["caption"] == "the signed form"

    # The same content again: "message is not modified" is success.
    await transport.edit_copy(text_copy, "Officer: hello", is_caption=False)
    await transport.edit_copy(doc_copy, "the signed form", is_caption=True)
    assert bob.texts() == ["Officer: hello", "the signed form"]

    # Text and caption are not interchangeable: Telegram refuses, and that is reported.
    with pytest.raises(DeliveryError) as info:
        await transport.edit_copy(doc_copy, "as text", is_caption=False)
    assert not info.value.permanent
    with pytest.raises(DeliveryError):
        await transport.edit_copy(text_copy, "as caption", is_caption=True)

    api.block(bob.user_id)
    with pytest.raises(DeliveryError) as info:
        await transport.edit_copy(doc_copy, "blocked", is_caption=True)
    assert info.value.permanent


async def test_group_updates_are_ignored(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice = api.user(1001)
    group_message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": -100123, "type": "supergroup", "title": "Station"},
        "from": alice.user_json,
        "text": "hello group",
    }
    await api.push_update({"message": group_message})
    await alice.send("private hello")
    event = await sink.get()
    assert event.text == "private hello"
    assert sink.queue.empty()


async def test_sink_errors_are_logged_without_content_and_polling_continues(
    api: LocalBotApi,
    transport: TelegramTransport,
    sink: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = api.user(1001)
    sink.fail_on = SECRET
    await alice.send(SECRET)
    assert (await sink.get()).text == SECRET
    await alice.send("still listening")
    assert (await sink.get()).text == "still listening"

    await transport.send(addr(alice), Reply(SECRET))
    api.block(alice.user_id)
    with pytest.raises(DeliveryError):
        await transport.send(addr(alice), Reply(SECRET))

    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert any("ValueError" in r.getMessage() for r in ours)
    visible = ours + [r for r in caplog.records if r.levelno >= logging.INFO]
    for record in visible:
        line = record.getMessage() + (record.exc_text or "")
        assert SECRET not in line
        assert "1001" not in line
        assert api.token not in line


async def test_one_chat_in_order_others_not_held_up(
    api: LocalBotApi, transport: TelegramTransport, sink: Inbox
) -> None:
    alice, bob = api.user(1001), api.user(2002)
    sink.slow_chat = "1001"
    for i in range(5):
        await alice.send(f"a{i}")
    await bob.send("b0")
    seen = [(await sink.get()).text for _ in range(6)]
    assert [t for t in seen if t.startswith("a")] == ["a0", "a1", "a2", "a3", "a4"]
    assert seen.index("b0") < seen.index("a4")  # Bob did not wait behind Alice


async def test_wrong_token_fails_start_clearly(api: LocalBotApi, sink: Inbox) -> None:
    transport = TelegramTransport("999:not-the-token", base_url=api.base_url, poll_timeout=1.0)
    with pytest.raises(TelegramStartError, match="rejected the bot token") as info:
        await transport.start(sink)
    assert "not-the-token" not in str(info.value)
    assert info.value.__cause__ is None
    await transport.stop()  # nothing to stop, still fine


async def test_stop_is_clean_and_idempotent(api: LocalBotApi, sink: Inbox) -> None:
    transport = TelegramTransport(api.token, base_url=api.base_url, poll_timeout=5.0)
    await transport.stop()  # before start
    await transport.start(sink)
    alice = api.user(1001)
    await alice.send("before stop")
    assert (await sink.get()).text == "before stop"

    started = time.monotonic()
    await transport.stop()
    await transport.stop()
    assert time.monotonic() - started < 3.0  # the long poll is not waited out
    assert api.pending_updates == 0  # everything fetched was confirmed
    assert api.calls_of("getUpdates")[-1].get("timeout") == 0
    with pytest.raises(DeliveryError) as stopped:  # a clear "not delivered", not a crash
        await transport.send(addr(alice), Reply("x"))
    assert not stopped.value.permanent

    # A restarted transport picks up where the last one left off, with nothing replayed.
    await alice.send("while down")
    await transport.start(sink)
    try:
        assert (await sink.get()).text == "while down"
        assert sink.queue.empty()
    finally:
        await transport.stop()


async def test_sandbox_rejects_bad_requests_like_telegram(api: LocalBotApi) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}{api.token}/sendNothing") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.post(f"{api.base_url}wrong:token/getMe") as resp:
            assert resp.status == 401
        api.user(5)
        async with http.post(
            f"{api.base_url}{api.token}/sendMessage", json={"chat_id": 5, "text": "json body"}
        ) as resp:
            body = await resp.json()
            assert body["ok"]
            assert body["result"]["chat"] == {
                "id": 5,
                "type": "private",
                "first_name": "User",
            }
        started = time.monotonic()
        async with http.post(
            f"{api.base_url}{api.token}/getUpdates", data={"timeout": "0.3"}
        ) as resp:
            assert (await resp.json())["result"] == []
        assert time.monotonic() - started >= 0.25
    assert api.user(5).texts() == ["json body"]


async def test_stop_drains_fetched_updates_and_lets_the_sink_reply(api: LocalBotApi) -> None:
    alice = api.user(1001)
    transport = TelegramTransport(api.token, base_url=api.base_url, poll_timeout=2.0)
    arrived = asyncio.Event()

    async def echo(incoming: Incoming) -> None:
        arrived.set()
        await asyncio.sleep(0.05)
        await transport.send(incoming.address, Reply(f"echo {incoming.text}"))

    await transport.start(echo)
    for i in range(3):
        await alice.send(f"m{i}")
    async with asyncio.timeout(5.0):
        await arrived.wait()
    await transport.stop()
    # Whatever was fetched (and so confirmed) was handled in full; the rest is still queued.
    assert len(alice.inbox) == 3 - api.pending_updates
    assert len(alice.inbox) >= 1
    assert alice.texts() == [f"echo m{i}" for i in range(len(alice.inbox))]


async def test_stop_waits_out_a_flood_wait_so_nothing_confirmed_is_lost(
    api: LocalBotApi, sink: Inbox
) -> None:
    """Polling confirms fetched updates to Telegram before they are handled; stop() must let
    a delivery waiting out a flood wait finish, or the message is gone for good."""
    alice, bob = api.user(1001), api.user(1002)

    async def relay(incoming: Incoming) -> None:
        await relaying.send(addr(bob), Reply(f"relayed: {incoming.text}"))

    relaying = TelegramTransport(api.token, base_url=api.base_url, poll_timeout=1.0)
    await relaying.start(relay)
    api.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=6)
    await alice.send("first")
    await alice.send("second")
    await asyncio.sleep(0.3)  # both fetched (and so confirmed); "first" is in its flood wait
    await relaying.stop()
    assert bob.texts() == ["relayed: first", "relayed: second"]


async def test_an_update_is_confirmed_only_once_handled(
    api: LocalBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If handling never finishes (a crash, a stop that cannot wait), Telegram keeps the update
    and sends it again after the restart; what was handled is not replayed."""
    import bot.transports.telegram as telegram_module  # noqa: PLC0415

    monkeypatch.setattr(telegram_module, "_DRAIN_TIMEOUT", 0.3)
    alice = api.user(1001)
    seen: list[str] = []
    hang, stuck_reached = asyncio.Event(), asyncio.Event()

    async def stuck_sink(incoming: Incoming) -> None:
        seen.append(incoming.text)
        if incoming.text == "stuck":
            stuck_reached.set()
            await hang.wait()  # never set: the process "dies" while handling it

    first = TelegramTransport(api.token, base_url=api.base_url, poll_timeout=1.0)
    await first.start(stuck_sink)
    await alice.send("handled")
    await alice.send("stuck")
    async with asyncio.timeout(5):
        await stuck_reached.wait()
    assert seen == ["handled", "stuck"]
    await first.stop()
    assert api.pending_updates == 1  # "handled" confirmed, "stuck" kept by Telegram

    again: list[str] = []
    arrived = asyncio.Event()

    async def working_sink(incoming: Incoming) -> None:
        again.append(incoming.text)
        arrived.set()

    second = TelegramTransport(api.token, base_url=api.base_url, poll_timeout=1.0)
    await second.start(working_sink)
    try:
        async with asyncio.timeout(5):
            await arrived.wait()
        await asyncio.sleep(0.2)  # nothing else (no replay of "handled") follows
        assert again == ["stuck"]
    finally:
        await second.stop()
    assert api.pending_updates == 0
