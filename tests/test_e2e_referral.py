"""Referral when it repeats: the same officer back about the same topic is counted in their
sealed record, and at the configured count the helper is prompted to suggest a clinician; the
clinician hand-over runs end to end."""

from __future__ import annotations

import contextlib
import sqlite3

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage, SimUser
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION


async def latest(user: SimUser, contains: str, since: int) -> BotMessage:
    """The newest message containing `contains` among those from `since` on (menus repeat)."""
    await user.wait_until(lambda: any(contains in m.text for m in user.inbox[since:]))
    return next(m for m in reversed(user.inbox[since:]) if contains in m.text)


def _next_step(message: BotMessage) -> bool:
    return EN.intake_note in message.text or EN.again_no in message.labels()


async def talk_about_an_incident(officer: SimUser, peer: SimUser) -> None:
    mark, peer_mark = len(officer.inbox), len(peer.inbox)
    await officer.send("/talk")
    await officer.press(
        await latest(officer, INTAKE_QUESTION, mark), EN.category_critical_incident
    )
    await officer.press(await latest(officer, EN.intake_who, mark), EN.who_peer)
    after = len(officer.inbox)
    await officer.press(await latest(officer, EN.intake_outside, mark), EN.outside_no)
    await officer.wait_until(lambda: any(_next_step(m) for m in officer.inbox[after:]))
    again = [m for m in officer.inbox[after:] if EN.again_no in m.labels()]
    if again:  # "the same person as last time?" from the second time on
        await officer.press(again[0], EN.again_no)
    await officer.press(await latest(officer, EN.intake_note, mark), EN.note_skip)
    await peer.press(await latest(peer, "New request", peer_mark), EN.offer_accept)
    await latest(officer, "is here for you", mark)


async def test_the_third_time_on_a_topic_prompts_a_clinician_hand_over(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    for _ in range(2):
        await talk_about_an_incident(officer, peer)
        mark = len(officer.inbox)
        await officer.send("/end")
        await latest(officer, EN.rate_prompt, mark)
    assert not any("come back about" in t for t in peer.texts())
    clinician = await sandbox.join("Casey", Role.CLINICIAN)
    await talk_about_an_incident(officer, peer)
    prompt = await peer.wait_for("come back about a critical incident 3 times")
    assert "Dana" not in prompt.text and prompt.labels() == [EN.referral_button]
    # The count lives in the officer's sealed record: nothing in clear names the topic.
    with contextlib.closing(sqlite3.connect(sandbox.directory / "peerline.db")) as raw:
        (sealed,) = raw.execute("SELECT private_ct FROM members WHERE role = 'officer'")
    assert sealed[0] is not None and b"critical" not in sealed[0]

    await peer.press(prompt, EN.referral_button)
    ask = await officer.wait_for("suggests handing this conversation over to a clinician")
    await officer.press(ask, EN.transfer_yes)
    offer = await clinician.wait_for("New request")
    await clinician.press(offer, EN.offer_accept)
    await officer.wait_for("a clinician, is here for you")
    await peer.wait_for("is now with a clinician")
    await officer.send("thank you for seeing me")
    await clinician.wait_for("thank you for seeing me")
    # The clinician is never prompted to refer to a clinician.
    assert not any("come back about" in t for t in clinician.texts())
    assert sandbox.app is not None and sandbox.app.repo is not None
    metrics = await sandbox.app.repo.metrics()
    assert [(m.handover, m.referral) for m in metrics][-1] == (True, True)
