"""The Signal gateway misbehaving: websocket drops and clean closes, rate limits and server
errors, a gateway that is down at start-up, and safety-number (identity key) changes."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.faults import Fault, FaultPlan, FaultRates
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import LocalSignalApi, SignalMessage, SignalUser
from tests.conftest import FakeClock
from tests.test_delivery import eventually
from tests.test_e2e_signal import signal_intake


@pytest.fixture
async def box(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(tmp_path / "sandbox", clock=clock, signal=True)
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.stop()


def gateway(box: Sandbox) -> LocalSignalApi:
    assert box.signal is not None
    return box.signal


async def connect(officer: SignalUser, peer: SignalUser) -> None:
    await signal_intake(officer)
    offer = await peer.wait_for("New request")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")


@pytest.mark.parametrize("clean", [True, False], ids=["clean-close", "dropped"])
async def test_the_receive_websocket_comes_back(
    box: Sandbox, clean: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    officer = await box.join_signal("Dana", Role.OFFICER)
    api = gateway(box)
    before = api.connections
    await api.drop_websockets(clean=clean)
    await api.wait_connected(after=before)
    await officer.send("help")
    await officer.wait_for_count(2)
    assert officer.last.text.startswith(EN.help_officer)  # then the crisis line
    how = "closed by the gateway" if clean else "dropped"
    assert any(how in r.getMessage() for r in caplog.records)


async def test_rate_limits_and_server_errors_are_retried(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect(officer, peer)
    api = gateway(box)
    api.fail_next("send", 429)
    api.fail_next("send", 503, times=2)
    await officer.send("first, through the storm")
    await officer.send("second, in order")
    await peer.wait_for("second, in order")
    relayed = [t.split("\n", 1)[1] for t in peer.texts() if t.count("\n") == 1 and "#" in t]
    assert relayed[-2:] == ["first, through the storm", "second, in order"]

    # Still failing after the retries: the sender is told, nothing is silently lost.
    api.fail_next("send", 502, times=5)  # every try of the relay; the notice then gets out
    await officer.send("this one cannot get through")
    await officer.wait_for(EN.not_delivered)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_gateway_down_at_start_up_is_reported_once_and_retried(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = LocalSignalApi(port=free_port())
    box = Sandbox(tmp_path / "sandbox", clock=clock, signal=api)
    await box.start(signal_up=False)
    try:
        # Telegram works while Signal's gateway is away.
        telegram_officer = await box.join("Dana", Role.OFFICER)
        await telegram_officer.send("/help")
        await telegram_officer.wait_for(EN.help_officer)
        transport = box.signal_transport
        assert transport is not None and not transport.connected.is_set()
        down = [r for r in caplog.records if "is not answering" in r.getMessage()]
        assert len(down) == 1, "one clear line, not one per retry"
        assert down[0].levelno == logging.ERROR

        await api.start()
        await api.wait_connected()
        officer = await box.join_signal("Evan", Role.OFFICER)
        await officer.send("crisis")
        await officer.wait_for("988")
        assert any("answering again" in r.getMessage() for r in caplog.records)
    finally:
        await box.stop()


async def test_a_helpers_new_safety_number_holds_offers_until_reconfirmed(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    peer.change_identity()
    await peer.send("available")
    await peer.wait_for(EN.identity_hold_helper)
    assert peer.identity_status == "TRUSTED_UNVERIFIED"  # trusted at the gateway to tell them
    await peer.wait_until(lambda: peer.texts().count(EN.identity_hold_helper) == 2)

    await signal_intake(officer)
    await officer.wait_for(EN.status_none_free)
    await asyncio.sleep(0.1)
    assert not any("New request" in t for t in peer.texts())

    assert box.app is not None and box.app.repo is not None
    member = await box.app.repo.member_by_address(
        next(m.address for m in await box.app.repo.all_members() if m.role is Role.PEER)
    )
    assert member is not None and member.identity_hold
    await box.app.repo.set_identity_hold(member.id, False)  # `peerline roster reconfirm`
    await peer.send("available")
    await peer.wait_for("You're available")
    await box.app.tick()
    await peer.wait_for("New request")


async def test_an_officers_new_safety_number_is_accepted_with_a_notice(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect(officer, peer)
    officer.change_identity()
    # The bot writes first: the send is refused by the gateway, the change is noticed.
    await peer.send("are you still there?")
    await peer.wait_for(EN.not_delivered)
    await officer.wait_for(EN.identity_changed_officer)
    await peer.send("are you still there? (again)")
    await officer.wait_for("are you still there? (again)")
    await officer.send("yes, new phone")
    await peer.wait_for("yes, new phone")


async def test_a_rate_limit_holds_one_chat_and_the_send_resumes(box: Sandbox) -> None:
    first = await box.join_signal("Dana", Role.OFFICER)
    second = await box.join_signal("Evan", Role.OFFICER)
    peer_one = await box.join_signal("Alex", Role.PEER)
    await connect(first, peer_one)
    peer_two = await box.join_signal("Blake", Role.PEER)
    await connect(second, peer_two)
    gateway(box).fail_next("send", 429, retry_after=4, recipient=peer_one)
    await first.send("held by the rate limit")
    await first.send("and this one behind it")
    await second.send("another chat goes on meanwhile")
    await peer_two.wait_for("another chat goes on meanwhile")
    assert not any("held by" in t for t in peer_one.texts())
    await peer_one.wait_for("and this one behind it")
    relayed = [t.split("\n", 1)[1] for t in peer_one.texts() if t.split("\n")[0].endswith(":")]
    assert relayed[-2:] == ["held by the rate limit", "and this one behind it"]
    assert EN.not_delivered not in first.texts()


async def test_a_hung_gateway_call_is_given_up_tried_again_and_the_sender_told(
    tmp_path: Path, clock: FakeClock
) -> None:
    # Without a bound of its own, signalbot's session waits 5 minutes for each answer.
    rates = FaultRates(storm=0.0, outage=0.0, late=0.0, hung=1.0, polls=0.0)
    plan = FaultPlan(1, rates, timeout=0.5)
    box = Sandbox(tmp_path / "sandbox", clock=clock, signal=True, faults=plan)
    await box.start()
    try:
        officer = await box.join_signal("Dana", Role.OFFICER)
        peer = await box.join_signal("Alex", Role.PEER)
        await connect(officer, peer)
        plan.active = True  # every send is accepted and never answered
        await officer.send("into a hung gateway")
        await eventually(lambda: plan.total(Fault.HUNG) >= 5, "five tries, each given up")
        plan.active = False
        await officer.wait_for(EN.not_delivered, timeout=30)
        assert not any("into a hung gateway" in t for t in peer.texts())
        await officer.send("once it answers again")
        await peer.wait_for("once it answers again")
    finally:
        await box.stop()


# -- the identity listing: one for the messages received together, never one asked too early --

LISTING = ("GET", "/v1/identities/{number}")


async def in_conversation(box: Sandbox) -> tuple[SignalUser, SignalUser, LocalSignalApi]:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect(officer, peer)
    return officer, peer, gateway(box)


async def for_later(writer: SignalUser, reader: SignalUser) -> SignalMessage:
    """`writer` says "for later"; its copy on `reader`'s side (for `received_before`)."""
    await writer.send("for later")
    return await reader.wait_for("for later")


