"""The whole path once, over the real wire: invite, join, ask, offer, accept, talk, end.

The real python-telegram-bot polls the local Bot API on 127.0.0.1; three people use it.
"""

from __future__ import annotations

from datetime import timedelta

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock

INTAKE_QUESTION = "What's it mostly about?"


async def ask_for_peer(
    officer: SimUser, *, outside: bool = True, note: str | None = None, who: str = EN.who_peer
) -> None:
    """The officer's intake: topic, who, outside the agency, and the optional note."""
    await officer.send("/talk")
    menu = await officer.wait_for(INTAKE_QUESTION)
    await officer.press(menu, EN.category_critical_incident)
    question = await officer.wait_for(EN.intake_who)
    await officer.press(question, who)
    where = await officer.wait_for(EN.intake_outside)
    await officer.press(where, EN.outside_yes if outside else EN.outside_no)
    prompt = await officer.wait_for(EN.intake_note)
    if note is None:
        await officer.press(prompt, EN.note_skip)
    else:
        await officer.send(note)


async def test_officer_reaches_a_peer_and_they_talk(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peer_a = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    peer_b = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    same_agency_peer = await sandbox.join("Casey", Role.PEER, agency="springfield pd")

    await ask_for_peer(officer, outside=True)
    status = await officer.wait_for("We're finding a peer for you now")
    assert "30 minutes" in status.text
    assert EN.crisis_button in status.labels()

    offer_a = await peer_a.wait_for("New request: A critical incident")
    offer_b = await peer_b.wait_for("New request: A critical incident")
    assert offer_a.labels() == [EN.offer_accept, EN.offer_decline, EN.offer_involved]
    assert "Dana" not in offer_a.text
    # "Outside my agency": the peer from the officer's own agency is never offered it.
    assert not any("New request" in text for text in same_agency_peer.texts())

    await peer_a.press(offer_a, EN.offer_accept)
    connected = await peer_a.wait_for("You're connected with")
    await peer_b.wait_for(EN.offer_taken)
    assert offer_b.edited
    assert offer_b.buttons == []
    opened = await officer.wait_for("is here for you")
    # Short: the confidentiality sentence came before the first question (and /privacy).
    assert len(opened.text) < 160
    intake = next(m for m in officer.inbox if INTAKE_QUESTION in m.text)
    assert intake.text.index("/privacy") < intake.text.index(INTAKE_QUESTION)

    # Text relayed both ways under pseudonyms: no names, no accounts.
    await officer.send("I keep seeing it when I close my eyes.")
    relayed = await peer_a.wait_for("I keep seeing it when I close my eyes.")
    alias_line = relayed.text.splitlines()[0]
    assert alias_line.split(" #")[0] in connected.text
    assert "Dana" not in relayed.text
    assert str(officer.user_id) not in relayed.text
    assert relayed.copied_from is None  # a new message, not a forward that would leak

    await peer_a.send("I'm here. Take your time.")
    answer = await officer.wait_for("I'm here. Take your time.")
    assert "Alex" not in answer.text
    assert str(peer_a.user_id) not in answer.text
    assert answer.text.splitlines()[0].endswith(":")

    await officer.send("/end")
    await officer.wait_for(EN.thread_ended_by_you)
    await peer_a.wait_for("has closed the conversation")
    assert sandbox.app is not None
    assert sandbox.app.repo is not None
    assert await sandbox.app.repo.live_threads() == []

    # After the end nothing is relayed any more.
    await peer_a.send("are you still there?")
    await peer_a.wait_for(EN.not_in_thread_helper)
    assert not any("are you still there?" in text for text in officer.texts())


async def test_strangers_get_one_neutral_line(sandbox: Sandbox) -> None:
    stranger = sandbox.person("Eve")
    for attempt in ("hello?", "/help", "/talk", "/start", "/start NOT-A-REAL-CODE"):
        await stranger.send(attempt)
    text = sandbox.text()
    await stranger.wait_for(text.invite_bad)  # the last event: every earlier one was handled
    await stranger.wait_for_count(2)
    # One neutral line per window, however often they write; a code try is still answered.
    assert sorted(stranger.texts()) == sorted([text.not_member, text.invite_bad])
    assert all(message.buttons == [] for message in stranger.inbox)
    assert sandbox.app is not None and sandbox.app.dispatcher is not None
    assert sandbox.app.dispatcher.strangers.suppressed == 3


async def test_a_code_works_once(sandbox: Sandbox) -> None:
    (code,) = await sandbox.invite(Role.OFFICER)
    first, second = sandbox.person("First"), sandbox.person("Second")
    await first.send(f"/start {code.lower().replace('-', ' ')}")
    await first.wait_for("Welcome")
    await second.send(f"/start {code}")
    await second.wait_for(sandbox.text().invite_bad)
    await first.send(f"/start {code}")
    await first.wait_for(EN.already_member)


async def test_wrong_used_and_expired_codes_get_one_identical_answer(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    used, expiring = await sandbox.invite(Role.OFFICER, count=2)
    await sandbox.join("Dana", Role.OFFICER)
    owner = sandbox.person("Owner")
    await owner.send(f"/start {used}")
    await owner.wait_for("Welcome")
    clock.advance(timedelta(days=8))
    tries = sandbox.person("Eve")
    for attempt in (used, expiring, "2345-6789-ABCD-EFGH-JKMN"):
        await tries.send(f"/start {attempt}")
    await tries.wait_for_count(3)
    assert tries.texts() == [sandbox.text().invite_bad] * 3


async def test_a_revoked_member_gets_the_stranger_line_whatever_code_they_send(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    (fresh,) = await sandbox.invite(Role.PEER)
    assert sandbox.app is not None and sandbox.app.repo is not None
    (member,) = await sandbox.app.repo.all_members()
    assert await sandbox.app.repo.set_active(member.id, False)
    before = len(officer.inbox)
    for attempt in ("/start", f"/start {fresh}", "/start NOT-A-CODE", "/talk"):
        await officer.send(attempt)
    await officer.wait_for_count(before + 4)
    assert officer.texts()[before:] == [sandbox.text().not_member] * 4
    # The fresh code was not spent on them: someone else can still use it.
    newcomer = sandbox.person("New")
    await newcomer.send(f"/start {fresh}")
    await newcomer.wait_for("Welcome to the team")


async def test_help_matches_the_role(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await officer.send("/help")
    await officer.wait_for(EN.help_officer)
    await peer.send("/help")
    await peer.wait_for(EN.help_helper)
    await officer.send("/available")
    await officer.wait_for(EN.not_for_role)
    await officer.send("/crisis")
    crisis = await officer.wait_for("COPLINE")
    assert "call 911" in crisis.text


async def test_forged_and_foreign_button_data_is_refused(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request")
    accept_data = offer.buttons[0][0][1]

    # The officer replays the peer's Accept button: signed for someone else, so refused.
    await officer.press_data(accept_data)
    await officer.wait_for(EN.choice_expired)
    # Made-up data, and a tampered request id.
    await peer.press_data("acc:r0000000000000000.AAAAAAAAAAAA")
    await peer.press_data(accept_data.replace("acc:r", "acc:x"))
    await peer.wait_for_count(len(peer.inbox) + 2)
    assert peer.texts()[-2:] == [EN.choice_expired, EN.choice_expired]
    # The real button still works afterwards.
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")


async def test_choices_can_be_answered_by_number(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await officer.send("/talk")
    await officer.wait_for(INTAKE_QUESTION)
    await officer.send("6")  # after "I'm not safe right now" and four topics: "Stress or burnout"
    await officer.wait_for(EN.intake_who)
    await officer.send("1")
    await officer.wait_for(EN.intake_outside)
    await officer.send("2")
    await officer.wait_for(EN.intake_note)
    await officer.send("1")  # Skip
    await officer.wait_for("We're finding a peer")
    offer = await peer.wait_for("New request: Stress or burnout")
    assert offer.labels() == [EN.offer_accept, EN.offer_decline, EN.offer_involved]


async def test_nobody_available_is_never_silence(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    await sandbox.join("Alex", Role.PEER, available=False)
    await ask_for_peer(officer)
    await officer.wait_for(EN.status_none_free)
    page = await coordinator.wait_for("A request has waited 0 minutes: A critical incident")
    assert "Dana" not in page.text
