"""No silent loss, end to end: the whole Peerline against the local Bot API injecting long flood
waits, outages, failing notices and blocks; strangers flooding while a conversation goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.transports.telegram as telegram_module
from bot.app import TransportFailedError
from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_delivery import eventually
from tests.test_e2e_restart import standalone_app
from tests.test_e2e_threads import connect


@pytest.fixture
async def box(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    """A sandbox whose flood waits are cut to 0.2 s a try: a 60 s wait is then retried every
    0.2 s, and the fake answers 429 again until the test calms the storm."""
    sandbox = Sandbox(tmp_path / "sandbox", clock=clock, flood_wait_cap=0.2)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


def relayed(user: SimUser, prefix: str) -> list[str]:
    return [t.split("\n", 1)[1] for t in user.texts() if f"\n{prefix}" in t]


async def test_a_60_second_flood_wait_holds_that_chat_and_resumes_without_loss(
    box: Sandbox,
) -> None:
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    other_officer = await box.join("Robin", Role.OFFICER)
    other_peer = await box.join("Sam", Role.PEER)
    await connect(box, other_officer, other_peer)

    storm = box.api.storm(status=429, retry_after=60, chats={peer.user_id})
    for n in range(5):
        await officer.send(f"held {n}")
    await eventually(lambda: storm.hits >= 3, "the held chat retried through the storm")
    # Another conversation goes on while that chat is held.
    await other_officer.send("other pair")
    await other_peer.wait_for("other pair", timeout=20)
    assert relayed(peer, "held") == []
    box.api.calm()
    await peer.wait_for("held 4", timeout=30)
    assert relayed(peer, "held") == [f"held {n}" for n in range(5)]  # in order, none dropped
    assert EN.not_delivered not in officer.texts()


async def test_a_502_outage_delivers_or_tells_the_sender_even_when_the_notice_fails_too(
    box: Sandbox,
) -> None:
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    storm = box.api.storm(status=502, description="Bad Gateway")  # every chat, notices too
    await officer.send("during the outage")
    # Five tries of the relay, then tries of the notice, which fail as well.
    await eventually(lambda: storm.hits >= 8, "the notice retried")
    assert EN.not_delivered not in officer.texts()
    box.api.calm()
    await officer.wait_for(EN.not_delivered, timeout=30)
    assert relayed(peer, "during") == []
    await officer.send("after the outage")
    await peer.wait_for("after the outage", timeout=20)


async def test_a_notice_that_cannot_go_out_before_a_stop_leaves_the_message_unconfirmed(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telegram_module, "_DRAIN_TIMEOUT", 1.0)
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    storm = box.api.storm(status=502, description="Bad Gateway")
    await officer.send("through the restart")
    await eventually(lambda: storm.hits >= 7, "relay and notice failing")
    await box.stop_app()
    assert box.api.pending_updates == 1  # not confirmed: Telegram sends it again
    box.api.calm()
    await box.start_app()
    await peer.wait_for("through the restart", timeout=20)


async def test_a_blocked_helper_is_told_why_they_were_set_away_and_the_officer_is_not_lost(
    box: Sandbox,
) -> None:
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    box.api.block(peer.user_id)
    await officer.send("are you there")
    await officer.wait_for("can't be reached right now")
    await officer.send("hello? anyone?")
    await officer.wait_for(EN.still_finding)
    assert not any(EN.not_in_thread_officer in t for t in officer.texts())

    box.api.unblock(peer.user_id)
    await peer.send("/help")
    told = await peer.wait_for("set to away")
    assert "#" in told.text and "/available" in told.text
    answer = await peer.wait_for(EN.help_helper)
    texts = peer.texts()
    assert texts.index(told.text) < texts.index(answer.text)  # told first, then the answer
    await peer.send("/help")
    await peer.wait_for_count(len(texts) + 1)
    assert sum("set to away" in t for t in peer.texts()) == 1  # told once


async def test_a_stranger_flood_is_answered_once_each_and_the_relay_goes_on(
    box: Sandbox,
) -> None:
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    strangers = [box.person(f"Stranger {n}") for n in range(40)]
    for round_ in range(5):
        for stranger in strangers:
            await stranger.send(f"spam {round_}")
        await officer.send(f"live {round_}")
    await peer.wait_for("live 4", timeout=30)
    assert relayed(peer, "live") == [f"live {n}" for n in range(5)]
    assert box.app is not None and box.app.dispatcher is not None
    gate = box.app.dispatcher.strangers
    await eventually(lambda: gate.suppressed == 40 * 4, "every stranger message handled")
    for stranger in strangers:
        await stranger.wait_for(box.text().not_member, timeout=20)
    assert [len(s.inbox) for s in strangers] == [1] * 40


async def test_if_polling_dies_anyway_peerline_stops_with_an_error(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await box.stop_app()
    app = standalone_app(box)
    (transport,) = app.transports

    def broken(_offset: int | None) -> None:
        raise RuntimeError("a bug in the poll loop")

    running = asyncio.create_task(app.run())
    await eventually(lambda: app.dispatcher is not None, "the app started")
    monkeypatch.setattr(transport, "_acknowledged", broken)
    await box.person("Eve").send("wake the poller")
    with pytest.raises(TransportFailedError, match="polling stopped"):
        async with asyncio.timeout(20):
            await running
    assert app.repo is None  # still shut down cleanly; `peerline run` then exits with 1


async def test_a_refused_stranger_can_still_join_and_is_then_a_member(box: Sandbox) -> None:
    stranger = box.person("Jo")
    await stranger.send("hello?")
    await stranger.wait_for(box.text().not_member)
    await stranger.send("anyone?")  # refused before the database is asked
    (code,) = await box.invite(Role.OFFICER)
    await stranger.send(f"/start {code}")
    await stranger.wait_for("Welcome")
    await stranger.send("/help")
    await stranger.wait_for(EN.help_officer)
    assert stranger.texts().count(box.text().not_member) == 1


async def test_a_message_that_went_nowhere_is_answered_even_through_an_outage(
    box: Sandbox,
) -> None:
    officer = await box.join("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await connect(box, officer, peer)
    box.api.block(officer.user_id)  # the officer leaves: the thread closes on the next relay
    await peer.send("are you there")
    await peer.wait_for("can't be reached any more")
    storm = box.api.storm(status=502, description="Bad Gateway")
    await peer.send("hello? (to nobody now)")
    # The answer outlasts a send's five tries, and is still given once the outage ends.
    await eventually(lambda: storm.hits >= 7, "the answer tried past one send's five tries")
    box.api.calm()
    await peer.wait_for(EN.not_in_thread_helper, timeout=30)
