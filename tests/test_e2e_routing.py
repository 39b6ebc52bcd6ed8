"""Routing and the contact clock end to end, over the real PTB and the local Bot API.

The clock is a FakeClock moved by hand; `tick()` is what the scheduler calls every few seconds.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.catalog import EN
from bot.config import RoutingConfig
from bot.events import Address, Platform
from bot.model import Member, Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION, ask_for_peer

EXPIRED = "No answer yet"  # in EN.offer_expired, whose category varies


async def tick(sandbox: Sandbox) -> None:
    assert sandbox.app is not None
    await sandbox.app.tick()


async def member_of(sandbox: Sandbox, user: SimUser) -> Member:
    assert sandbox.app is not None and sandbox.app.repo is not None
    member = await sandbox.app.repo.member_by_address(
        Address(Platform.TELEGRAM, str(user.user_id))
    )
    assert member is not None
    return member


def offers_in(user: SimUser) -> list[str]:
    return [t for t in user.texts() if "New request" in t]


async def press_urgent(officer: SimUser) -> None:
    await officer.send("/talk")
    await officer.press(await officer.wait_for(INTAKE_QUESTION), EN.urgent_button)
    await officer.wait_for("Please reach a crisis line now")


async def test_two_accepts_at_once_exactly_one_wins(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer_a = await sandbox.join("Alex", Role.PEER)
    peer_b = await sandbox.join("Blake", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer_a = await peer_a.wait_for("New request")
    offer_b = await peer_b.wait_for("New request")

    await asyncio.gather(
        peer_a.press(offer_a, EN.offer_accept), peer_b.press(offer_b, EN.offer_accept)
    )
    await officer.wait_for("is here for you")
    await asyncio.sleep(0.2)  # let the loser's answer arrive too
    connected = [u for u in (peer_a, peer_b) if any("You're connected" in t for t in u.texts())]
    taken = [u for u in (peer_a, peer_b) if any(EN.offer_taken in t for t in u.texts())]
    assert len(connected) == 1 and len(taken) == 1 and connected != taken
    assert sum("is here for you" in t for t in officer.texts()) == 1
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert len(await sandbox.app.repo.live_threads()) == 1


async def test_the_clock_escalates_and_the_officer_is_never_left_in_silence(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await ask_for_peer(officer, outside=False)
    first = await peer.wait_for("New request")
    assert offers_in(chaplain) == []  # a peer was asked for

    # 3 minutes: the offer times out; nobody new is left, so the only peer is asked again in a
    # new message (it notifies) and the old one keeps only its Accept button.
    clock.advance(timedelta(minutes=3, seconds=1))
    await tick(sandbox)
    await peer.wait_for(EN.offer_repeated)
    assert first.text == EN.offer_repeated and first.labels() == [EN.offer_accept]
    again = await peer.wait_for("New request")
    assert again is not first and again.labels()[0] == EN.offer_accept

    # 10 minutes: chaplains too, and the officer hears about it.
    clock.advance(timedelta(minutes=7))
    await tick(sandbox)
    await officer.wait_for(EN.status_widened)
    await chaplain.wait_for("New request")

    # 15 minutes: the on-call coordinator is paged, with the category and wait, never identity.
    clock.advance(timedelta(minutes=5))
    await tick(sandbox)
    page = await coordinator.wait_for("A request has waited 15 min")
    assert "Dana" not in page.text and str(officer.user_id) not in page.text
    await officer.wait_for(EN.status_paged)

    # 30 minutes: crisis lines, and the search goes on unless the officer stops it.
    clock.advance(timedelta(minutes=15))
    await tick(sandbox)
    gave_up = await officer.wait_for("I'm sorry this is taking so long")
    assert "988" in gave_up.text and gave_up.labels() == [EN.stop_looking]

    # Ticks are idempotent: nothing is said twice.
    before = len(officer.inbox)
    await tick(sandbox)
    await tick(sandbox)
    await asyncio.sleep(0.1)
    assert len(officer.inbox) == before

    live_offer = next(m for m in reversed(chaplain.inbox) if "New request" in m.text)
    clock.advance(timedelta(minutes=1))
    await chaplain.press(live_offer, EN.offer_accept)
    await officer.wait_for("a chaplain, is here for you")
    assert sandbox.app is not None and sandbox.app.repo is not None
    (metrics,) = await sandbox.app.repo.metrics()
    assert metrics.outcome == "matched"
    assert metrics.secs_to_status == 0
    assert metrics.secs_to_first_offer == 0
    assert metrics.secs_to_accept is not None and metrics.secs_to_accept > 30 * 60
    assert not metrics.met_goal


async def test_urgent_path_shows_crisis_lines_and_asks_everyone_free_up_to_the_cap(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    helpers = [
        await sandbox.join(name, role, agency=agency)
        for name, role, agency in (
            ("Alex", Role.PEER, "Shelbyville SO"),
            ("Blake", Role.PEER, "Capital City PD"),
            ("Casey", Role.PEER, "Ogdenville PD"),
            ("Drew", Role.PEER, "North Haverbrook PD"),
            ("Jordan", Role.CHAPLAIN, None),
        )
    ]
    away = await sandbox.join("Erin", Role.PEER, available=False)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await officer.send("/talk")
    menu = await officer.wait_for(INTAKE_QUESTION)
    await officer.press(menu, EN.urgent_button)
    urgent = await officer.wait_for("Please reach a crisis line now")
    assert "COPLINE" in urgent.text
    assert len(helpers) < RoutingConfig().urgent_offers
    for helper in helpers:  # more than one batch, fewer than the cap: everyone available
        offer = await helper.wait_for("URGENT")
        assert "New request" in offer.text
    await coordinator.wait_for("URGENT: an officer is not safe and has waited 0 minutes")
    assert offers_in(away) == []


@pytest.mark.parametrize("routed", [{"urgent_offers": 3}], indirect=True)
async def test_an_urgent_request_goes_to_the_cap_at_once_and_each_free_slot_to_the_next(
    routed: Sandbox, clock: FakeClock
) -> None:
    """Seven peers free, a cap of three: the first three ranked (here, first joined) are asked
    at once; a decline and a timeout each pass their slot to the next one at once; the seventh
    is never asked, and an accept still matches."""
    sandbox = routed
    officer = await sandbox.join("Dana", Role.OFFICER)
    peers = [await sandbox.join(f"Peer {n}", Role.PEER) for n in range(7)]
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await press_urgent(officer)
    offers = [await peer.wait_for("URGENT") for peer in peers[:3]]
    await coordinator.wait_for("URGENT: an officer is not safe")  # paged at once, as before
    await asyncio.sleep(0.1)
    assert [len(offers_in(p)) for p in peers] == [1, 1, 1, 0, 0, 0, 0]

    clock.advance(timedelta(minutes=1))
    await peers[0].press(offers[0], EN.offer_decline)
    await peers[3].wait_for("URGENT")  # no tick: the declined slot went to the next at once
    clock.advance(timedelta(seconds=30))
    await peers[1].press(offers[1], EN.offer_decline)
    await peers[4].wait_for("URGENT")
    # Three minutes in, the third offer times out: its slot goes to the sixth; the fourth and
    # fifth offers (sent later) are still out.
    clock.advance(timedelta(minutes=1, seconds=31))
    await tick(sandbox)
    await peers[2].wait_for(EXPIRED)
    sixth = await peers[5].wait_for("URGENT")
    await asyncio.sleep(0.1)
    assert [len(offers_in(p)) for p in peers] == [0, 0, 0, 1, 1, 1, 0]

    await peers[5].press(sixth, EN.offer_accept)
    await officer.wait_for("is here for you")
    for peer in peers[3:5]:
        await peer.wait_for(EN.offer_taken)
    assert offers_in(peers[6]) == []


@pytest.mark.parametrize("routed", [{"urgent_offers": 0}], indirect=True)
async def test_with_no_cap_an_urgent_request_goes_to_every_eligible_helper_at_once(
    routed: Sandbox,
) -> None:
    sandbox = routed
    officer = await sandbox.join("Dana", Role.OFFICER)
    peers = [await sandbox.join(f"Peer {n}", Role.PEER) for n in range(7)]
    away = await sandbox.join("Erin", Role.PEER, available=False)
    await press_urgent(officer)
    offers = [await peer.wait_for("URGENT") for peer in peers]
    await peers[6].press(offers[6], EN.offer_accept)
    await officer.wait_for("is here for you")
    for peer in peers[:6]:
        await peer.wait_for(EN.offer_taken)
    assert offers_in(away) == []


async def test_a_pending_request_survives_a_restart_and_its_timers_resume(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer_a = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    first = await peer_a.wait_for("New request")

    await sandbox.stop_app()
    clock.advance(timedelta(minutes=4))
    await sandbox.start_app()  # the first tick runs at start

    await peer_a.wait_until(lambda: first.text == EN.offer_repeated)  # timed out, asked again
    assert first.labels() == [EN.offer_accept]
    peer_b = await sandbox.join("Blake", Role.PEER)  # a free slot: asked at once
    offer_b = await peer_b.wait_for("New request")
    await peer_b.press(offer_b, EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_declared_involvement_skips_that_helper_for_good(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer_a = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False, note="Crash on I-80 last night")
    offer = await peer_a.wait_for("New request")
    assert "Crash on I-80 last night" in offer.text
    peer_b = await sandbox.join("Blake", Role.PEER)
    await peer_a.press(offer, EN.offer_involved)
    await peer_a.wait_for(EN.offer_involved_ack)
    await peer_b.wait_for("New request")
    # Even when every other offer has timed out, the involved helper is not asked again.
    for _ in range(3):
        clock.advance(timedelta(minutes=4))
        await tick(sandbox)
    await asyncio.sleep(0.1)
    assert len(offers_in(peer_a)) == 0  # the one offer was edited to the acknowledgement


async def test_continuity_and_the_private_block_list(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    await alex.send("/name Alex")
    await alex.wait_for("Done.")
    blake = await sandbox.join("Blake", Role.PEER)
    await ask_for_peer(officer, outside=False)
    await blake.wait_for("New request")
    await alex.press(await alex.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    await officer.send("/end")
    closed = await officer.wait_for(EN.thread_ended_by_you)
    # The closing screen leads with "nothing was kept", /talk and the crisis line; the rating
    # follows, and the private choices about that person come last, under the numbers.
    assert "/talk" in closed.text and "988" in closed.text and closed.buttons == []
    ended = await officer.wait_for(EN.rate_prompt)
    assert ended.labels()[:7] == [
        *"12345",
        EN.keep_button.format(name="Alex"),
        EN.block_button.format(name="Alex"),
    ]
    await officer.press(ended, EN.keep_button.format(name="Alex"))
    await officer.wait_for(EN.kept.format(name="Alex", days=30))

    # Next time (chosen): "Alex again?" and, if yes, Alex alone gets the first offer.
    before_blake = len(offers_in(blake))
    await officer.send("/talk")
    await officer.press(await officer.wait_for(INTAKE_QUESTION), EN.category_stress)
    await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
    await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_no)
    again = await officer.wait_for("Would you like Alex again")
    await officer.press(again, EN.again_yes.format(name="Alex"))
    await officer.press(await officer.wait_for(EN.intake_note), EN.note_skip)
    offer = await alex.wait_for("New request: Stress or burnout")
    await asyncio.sleep(0.1)
    assert len(offers_in(blake)) == before_blake
    await alex.press(offer, EN.offer_decline)
    await blake.wait_for("New request: Stress or burnout")
    await officer.send("/cancel")
    await officer.wait_for(EN.request_cancelled)

    # "Not Alex again": private, and honoured from then on.
    await officer.press(ended, EN.block_button.format(name="Alex"))
    await officer.wait_for(EN.blocked.format(name="Alex"))
    alex_offers = len(offers_in(alex))
    await ask_for_peer(officer, outside=False)
    await blake.wait_for_count(len(blake.inbox) + 1)
    await asyncio.sleep(0.1)
    assert len(offers_in(alex)) == alex_offers
    assert not any("Would you like Alex again" in t for t in officer.texts()[-4:])


async def test_chain_of_command_is_never_offered(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    sergeant = await sandbox.join("Sgt Lee", Role.PEER)
    other = await sandbox.join("Blake", Role.PEER)
    assert sandbox.app is not None and sandbox.app.repo is not None
    await sandbox.app.repo.add_supervision(
        (await member_of(sandbox, sergeant)).id, (await member_of(sandbox, officer)).id
    )
    await ask_for_peer(officer, outside=False)
    await other.wait_for("New request")
    await asyncio.sleep(0.1)
    assert offers_in(sergeant) == []


async def test_ignoring_offers_sets_a_helper_away(sandbox: Sandbox, clock: FakeClock) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    sleepy = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    await sleepy.wait_for("New request")
    for _ in range(3):
        clock.advance(timedelta(minutes=3, seconds=1))
        await tick(sandbox)
    notice = await sleepy.wait_for("You've missed 3 offers in a row")
    assert "/available" in notice.text
    assert not (await member_of(sandbox, sleepy)).available


async def test_cancel_withdraws_offers_and_counts_the_request(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request")
    accept_data = offer.buttons[0][0][1]
    await officer.send("/cancel")
    await officer.wait_for(EN.request_cancelled)
    await peer.wait_for(EN.offer_closed)
    assert offer.buttons == []
    # A late press of the withdrawn button (e.g. from a stale screen) gets a clear answer.
    await peer.press_data(accept_data, offer)
    assert offer.text == EN.offer_closed
    assert not any("You're connected" in t for t in peer.texts())
    assert sandbox.app is not None and sandbox.app.repo is not None
    (metrics,) = await sandbox.app.repo.metrics()
    assert metrics.outcome == "cancelled" and not metrics.met_goal


async def test_a_new_helper_coming_on_duty_gets_the_waiting_request(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER, available=False)
    await ask_for_peer(officer, outside=False)
    await officer.wait_for(EN.status_none_free)
    await peer.send("/available")
    offer = await peer.wait_for("New request")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_a_declined_slot_is_refilled_at_once_while_others_are_still_out(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """A batch of three: one decline sends the next offer at once; the two silent helpers'
    offers are still out and do not hold it back."""
    officer = await sandbox.join("Dana", Role.OFFICER)
    first_three = [await sandbox.join(name, Role.PEER) for name in ("Alex", "Blake", "Casey")]
    await ask_for_peer(officer, outside=False)
    offers = [await peer.wait_for("New request") for peer in first_three]
    fourth = await sandbox.join("Drew", Role.PEER)
    await first_three[0].press(offers[0], EN.offer_decline)
    await fourth.wait_for("New request")  # no tick, no time passed: the decline refilled
    assert offers_in(first_three[1]) == offers_in(first_three[2]) == [offers[1].text]


async def test_a_new_helper_fills_a_free_slot_on_the_next_tick(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer_a = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    await peer_a.wait_for("New request")
    peer_b = await sandbox.join("Blake", Role.PEER)  # a slot of three is free
    clock.advance(timedelta(seconds=5))
    await tick(sandbox)
    offer_b = await peer_b.wait_for("New request")
    await peer_b.press(offer_b, EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_an_accept_just_after_expiry_still_counts_while_the_request_is_open(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    first_three = [await sandbox.join(name, Role.PEER) for name in ("Alex", "Blake", "Casey")]
    await ask_for_peer(officer, outside=False)
    offers = [await peer.wait_for("New request") for peer in first_three]
    fourth = await sandbox.join("Drew", Role.PEER)
    clock.advance(timedelta(minutes=3, seconds=1))
    await tick(sandbox)
    fresh = await fourth.wait_for("New request")
    for peer in first_three:
        await peer.wait_for(EXPIRED)
    assert all(offer.labels() == [EN.offer_accept] for offer in offers)
    await first_three[0].press(offers[0], EN.offer_accept)  # late, but the request is open
    await officer.wait_for("is here for you")
    # Every other offer, expired or live, loses its button: the request is taken.
    for peer, offer in ((first_three[1], offers[1]), (first_three[2], offers[2]), (fourth, fresh)):
        await peer.wait_until(lambda offer=offer: offer.text == EN.offer_taken)  # type: ignore[misc]
        assert offer.buttons == []


async def test_with_no_peer_left_a_chaplain_is_asked_at_once(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await ask_for_peer(officer, outside=False)  # no peer at all: no waiting for widen_after
    await chaplain.wait_for("New request")
    await officer.wait_for(EN.status_widened)
    assert not any("A request has waited" in t for t in coordinator.texts())


async def test_a_request_nobody_took_in_three_minutes_goes_to_five_at_once(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peers = [await sandbox.join(f"Peer {n}", Role.PEER) for n in range(8)]
    await ask_for_peer(officer, outside=False)

    def asked() -> list[SimUser]:
        return [p for p in peers if offers_in(p)]

    for peer in peers[:3]:  # three slots at first (the policy's order: first joined here)
        await peer.wait_for("New request")
    clock.advance(timedelta(minutes=2, seconds=59))
    await tick(sandbox)
    await asyncio.sleep(0.2)
    assert len(asked()) == 3
    # Three minutes and nobody yet: the three offers time out (their Accept stays) and the
    # batch grows to five slots, all five new helpers.
    clock.advance(timedelta(seconds=2))
    await tick(sandbox)
    for peer in peers[3:]:
        await peer.wait_for("New request")
    for peer in peers[:3]:  # timed out, not asked again: their one offer was edited
        await peer.wait_for(EXPIRED)
    assert [len(offers_in(p)) for p in peers] == [0, 0, 0, 1, 1, 1, 1, 1]
    late = peers[1]
    offer = next(m for m in late.inbox if EXPIRED in m.text)
    assert offer.labels() == [EN.offer_accept]
    await late.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
