"""Signal end to end: the real signalbot against the local signal-cli-rest-api stand-in.

Every flow an officer or a helper has on Telegram, on Signal: join with the code alone, the
intake answered by numbers, offers answered by replying with a number, text and attachments
relayed both ways through memory, edits, deletions, two threads on one helper, hand-over, end
and rating.
"""

from __future__ import annotations

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import LocalSignalApi, SignalUser

INTAKE_QUESTION = "What's it mostly about?"


@pytest.fixture
def box(signal_sandbox: Sandbox) -> Sandbox:
    return signal_sandbox


def gateway(box: Sandbox) -> LocalSignalApi:
    assert box.signal is not None
    return box.signal


async def signal_intake(officer: SignalUser, *, note: str | None = None) -> None:
    """The intake answered with numbers, as Signal has no buttons."""
    await officer.send("talk")
    menu = await officer.wait_for(INTAKE_QUESTION)
    assert EN.signal_crisis_hint in menu.text
    await officer.press(menu, EN.category_critical_incident)
    who = await officer.wait_for(EN.intake_who)
    await officer.press(who, EN.who_peer)
    where = await officer.wait_for(EN.intake_outside)
    await officer.press(where, EN.outside_no)
    prompt = await officer.wait_for(EN.intake_note)
    if note is None:
        await officer.press(prompt, EN.note_skip)
    else:
        await officer.send(note)


async def test_join_with_the_code_alone_and_strangers_get_one_line(box: Sandbox) -> None:
    stranger = box.signal_person("Eve")
    await stranger.send("hello?")
    await stranger.wait_for(box.text().not_member)
    officer = await box.join_signal("Dana", Role.OFFICER)
    # "/start CODE" and "start CODE" work as well as the code alone.
    for first_words in ("/start {code}", "start {code}"):
        (code,) = await box.invite(Role.PEER)
        newcomer = box.signal_person("Kim")
        await newcomer.send(first_words.format(code=code.lower()))
        await newcomer.wait_for("Welcome to the team")
    await officer.send("/help")
    await officer.wait_for(EN.help_officer)
    await officer.send("Crisis")
    crisis = await officer.wait_for("COPLINE")
    assert "call 911" in crisis.text


async def test_a_member_who_sends_their_code_again_is_told_they_are_signed_up(
    box: Sandbox,
) -> None:
    """As after a welcome lost in a crash: the code again is not a message to nobody. Inside a
    conversation, code-shaped text is relayed like any other."""
    (code,) = await box.invite(Role.PEER)
    peer = box.signal_person("Alex")
    await peer.send(code)
    await peer.wait_for("Welcome")
    await peer.send(code)
    await peer.wait_for(EN.already_member)
    assert not any(EN.not_in_thread_helper in m.text for m in peer.inbox)
    await peer.send("available")
    await peer.wait_for("You're available")
    officer = await box.join_signal("Dana", Role.OFFICER)
    await signal_intake(officer)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    (other,) = await box.invite(Role.OFFICER)
    await peer.send(other)
    await officer.wait_for(other)


