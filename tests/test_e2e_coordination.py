"""A coordinator's chat tools end to end: /oncall, /waiting (and its buttons), /invite,
/renew, /revoke, the page's button; refused for every other role; no officer identity shown."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_routing import member_of, offers_in
from tests.test_e2e_threads import connect
from tests.test_e2e_walking_skeleton import ask_for_peer

COMMANDS = ("/oncall", "/waiting", "/invite officer", "/renew 1 2099-01-01", "/revoke 1")


async def said_after(user: SimUser, count_before: int, contains: str) -> str:
    """The first message containing `contains` among those after the first `count_before`."""
    await user.wait_until(lambda: any(contains in m.text for m in user.inbox[count_before:]))
    return next(m.text for m in user.inbox[count_before:] if contains in m.text)


async def refused(user: SimUser, before: int, times: int) -> None:
    def all_refused() -> bool:
        return sum(EN.not_for_role == m.text for m in user.inbox[before:]) == times

    await user.wait_until(all_refused)


async def test_oncall_and_waiting_then_offering_to_more(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    later = await sandbox.join("Casey", Role.PEER, available=False)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await later.send("/hours mon-sun 00:00-23:59")
    await later.wait_for("Requests can come to you in these hours")
    peer_member = await member_of(sandbox, peer)

    seen = len(coordinator.inbox)
    await coordinator.send("/oncall")
    oncall = await said_after(coordinator, seen, "On call now")
    # Casey is inside their on-call hours, so on call now too; hours ahead count them.
    assert "peers 2, chaplains 1, clinicians 0, and coordinators 0" in oncall
    assert f"{peer_member.display_name} (#{peer_member.id})" in oncall
    assert "By their on-call hours" in oncall and "peers 1, chaplains 0" in oncall
    assert "Dana" not in oncall and str(officer.user_id) not in oncall
    assert "Springfield" not in oncall

    await coordinator.send("/waiting")
    await coordinator.wait_for(EN.waiting_none)

    await ask_for_peer(officer)
    await peer.wait_for("New request")
    seen = len(coordinator.inbox)
    await coordinator.send("/waiting")
    waiting_text = await said_after(coordinator, seen, "Waiting now: 1")
    waiting = next(m for m in coordinator.inbox[seen:] if "Waiting now: 1" in m.text)
    assert "wants a peer" in waiting_text and "offers out: 2" in waiting_text
    assert "Dana" not in waiting_text and str(officer.user_id) not in waiting_text
    assert waiting.labels() == [EN.push_button.format(number=1)]

    # Offer it to more helpers: the chaplain too (the search widens), at once.
    assert [t for t in chaplain.texts() if "New request" in t] == []
    await coordinator.press(waiting, EN.push_button.format(number=1))
    await coordinator.wait_for(EN.push_done.format(count=1))
    await chaplain.wait_for("New request")
    # Pressed again: everyone free already has it.
    await coordinator.press(waiting, EN.push_button.format(number=1))
    await coordinator.wait_for("Everyone who is free has had it already")

    await chaplain.press(await chaplain.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    await coordinator.press(waiting, EN.push_button.format(number=1))
    await coordinator.wait_for(EN.push_gone)


@pytest.mark.parametrize("routed", [{"urgent_offers": 3}], indirect=True)
async def test_each_push_asks_as_many_more_as_an_urgent_request_gets(routed: Sandbox) -> None:
    """A cap of three: each press asks the next three ranked helpers who do not have it yet
    (new ones first), until nobody new is left."""
    sandbox = routed
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peers = [await sandbox.join(f"Peer {n}", Role.PEER) for n in range(8)]
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await ask_for_peer(officer)
    for peer in peers[:3]:  # the clock's three slots
        await peer.wait_for("New request")
    seen = len(coordinator.inbox)
    await coordinator.send("/waiting")
    await said_after(coordinator, seen, "Waiting now: 1")
    waiting = next(m for m in coordinator.inbox[seen:] if "Waiting now: 1" in m.text)
    push = EN.push_button.format(number=1)
    for asked, count in (([1, 1, 1, 1, 1, 1, 0, 0], 3), ([1] * 8, 2)):
        before = len(coordinator.inbox)
        await coordinator.press(waiting, push)
        await said_after(coordinator, before, EN.push_done.format(count=count))
        assert [len(offers_in(p)) for p in peers] == asked
    before = len(coordinator.inbox)
    await coordinator.press(waiting, push)
    await said_after(coordinator, before, EN.push_nobody)


async def test_the_page_comes_with_a_way_to_act(sandbox: Sandbox, clock: FakeClock) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    peers = [await sandbox.join(name, Role.PEER) for name in ("Alex", "Blake", "Casey", "Drew")]
    await ask_for_peer(officer)
    for peer in peers[:3]:  # three slots
        await peer.wait_for("New request")
    # Nobody answers for 15 minutes: the first three time out, the fourth is asked, and the
    # coordinator is paged with a way to offer it to more helpers at once.
    clock.advance(timedelta(minutes=15, seconds=1))
    assert sandbox.app is not None
    await sandbox.app.tick()
    page = await coordinator.wait_for("A request has waited")
    assert page.labels() == [EN.push_page_button]
    await coordinator.press(page, EN.push_page_button)
    await coordinator.wait_for(EN.push_done.format(count=3))  # the three who timed out
    for peer in peers[:3]:
        await peer.wait_for(EN.offer_repeated)  # asked again, in a new message


async def test_invite_renew_and_revoke_from_the_chat(sandbox: Sandbox) -> None:
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    peer = await sandbox.join("Alex", Role.PEER)
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer_id = (await member_of(sandbox, peer)).id
    officer_id = (await member_of(sandbox, officer)).id
    coordinator_id = (await member_of(sandbox, coordinator)).id

    await coordinator.send("/invite officer 2 Ogdenville PD")
    codes = await coordinator.wait_for("2 invite codes for the role officer at Ogdenville PD")
    links = [w for w in codes.text.split() if w.startswith("https://t.me/")]
    assert len(links) == 2
    newcomer = sandbox.person("Riley")
    await newcomer.send("/start " + links[0].split("start=")[1])
    await newcomer.wait_for("Welcome")
    assert "Ogdenville" not in " ".join(peer.texts() + officer.texts())

    await coordinator.send("/invite peer")
    await coordinator.wait_for("A peer invite needs the date")
    await coordinator.send("/invite pilot 3")
    await coordinator.wait_for("Send /invite ROLE")
    await coordinator.send("/invite peer 2099-06-30")
    await coordinator.wait_for("1 invite code for the role peer,")

    await coordinator.send(f"/renew {peer_id} 2099-01-31")
    await coordinator.wait_for(EN.renew_done.format(member=peer_id, until="2099-01-31"))
    assert (await member_of(sandbox, peer)).certified_until == date(2099, 1, 31)
    await coordinator.send(f"/renew {officer_id} 2099-01-31")
    await coordinator.wait_for(EN.renew_not_helper.format(member=officer_id))
    await coordinator.send("/renew 999 2099-01-31")
    await coordinator.wait_for(EN.member_unknown.format(member=999))
    await coordinator.send(f"/renew {peer_id} 2001-01-01")
    await coordinator.wait_for("Send /renew MEMBER")

    await coordinator.send(f"/revoke {coordinator_id}")
    await coordinator.wait_for(EN.revoke_self)
    await coordinator.send(f"/revoke #{peer_id}")
    await coordinator.wait_for(EN.revoke_done.format(member=peer_id))
    await peer.send("/help")
    await peer.wait_for(sandbox.text().not_member)


async def test_a_revoke_in_the_chat_ends_their_conversation_and_tells_the_other_at_once(
    sandbox: Sandbox,
) -> None:
    """Revoked mid-conversation: the one still there is told now, not at their next message;
    the revoked officer hears nothing more than a stranger would."""
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    officer_id = (await member_of(sandbox, officer)).id
    heard, before = len(officer.inbox), len(peer.inbox)
    await coordinator.send(f"/revoke {officer_id}")
    await coordinator.wait_for(EN.revoke_done.format(member=officer_id))
    await said_after(peer, before, "can't be reached any more, so this conversation is closed.")
    assert len(officer.inbox) == heard
    await peer.send("Are you still there?")
    await said_after(peer, before, EN.not_in_thread_helper)


async def test_refused_for_every_other_role_but_open_to_granted_rights(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    for user in (officer, peer, chaplain):
        before = len(user.inbox)
        for command in COMMANDS:
            await user.send(command)
        await refused(user, before, len(COMMANDS))
    assert (await member_of(sandbox, officer)).active  # /revoke 1 did nothing

    assert sandbox.app is not None and sandbox.app.repo is not None
    await sandbox.app.repo.set_coordinator((await member_of(sandbox, peer)).id, True)
    seen = len(peer.inbox)
    await peer.send("/oncall")
    await said_after(peer, seen, "On call now")
    await peer.send("/help")
    await said_after(peer, seen, "For coordinators")
