"""Restarts: a live thread survives, and what was sent while the bot was down still arrives."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from bot.app import App, TransportFailedError
from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.transports.telegram import TelegramTransport
from crypto import load_master_key
from tests.test_e2e_walking_skeleton import ask_for_peer


async def test_thread_survives_a_restart_and_nothing_sent_meanwhile_is_lost(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")

    await sandbox.stop_app()
    # Sent while Peerline is down: the Bot API holds it until the next poll.
    await officer.send("are you still there after the outage?")
    await sandbox.start_app()

    await peer.wait_for("are you still there after the outage?")
    await peer.send("Yes, still here.")
    await officer.wait_for("Yes, still here.")
    await peer.send("/end")
    await officer.wait_for("has closed the conversation")


async def test_buttons_still_work_after_a_restart(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer)
    offer = await peer.wait_for("New request")
    await sandbox.stop_app()
    await sandbox.start_app()
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")


def standalone_app(sandbox: Sandbox) -> App:
    """An App on the sandbox's database and Bot API, for a test to `run()` itself."""
    assert sandbox.config is not None
    config = sandbox.config
    transport = TelegramTransport(
        config.telegram.token,
        base_url=config.telegram.base_url,
        base_file_url=config.telegram.base_file_url,
        poll_timeout=1.0,
    )
    return App(config, transports=[transport], key=load_master_key(sandbox.key_file))


async def test_sigterm_shuts_down_cleanly(sandbox: Sandbox) -> None:
    await sandbox.stop_app()
    app = standalone_app(sandbox)
    running = asyncio.create_task(app.run())
    async with asyncio.timeout(10):
        while app.dispatcher is None:  # noqa: ASYNC110 - App has no "started" event to await
            await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(10):
        await running
    assert app.repo is None  # the database was checkpointed and closed


async def test_a_revoked_token_stops_the_app_with_a_clear_reason(sandbox: Sandbox) -> None:
    await sandbox.stop_app()
    app = standalone_app(sandbox)
    polls = len(sandbox.api.calls_of("getUpdates"))
    running = asyncio.create_task(app.run())
    async with asyncio.timeout(10):
        while len(sandbox.api.calls_of("getUpdates")) == polls:  # noqa: ASYNC110 - polling began
            await asyncio.sleep(0.01)
    sandbox.api.token = "123456:revoked"  # every call with the old token now gets 401
    with pytest.raises(TransportFailedError, match="token revoked"):
        async with asyncio.timeout(10):
            await running
    assert app.repo is None  # it still shut down cleanly


async def test_after_a_crash_both_sides_of_a_live_thread_are_told_it_is_open(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    await sandbox.stop_app()
    await sandbox.start_app()  # a clean restart: nothing to say
    await peer.send("still there?")
    await officer.wait_for("still there?")
    assert sum("is here for you" in t for t in officer.texts()) == 1

    await sandbox.stop_app()
    # As after a kill: the marker of a running bot is still there at start-up (an accept cut
    # off by the crash may have told nobody).
    marker = sandbox.directory / "peerline.db.running"
    marker.touch()
    await sandbox.start_app()
    await officer.wait_until(lambda: sum("is here for you" in t for t in officer.texts()) == 2)
    await peer.wait_until(lambda: sum("You're connected with" in t for t in peer.texts()) == 2)
    reply_to = next(m for m in reversed(officer.inbox) if "is here for you" in m.text)
    await officer.send("yes, I'm here", reply_to=reply_to)  # a reply to it reaches the thread
    await peer.wait_for("yes, I'm here")
    await sandbox.stop_app()
    assert not marker.exists()