async def test_signal_officer_reaches_a_signal_peer(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await signal_intake(officer)
    offer = await peer.wait_for("New request: A critical incident")
    assert offer.labels() == [EN.offer_accept, EN.offer_decline, EN.offer_involved]
    await peer.press(offer, EN.offer_accept)
    await peer.wait_for("You're connected with")
    await officer.wait_for("is here for you")

    await officer.send("I keep seeing it when I close my eyes.")
    relayed = await peer.wait_for("I keep seeing it when I close my eyes.")
    assert "Dana" not in relayed.text
    answer = await peer.send("I'm here. Take your time.")
    await officer.wait_for("I'm here. Take your time.")
    # Quoting your own earlier message goes to its thread, like quoting the other side's.
    await peer.send("...and no rush.", reply_to=peer.sent_as_message(answer))
    await officer.wait_for("...and no rush.")
    # Only a command word alone is a command: "end it" is something a person says.
    await officer.send("Sometimes I want to end it")
    await peer.wait_for("Sometimes I want to end it")
    await officer.send("end it")
    await peer.wait_for("\nend it")

    await officer.send("end")
    await officer.wait_for(EN.thread_ended_by_you)
    await peer.wait_for("has closed the conversation")


async def connect_signal(officer: SignalUser, helper: SignalUser) -> None:
    await signal_intake(officer)
    offer = await helper.wait_for("New request")
    await helper.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    await helper.wait_for("You're connected with")


PHOTO = b"\x89PNG signal photo bytes"
VOICE = b"OggS a voice note"


async def test_attachments_go_both_ways_through_memory_and_leave_the_gateway(
    box: Sandbox,
) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect_signal(officer, peer)

    await officer.send_attachment(PHOTO, "image/png", caption="the scene", file_name="a.png")
    photo = await peer.wait_for("the scene")
    assert [(f.data, f.content_type) for f in photo.attachments] == [(PHOTO, "image/png")]
    assert "#" in photo.text.splitlines()[0]  # the alias header rides in the caption
    await peer.send_attachment(VOICE, "audio/ogg", voice_note=True)
    await officer.wait_until(lambda: any(m.attachments for m in officer.inbox))
    voice = next(m for m in officer.inbox if m.attachments)
    assert voice.attachments[0].data == VOICE
    # Relayed, then deleted from the gateway's attachment store.
    await gateway(box).wait_until(lambda: not gateway(box).attachments)

    # A sticker cannot be relayed; the sender is told.
    await officer.send_sticker()
    await officer.wait_for(EN.media_cannot_cross)
    assert box.directory.exists()
    on_disk = b"".join(p.read_bytes() for p in box.directory.rglob("*") if p.is_file())
    assert PHOTO not in on_disk and VOICE not in on_disk


async def test_edits_and_deletions_reach_the_copy(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect_signal(officer, peer)
    sent = await officer.send("I'm fine, really")
    relayed = await peer.wait_for("I'm fine, really")
    await officer.edit(sent, "I'm not fine, honestly")
    await peer.wait_until(lambda: relayed.text.endswith("I'm not fine, honestly"))
    assert relayed.edited

    oops = await peer.send("wrong chat, sorry")
    copy = await officer.wait_for("wrong chat, sorry")
    await peer.delete(oops)
    await officer.wait_until(lambda: copy.deleted)


async def test_two_threads_on_one_signal_helper_by_quotes(box: Sandbox) -> None:
    first = await box.join_signal("Dana", Role.OFFICER)
    second = await box.join_signal("Evan", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    await connect_signal(first, peer)
    await signal_intake(second)
    offer = await peer.wait_for("New request")  # the first offer now reads "connected"
    # Inside a conversation a bare number is the peer's to say: it goes to the officer.
    await peer.send("1")
    await first.wait_for("1")
    # A reply to the offer with its number answers the offer.
    await peer.press(offer, EN.offer_accept)
    await second.wait_for("is here for you")

    await first.send("message from the first officer")
    from_first = await peer.wait_for("message from the first officer")
    await second.send("message from the second officer")
    from_second = await peer.wait_for("message from the second officer")
    await peer.send("which of you gets this?")
    await peer.wait_for("You have 2 conversations open")
    await peer.send("answer for the first", reply_to=from_first)
    await first.wait_for("answer for the first")
    await peer.send("answer for the second", reply_to=from_second)
    await second.wait_for("answer for the second")
    assert not any("answer for the second" in t for t in first.texts())
    assert not any("which of you" in t for t in first.texts() + second.texts())

    # "end" with two open asks which one; the answer is a number.
    await peer.send("end")
    which = await peer.wait_for(EN.end_which)
    assert len(which.labels()) == 2
    await peer.press(which, which.labels()[0])
    await peer.wait_for(EN.thread_ended_by_you)


async def test_hand_over_end_and_rating_on_signal(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join_signal("Alex", Role.PEER)
    chaplain = await box.join_signal("Jordan", Role.CHAPLAIN)
    await connect_signal(officer, peer)
    await peer.send("/transfer")
    await peer.press(await peer.wait_for(EN.transfer_which), EN.transfer_to_chaplain)
    ask = await officer.wait_for("suggests handing this conversation over to a chaplain")
    await officer.press(ask, EN.transfer_yes)
    offer = await chaplain.wait_for("New request")
    await chaplain.press(offer, EN.offer_accept)
    await officer.wait_for("a chaplain, is here for you")
    await peer.wait_for("You've left the conversation")
    await officer.send("now with the chaplain")
    await chaplain.wait_for("now with the chaplain")

    await chaplain.send("/end")
    prompt = await officer.wait_for(EN.rate_prompt)
    assert prompt.labels()[:5] == ["1", "2", "3", "4", "5"]
    # The check-in offer (its own numbered options) follows the rating prompt at once, so a
    # bare number would race it: replying to the prompt says which options "4" answers.
    await officer.press(prompt, "4")
    helped = await officer.wait_for(EN.helped_prompt)
    await officer.press(helped, EN.helped_yes)
    await officer.wait_for(EN.rating_thanks)
    assert box.app is not None and box.app.repo is not None
    assert await box.app.repo.ratings() == [(4, "yes")]
