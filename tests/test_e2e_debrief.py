"""/debrief end to end over the real PTB: after a hard conversation a helper asks for a debrief
with a clinician; it is routed like a request (never to their chain of command, never to
themselves, never widened to peers or chaplains), relayed, and closed without a rating."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.catalog import EN
from bot.escalation import ClockState, Timing, can_widen, decide, effective_wanted, next_wake
from bot.model import Category, Role, Wanted
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_routing import member_of, tick
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION

DEBRIEF_OFFER = EN.offer_asker_helper.format(who=EN.who_phrase_clinician)


async def talking(officer: SimUser, peer: SimUser, topic: str) -> None:
    """The officer asks for a peer about `topic`; the peer takes it."""
    await officer.send("/talk")
    await officer.press(await officer.wait_for(INTAKE_QUESTION), topic)
    await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
    await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_no)
    await officer.press(await officer.wait_for(EN.intake_note), EN.note_skip)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")


async def hard_conversation(officer: SimUser, peer: SimUser) -> None:
    await talking(officer, peer, EN.category_suicidal_thoughts)
    await peer.send("/end")
    await peer.wait_for(EN.thread_ended_by_you)


async def test_a_helper_debriefs_with_a_clinician_outside_their_chain_of_command(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    boss = await sandbox.join("Blake", Role.CLINICIAN)  # supervises Alex
    clinician = await sandbox.join("Casey", Role.CLINICIAN)
    bystanders = [
        await sandbox.join("Drew", Role.PEER),
        await sandbox.join("Jordan", Role.CHAPLAIN),
    ]
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    alex = await member_of(sandbox, peer)
    assert await repo.add_supervision((await member_of(sandbox, boss)).id, alex.id)
    await hard_conversation(officer, peer)
    # Offers are edited once taken or expired: count messages, not what they say now.
    seen = [len(user.inbox) for user in (boss, *bystanders)]

    await peer.send("/debrief")
    prompt = await peer.wait_for(EN.debrief_prompt)
    assert prompt.labels() == [EN.debrief_with_clinician, EN.who_chaplain, EN.crisis_button]
    await peer.press(prompt, EN.debrief_with_clinician)
    await peer.wait_for("We're finding a clinician for you now")
    offer = await clinician.wait_for("New request: A debrief")
    assert DEBRIEF_OFFER in offer.text
    await peer.send("/debrief")  # one at a time
    await peer.wait_for(EN.request_already_open)

    # The widening time passes: a debrief never goes to peers or chaplains instead.
    clock.advance(timedelta(minutes=11))
    await tick(sandbox)
    offer = await clinician.wait_for(EN.offer_repeated)  # the only clinician, asked again
    offer = clinician.inbox[-1]
    assert DEBRIEF_OFFER in offer.text
    assert not any(EN.status_widened in t for t in peer.texts())
    await clinician.press(offer, EN.offer_accept)
    await peer.wait_for("a clinician, is here for you")
    await clinician.wait_for("You're connected with")

    await peer.send("I can't stop hearing the call.")
    heard = await clinician.wait_for("I can't stop hearing the call.")
    assert alex.display_name not in heard.text  # a nickname, as for anyone who asks
    await clinician.send("That makes sense after a night like that. Tell me more.")
    await peer.wait_for("Tell me more.")
    await peer.send("/end")
    await peer.wait_for("Your debrief with")
    await clinician.wait_for("has closed the conversation")
    assert not any(EN.rate_prompt in t for t in peer.texts())

    assert [len(user.inbox) for user in (boss, *bystanders)] == seen
    debriefs = [m for m in await repo.metrics() if m.category is Category.DEBRIEF]
    assert [(m.asker, m.outcome, m.paged) for m in debriefs] == [("helper", "matched", False)]


async def test_a_clinician_never_gets_their_own_debrief(sandbox: Sandbox) -> None:
    asker = await sandbox.join("Blake", Role.CLINICIAN)
    other = await sandbox.join("Casey", Role.CLINICIAN)
    await asker.send("/debrief")
    await asker.press(await asker.wait_for(EN.debrief_prompt), EN.debrief_with_clinician)
    await other.wait_for("New request: A debrief")
    # Nobody else can take it: the coordinators would be paged; the asker never gets it.
    assert not any("New request" in t for t in asker.texts())
    await asker.send("/cancel")
    await asker.wait_for(EN.request_cancelled)
    await other.wait_until(lambda: EN.offer_closed in other.texts())


def test_a_chaplain_debrief_is_never_widened_to_peers() -> None:
    """Only a choice between peer and chaplain widens; a debrief with a chaplain does not."""
    timing = Timing()
    start = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    debrief = ClockState(
        wanted=Wanted.CHAPLAIN,
        urgent=False,
        created_at=start,
        widened=False,
        paged=False,
        gave_up=False,
        widenable=False,
    )
    late = start + timing.widen_after + timedelta(minutes=1)
    assert not can_widen(debrief)
    assert effective_wanted(debrief, late, timing) is Wanted.CHAPLAIN
    assert next_wake(debrief, [], timing, late) == start + timing.page_after
    assert not decide(debrief, [], late, timing, anyone_to_offer=False).widen
    officer = replace(debrief, widenable=True)  # the same request from an officer widens
    assert can_widen(officer) and effective_wanted(officer, late, timing) is Wanted.EITHER


async def test_a_helper_sees_their_own_debrief_named_as_a_debrief_with_a_crisis_line_at_hand(
    sandbox: Sandbox,
) -> None:
    """Still with an officer, a peer asks for a debrief: /threads, "which conversation?" and
    /end name it as their debrief, never by their own nickname, and every screen of the
    debrief carries a crisis line or a button to them (checked again by the sandbox fixture)."""
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    clinician = await sandbox.join("Casey", Role.CLINICIAN)
    await talking(officer, peer, EN.category_stress)

    await peer.send("/debrief")
    prompt = await peer.wait_for(EN.debrief_prompt)
    assert EN.crisis_button in prompt.labels()
    await peer.press(prompt, EN.debrief_with_clinician)
    await clinician.press(await clinician.wait_for("New request: A debrief"), EN.offer_accept)
    joined = await peer.wait_for("a clinician, is here for you")
    assert EN.crisis_button in joined.labels()
    assert sandbox.app is not None and sandbox.app.services is not None
    relay = sandbox.app.services.relay
    alex = await member_of(sandbox, peer)
    (mine,) = [t for t in relay.threads.values() if t.officer_id == alex.id]
    (theirs,) = [t for t in relay.threads.values() if t.helper_id == alex.id]
    own_debrief = EN.thread_line.format(tag=mine.tag, alias=EN.thread_own_debrief)
    # By its tag: the two nicknames are drawn at random and may be the same.
    by_nickname = EN.thread_line.format(tag=mine.tag, alias=mine.officer_alias)

    await peer.send("/threads")
    listed = await peer.wait_for(EN.threads_list.split("{")[0])
    assert own_debrief in listed.text and by_nickname not in listed.text
    assert EN.thread_line.format(tag=theirs.tag, alias=theirs.officer_alias) in listed.text
    await peer.send("Which one gets this?")
    asked = await peer.wait_for("This message was not sent.")
    assert own_debrief in asked.text and by_nickname not in asked.text
    await peer.send("/end")
    which = await peer.wait_for(EN.end_which)
    end_debrief = EN.end_button.format(tag=mine.tag, alias=EN.thread_own_debrief)
    assert end_debrief in which.labels()
    assert EN.end_button.format(tag=mine.tag, alias=mine.officer_alias) not in which.labels()
    await peer.press(which, end_debrief)
    closed = await peer.wait_for("Your debrief with")
    assert EN.crisis_button in closed.labels()
    await clinician.wait_for("has closed the conversation")
    await peer.send("/end")  # the officer's conversation: theirs to end as the helper
    await officer.wait_for("has closed the conversation")


async def test_the_check_in_after_a_debrief_keeps_a_crisis_button_at_hand(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """Once a debrief has closed, the clinician offers a check-in: the question to the helper
    who asked, the answer, the check-in itself and its reply each carry a crisis button, as
    an officer's would (the sandbox fixture checks every check-in screen, whoever reads it)."""
    peer = await sandbox.join("Alex", Role.PEER)
    clinician = await sandbox.join("Casey", Role.CLINICIAN)
    await peer.send("/debrief")
    await peer.press(await peer.wait_for(EN.debrief_prompt), EN.debrief_with_clinician)
    await clinician.press(await clinician.wait_for("New request: A debrief"), EN.offer_accept)
    await peer.wait_for("a clinician, is here for you")
    await peer.send("/end")
    await peer.wait_for("Your debrief with")

    offer = await clinician.wait_for("Would you like us to check in with")
    await clinician.press(offer, offer.labels()[0])
    await clinician.wait_for(EN.followup_asked)
    asked = await peer.wait_for("would like to check in with you in")
    assert asked.labels() == [EN.followup_yes, EN.followup_no, EN.crisis_button]
    await peer.press(asked, EN.followup_yes)
    agreed = await peer.wait_for("We'll check in with you in")
    assert EN.crisis_button in agreed.labels()
    await clinician.wait_for("agreed. In")

    assert sandbox.app is not None and sandbox.app.followups_wake_at is not None
    clock.now = sandbox.app.followups_wake_at
    assert await sandbox.app.dispatch_followups() == 1
    nudge = await peer.wait_for(EN.nudge)
    assert EN.crisis_button in nudge.labels()
    await peer.press(nudge, EN.nudge_ok)
    assert EN.crisis_button in (await peer.wait_for(EN.nudge_ok_reply)).labels()
    await clinician.wait_for("they say they're OK.")


async def test_a_debrief_whose_clinician_leaves_keeps_a_crisis_button_and_finds_another(
    sandbox: Sandbox,
) -> None:
    """The clinician is revoked mid-debrief: the helper who asked is told at once, with a
    crisis button (they are still the one asking), and their debrief goes to another
    clinician."""
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    peer = await sandbox.join("Alex", Role.PEER)
    clinician = await sandbox.join("Casey", Role.CLINICIAN)
    other = await sandbox.join("Kit", Role.CLINICIAN)
    await peer.send("/debrief")
    await peer.press(await peer.wait_for(EN.debrief_prompt), EN.debrief_with_clinician)
    await clinician.press(await clinician.wait_for("New request: A debrief"), EN.offer_accept)
    await peer.wait_for("a clinician, is here for you")
    offered = len(other.inbox)

    casey = await member_of(sandbox, clinician)
    await coordinator.send(f"/revoke {casey.id}")
    told = await peer.wait_for(EN.helper_left)
    assert EN.crisis_button in told.labels()
    await other.wait_until(
        lambda: any("New request: A debrief" in m.text for m in other.inbox[offered:])
    )
