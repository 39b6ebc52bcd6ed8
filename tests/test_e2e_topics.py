"""The topics officers can name and helpers can choose, end to end."""

from __future__ import annotations

from bot.catalog import EN
from bot.model import Category, Role
from bot.sandbox.harness import Sandbox
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION


async def test_money_worries_go_first_to_a_peer_who_chose_them(sandbox: Sandbox) -> None:
    others = [await sandbox.join(name, Role.PEER) for name in ("Alex", "Blake", "Casey")]
    chosen = await sandbox.join("Drew", Role.PEER)
    await chosen.send("/topics")
    menu = await chosen.wait_for(EN.topics_prompt)
    assert EN.category_faith in menu.labels() and EN.category_money in menu.labels()
    await chosen.press(menu, EN.category_money)
    await chosen.wait_until(
        lambda: EN.topic_on.format(label=EN.category_money) in chosen.inbox[-1].labels()
    )
    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("/talk")
    intake = await officer.wait_for(INTAKE_QUESTION)
    assert EN.category_money in intake.labels() and EN.category_faith in intake.labels()
    await officer.press(intake, EN.category_money)
    await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
    await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_no)
    await officer.press(await officer.wait_for(EN.intake_note), EN.note_skip)
    offer = await chosen.wait_for("New request: Money worries")
    await chosen.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    # Three slots: the one who chose the topic ranked first, then two of the others (whose
    # offers are now edited to "taken").
    await others[1].wait_until(lambda: EN.offer_taken in others[1].texts())
    assert sum(EN.offer_taken in peer.texts() for peer in others) == 2
    assert sandbox.app is not None and sandbox.app.repo is not None
    (metrics,) = await sandbox.app.repo.metrics()
    assert metrics.category is Category.MONEY
