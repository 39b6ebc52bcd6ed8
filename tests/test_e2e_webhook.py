"""Telegram in webhook mode against the local Bot API stand-in: setWebhook with the secret,
conversations end to end, a POST without the secret refused, each update answered 200 only
once it has been handled, and nothing lost while the bot is down."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.transports.telegram import Webhook, webhook_secret
from tests.conftest import FakeClock
from tests.test_e2e_walking_skeleton import ask_for_peer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def hooked(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    port = free_port()
    # The stand-in posts to the URL straight away; in production a TLS proxy sits in between.
    hook = Webhook(url=f"http://127.0.0.1:{port}/telegram/updates", port=port)
    box = Sandbox(tmp_path / "box", clock=clock, webhook=hook)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()


async def answered(box: Sandbox, count: int) -> list[tuple[int, int]]:
    async with asyncio.timeout(30):
        while len([a for a in box.api.webhook_answers if a[1] == 200]) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return list(box.api.webhook_answers)


async def test_a_conversation_over_the_webhook(hooked: Sandbox) -> None:
    api = hooked.api
    assert api.webhook is not None
    assert api.webhook.secret_token == webhook_secret(api.token)
    assert api.webhook.url.endswith("/telegram/updates")

    officer = await hooked.join("Dana", Role.OFFICER)
    peer = await hooked.join("Alex", Role.PEER)
    await ask_for_peer(officer)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    await officer.send("hello over the webhook")
    await peer.wait_for("hello over the webhook")
    await peer.send("and back")
    await officer.wait_for("and back")
    assert api.calls_of("getUpdates") == []
    assert all(status == 200 for _, status in api.webhook_answers)


async def test_a_post_without_the_secret_is_refused(hooked: Sandbox) -> None:
    assert hooked.webhook is not None
    person = hooked.person("Mallory")
    update = {
        "update_id": 999_999,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": person.chat_json,
            "from": person.user_json,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with http.post(hooked.webhook.url, json=update, headers=headers) as answer:
                assert answer.status == 403
    await asyncio.sleep(0.2)
    assert person.inbox == []


async def test_answered_only_once_handled_and_nothing_lost_while_down(hooked: Sandbox) -> None:
    api = hooked.api
    officer = await hooked.join("Dana", Role.OFFICER)
    before = len(await answered(hooked, 1))
    # The reply takes a while to send: the 200 for this update must still come after it.
    api.delay("sendMessage", 0.5)
    await officer.send("/help")
    answers = await answered(hooked, before + 1)
    assert any("/nickname" in text for text in officer.texts())  # handled when answered
    assert answers[-1][1] == 200
    api.delay("sendMessage", 0)

    await hooked.stop_app()
    await officer.send("/crisis")  # Telegram keeps posting; nobody answers 200 while down
    async with asyncio.timeout(30):
        while not any(status != 200 for _, status in api.webhook_answers[before + 1 :]):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await hooked.start_app()
    await officer.wait_for("If you or someone else is in danger right now")
    await answered(hooked, before + 2)
