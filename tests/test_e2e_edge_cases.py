"""Edge cases where a message could reach the wrong person, or someone could be left in
silence: replies to old messages, stale buttons, answers by number, unreachable helpers,
hand-overs cut short, accepts after a cool-down began, replayed ratings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.catalog import EN
from bot.events import Address, Platform
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION, ask_for_peer


async def connect(sandbox: Sandbox, officer: SimUser, peer: SimUser) -> None:
    await ask_for_peer(officer, outside=False)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_a_reply_to_an_ended_conversation_never_reaches_the_next_officer(
    sandbox: Sandbox,
) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER)
    evan = await sandbox.join("Evan", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, dana, peer)
    await dana.send("secret from Dana")
    old = await peer.wait_for("secret from Dana")
    await dana.send("/end")
    await peer.wait_for("has closed the conversation")
    await connect(sandbox, evan, peer)

    await peer.send("Dana, about what you told me", reply_to=old)
    await peer.wait_for(EN.reply_unknown)
    await peer.send("a plain message goes to Evan")
    await evan.wait_for("a plain message goes to Evan")
    assert not any("about what you told me" in t for t in evan.texts())


async def test_a_reply_to_the_connected_notice_goes_to_that_thread(sandbox: Sandbox) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER)
    evan = await sandbox.join("Evan", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, dana, peer)
    notice_for_dana = await peer.wait_for("You're connected with")
    await connect(sandbox, evan, peer)
    tag = next(t for t in peer.texts() if "You're connected" in t and t != notice_for_dana.text)
    await peer.send(f"/switch {tag.split('#')[1][:3]}")
    await peer.wait_for("Now talking with")
    await peer.send("for Dana only", reply_to=notice_for_dana)
    await dana.wait_for("for Dana only")
    assert not any("for Dana only" in t for t in evan.texts())


async def test_an_old_not_safe_button_in_a_conversation_gives_crisis_lines_not_a_new_search(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    other = await sandbox.join("Blake", Role.PEER)
    await officer.send("/talk")
    menu = await officer.wait_for(INTAKE_QUESTION)
    await officer.press(menu, EN.category_stress)
    await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
    await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_no)
    await officer.press(await officer.wait_for(EN.intake_note), EN.note_skip)
    offer = await peer.wait_for("New request")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    offers_before = sum("New request" in t for t in other.texts())

    await officer.press(menu, EN.urgent_button)  # the old intake message, still on screen
    crisis = await officer.wait_for("Please reach a crisis line now")
    assert "has been told" in crisis.text
    await peer.wait_for("tapped \u201cI'm not safe right now\u201d")
    await asyncio.sleep(0.1)
    assert sum("New request" in t for t in other.texts()) == offers_before
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.open_requests() == []


async def test_accepting_by_number_is_answered(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request")
    await peer.send("1")  # Accept
    await officer.wait_for("is here for you")
    await peer.wait_until(lambda: sum("You're connected" in t for t in peer.texts()) == 2)
    assert offer.text.startswith("You're connected") and offer.buttons == []


async def test_an_unreachable_helper_means_the_coordinator_is_paged_at_once(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    peer = await sandbox.join("Alex", Role.PEER)
    sandbox.api.block(peer.user_id)
    await ask_for_peer(officer, outside=False)
    await officer.wait_for(EN.status_none_free)
    await coordinator.wait_for("A request has waited 0 min")
    assert sandbox.app is not None and sandbox.app.repo is not None
    member = await sandbox.app.repo.member_by_address(
        Address(Platform.TELEGRAM, str(peer.user_id))
    )
    assert member is not None and not member.available


async def test_a_helper_leaving_during_a_hand_over_does_not_stop_the_search(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN, available=False)
    await connect(sandbox, officer, peer)
    await peer.send("/transfer")
    await peer.press(await peer.wait_for(EN.transfer_which), EN.transfer_to_chaplain)
    ask = await officer.wait_for("suggests handing this conversation over")
    await officer.press(ask, EN.transfer_yes)
    await officer.wait_for("We're finding a chaplain for you now")
    await peer.send("/end")
    await officer.wait_for("We're still finding a chaplain for you")
    await chaplain.send("/available")
    await chaplain.press(await chaplain.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("a chaplain, is here for you")


async def test_an_officer_ending_during_a_hand_over_stops_the_search(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await sandbox.join("Jordan", Role.CHAPLAIN, available=False)
    await connect(sandbox, officer, peer)
    await peer.send("/transfer")
    await peer.press(await peer.wait_for(EN.transfer_which), EN.transfer_to_chaplain)
    await officer.press(await officer.wait_for("suggests handing"), EN.transfer_yes)
    await officer.wait_for("We're finding a chaplain")
    await officer.send("/end")
    await officer.wait_for(EN.thread_ended_by_you)
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.open_requests() == []


async def test_an_accept_after_a_cool_down_began_is_refused(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    second = await sandbox.join("Evan", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await officer.send("/talk")
    await officer.press(await officer.wait_for(INTAKE_QUESTION), EN.urgent_button)
    urgent_offer = await peer.wait_for("URGENT")
    await ask_for_peer(second, outside=False)
    ordinary = await peer.wait_for("New request: A critical incident")
    await peer.press(urgent_offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    await peer.send("/end")  # an urgent thread: a rest follows
    await peer.wait_for(EN.thread_ended_by_you)
    await peer.press(ordinary, EN.offer_accept)
    await peer.wait_until(lambda: ordinary.text == EN.offer_closed)
    assert not any("is here for you" in t for t in second.texts())


async def test_a_rating_counts_once(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    await officer.send("/end")
    prompt = await officer.wait_for(EN.rate_prompt)
    await officer.press(prompt, "5")
    await officer.wait_for(EN.helped_prompt)
    await officer.press(prompt, "5")
    await officer.wait_for(EN.choice_expired)
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.ratings() == [(5, None)]


async def test_delivery_after_the_clock_moved_on_is_still_checked(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """An expired offer may still be accepted while the request is open (faster contact),
    and then it goes through every rule again. Asked again in a newer message, the helper
    still finds Accept on the first one: a yes on its way when the offer timed out counts."""
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request")
    clock.advance(timedelta(minutes=3, seconds=5))
    assert sandbox.app is not None
    await sandbox.app.tick()
    await peer.wait_until(lambda: offer.text == EN.offer_repeated)
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
