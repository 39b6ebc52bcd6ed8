"""Bad input gets a clear answer and loses nothing: odd messages, a gone recipient, a flaky API."""

from __future__ import annotations

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.test_e2e_walking_skeleton import ask_for_peer


async def connected(sandbox: Sandbox) -> tuple[SimUser, SimUser]:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    return officer, peer


async def test_what_cannot_be_relayed_is_refused_out_loud(sandbox: Sandbox) -> None:
    officer, peer = await connected(sandbox)
    before = len(peer.inbox)
    await officer.send_unsupported("poll")
    await officer.wait_for(EN.media_not_relayed)
    await officer.send("still there?")
    await peer.wait_for("still there?")
    assert len(peer.inbox) == before + 1  # only the text arrived


async def test_outside_a_thread_text_and_media_get_a_clear_answer(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("hello?")
    await officer.wait_for(EN.not_in_thread_officer)
    await officer.send_media("sticker")
    await officer.wait_for_count(3)
    assert officer.texts()[-1] == EN.not_in_thread_officer
    await officer.send("/nonsense")
    await officer.wait_for(EN.unknown_command)


async def test_a_helper_who_blocked_the_bot_is_replaced_and_the_officer_told(
    sandbox: Sandbox,
) -> None:
    officer, peer = await connected(sandbox)
    other = await sandbox.join("Blake", Role.PEER)
    sandbox.api.block(peer.user_id)
    await officer.send("are you there")
    await officer.wait_for("can't be reached right now")
    offer = await other.wait_for("New request")
    await other.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_an_officer_who_blocked_the_bot_closes_the_thread_for_the_helper(
    sandbox: Sandbox,
) -> None:
    officer, peer = await connected(sandbox)
    sandbox.api.block(officer.user_id)
    await peer.send("how are you doing?")
    await peer.wait_for("can't be reached any more")
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.live_threads() == []


async def test_a_flaky_api_delivers_once_and_in_order(sandbox: Sandbox) -> None:
    officer, peer = await connected(sandbox)
    sandbox.api.fail_next("sendMessage", status=502, description="Bad Gateway")
    sandbox.api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    for n in range(1, 4):
        await officer.send(f"line {n}")
    await peer.wait_for("line 3", timeout=10)
    relayed = [t.split("\n", 1)[1] for t in peer.texts() if "line " in t]
    assert relayed == ["line 1", "line 2", "line 3"]


async def test_when_retries_run_out_the_sender_is_told_and_the_next_message_goes(
    sandbox: Sandbox,
) -> None:
    officer, peer = await connected(sandbox)
    sandbox.api.fail_next("sendMessage", status=500, description="Internal Server Error", times=5)
    await officer.send("this one hits the outage")
    await officer.wait_for(EN.not_delivered)
    await officer.send("and this one after it")
    await peer.wait_for("and this one after it")


async def test_a_reroute_keeps_outside_my_agency(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peer = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    await ask_for_peer(officer, outside=True)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    colleague = await sandbox.join("Casey", Role.PEER, agency="Springfield PD")
    outsider = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    await sandbox.stop_app()
    await sandbox.start_app()  # the choice survives a restart, sealed with the thread
    sandbox.api.block(peer.user_id)
    await officer.send("hello?")
    await officer.wait_for("can't be reached right now")
    await outsider.wait_for("New request")
    assert not any("New request" in t for t in colleague.texts())
