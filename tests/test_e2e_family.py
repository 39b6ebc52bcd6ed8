"""Families and retirees end to end: a spouse on Telegram (the real PTB) and a retiree on Signal
(the real signalbot) ask like officers and reach only helpers who chose to support them."""

from __future__ import annotations

from datetime import timedelta

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_routing import tick
from tests.test_e2e_signal import box
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION

__all__ = ["box"]  # the Signal sandbox fixture, shared with test_e2e_signal


async def support(helper: SimUser | SignalUser, label: str) -> None:
    """The helper switches on a support choice in /topics."""
    await helper.send("/topics")
    if isinstance(helper, SimUser):
        await helper.press(await helper.wait_for(EN.topics_prompt), label)
    else:
        await helper.press(await helper.wait_for(EN.topics_prompt), label)
    await helper.wait_until(lambda: EN.topic_on.format(label=label) in helper.inbox[-1].labels())


async def test_a_spouse_reaches_only_a_helper_who_chose_families_outside_the_agency(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    untouched = [
        await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO"),  # did not choose
        await sandbox.join("Jordan", Role.CHAPLAIN, agency="Capital City PD"),  # did not choose
    ]
    colleague = await sandbox.join("Blake", Role.PEER, agency="Springfield PD")
    await support(colleague, EN.support_family)  # chose, but works at the officer's agency
    untouched.append(colleague)
    casey = await sandbox.join("Casey", Role.PEER, agency="Capital City PD")
    await support(casey, EN.support_family)

    # Offers are edited once taken or expired: count messages, not what they say now.
    seen = [len(helper.inbox) for helper in untouched]
    spouse = await sandbox.join("Dana", Role.FAMILY, agency="Springfield PD")
    welcome = next(m for m in spouse.inbox if "Welcome" in m.text)
    assert welcome.text == sandbox.text().welcome_officer
    await spouse.send("/talk")
    intake = await spouse.wait_for(INTAKE_QUESTION)
    await spouse.press(intake, EN.category_relationships)
    await spouse.press(await spouse.wait_for(EN.intake_who), EN.who_either)
    # No "outside my agency?" question: a spouse's request always leaves the officer's agency.
    await spouse.press(await spouse.wait_for(EN.intake_note), EN.note_skip)
    assert not any(EN.intake_outside in t for t in spouse.texts())

    offer = await casey.wait_for("New request: Family or relationship")
    assert EN.offer_asker_family.format(who=EN.who_phrase_either) in offer.text
    # Timeouts, a second round and the widening never bring anyone else in.
    for minutes in (3, 7, 5):
        clock.advance(timedelta(minutes=minutes, seconds=1))
        await tick(sandbox)
    await spouse.wait_for(EN.status_paged)
    offer = casey.inbox[-1]
    assert "New request" in offer.text
    await casey.press(offer, EN.offer_accept)
    await spouse.wait_for("a trained peer, is here for you")
    await spouse.send("He hasn't slept since the shooting.")
    relayed = await casey.wait_for("He hasn't slept since the shooting.")
    assert "Dana" not in relayed.text
    await casey.send("Thank you for telling me. How are you holding up?")
    await spouse.wait_for("How are you holding up?")
    await spouse.send("/end")
    await spouse.wait_for(EN.thread_closed_officer[:40])
    await casey.wait_for("has closed the conversation")

    assert [len(helper.inbox) for helper in untouched] == seen
    assert sandbox.app is not None and sandbox.app.repo is not None
    (metrics,) = await sandbox.app.repo.metrics()
    assert metrics.asker == "family" and metrics.outcome == "matched"


async def test_a_retiree_on_signal_reaches_a_helper_who_chose_retirees(box: Sandbox) -> None:
    other = await box.join_signal("Blake", Role.PEER, agency="Shelbyville SO")
    await support(other, EN.support_family)  # families only: not retirees
    alex = await box.join_signal("Alex", Role.PEER, agency="Capital City PD")
    await support(alex, EN.support_retiree)

    seen = len(other.inbox)
    retiree = await box.join_signal("Dana", Role.RETIREE, agency="Springfield PD")
    await retiree.send("talk")
    menu = await retiree.wait_for(INTAKE_QUESTION)
    assert EN.signal_crisis_hint in menu.text
    await retiree.press(menu, EN.category_stress)
    await retiree.press(await retiree.wait_for(EN.intake_who), EN.who_peer)
    # A retiree chooses, as an officer does: their former agency is the one compared.
    await retiree.press(await retiree.wait_for(EN.intake_outside), EN.outside_yes)
    await retiree.press(await retiree.wait_for(EN.intake_note), EN.note_skip)

    offer = await alex.wait_for("New request: Stress or burnout")
    assert EN.offer_asker_retiree.format(who=EN.who_phrase_peer) in offer.text
    await alex.press(offer, EN.offer_accept)
    await retiree.wait_for("a trained peer, is here for you")
    await retiree.send("Thirty years in and now the quiet is the hard part.")
    await alex.wait_for("now the quiet is the hard part")
    await alex.send("That's a big change. Tell me about a normal day now.")
    await retiree.wait_for("Tell me about a normal day now.")
    await retiree.send("end")
    await retiree.wait_for(EN.thread_closed_officer[:40])

    assert len(other.inbox) == seen
    assert box.app is not None and box.app.repo is not None
    (metrics,) = await box.app.repo.metrics()
    assert metrics.asker == "retiree"