async def received_before(person: SignalUser, relayed_copy: SignalMessage) -> None:
    """Every message sent so far has reached the bot: `person` deletes a message whose copy is
    `relayed_copy`, and the bot carries that out (frames come in order on one websocket, and a
    deletion asks for no identity listing, so it is not held behind one)."""
    timestamp = next(t for t, data in person.sent.items() if data.get("message") == "for later")
    await person.delete(timestamp)
    await eventually(lambda: relayed_copy.deleted, "the copy deleted")


async def test_messages_received_together_share_one_identity_listing(box: Sandbox) -> None:
    officer, peer, api = await in_conversation(box)
    copy = await for_later(peer, officer)
    gate = api.hold("identities")
    before = api.calls.count(LISTING)
    await officer.send("text 1")
    await eventually(lambda: api.calls.count(LISTING) == before + 1, "text 1's listing asked")
    for n in range(2, 7):
        await officer.send(f"text {n}")
    await received_before(peer, copy)
    gate.set()
    await peer.wait_for("text 6")
    # Text 1's listing was asked for before the others arrived; one more serves texts 2-6.
    assert api.calls.count(LISTING) == before + 2
    relayed = [t.split("\n", 1)[1] for t in peer.texts() if "\ntext " in t]
    assert relayed == [f"text {n}" for n in range(1, 7)]


async def test_a_key_change_is_judged_by_a_listing_asked_for_after_it_and_told_once(
    box: Sandbox,
) -> None:
    officer, peer, api = await in_conversation(box)
    copy = await for_later(officer, peer)
    gate = api.hold("identities")
    before = api.calls.count(LISTING)
    await peer.send("zero")
    await eventually(lambda: api.calls.count(LISTING) == before + 1, "zero's listing asked")
    peer.change_identity()  # after that listing was answered (held on its way back)
    await peer.send("one")
    await peer.send("two")
    await received_before(officer, copy)
    gate.set()
    await officer.wait_for("two")
    # "one" came after the first listing was asked for: a later one shows the new key. Once
    # the key is accepted, "two" is judged by a newer one still: the helper is told once.
    assert peer.texts().count(EN.identity_hold_helper) == 1
    trusts = [call for call in api.calls if call[1] == "/v1/identities/{number}/trust/{contact}"]
    assert len(trusts) == 1
    said = ("zero", "one", "two")
    relayed = [line for text in officer.texts() for line in text.split("\n") if line in said]
    assert relayed == list(said)  # conversations already open carry on
