"""Threads across platforms: an officer on Signal with a peer on Telegram, and the reverse.

Text, media (read into memory from one platform and sent to the other), edits and deletions
cross as far as both sides allow; what cannot cross (a sticker) gets a plain notice.
"""

from __future__ import annotations

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from bot.sandbox.telegram_api import SimUser
from tests.test_e2e_signal import signal_intake
from tests.test_e2e_walking_skeleton import ask_for_peer

PHOTO = b"\xff\xd8\xff cross-platform photo"
VOICE = b"OggS cross-platform voice"


@pytest.fixture
def box(signal_sandbox: Sandbox) -> Sandbox:
    return signal_sandbox


async def test_signal_officer_with_a_telegram_peer(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    peer = await box.join("Alex", Role.PEER)
    await signal_intake(officer)
    offer = await peer.wait_for("New request: A critical incident")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")

    # Text both ways.
    sent = await officer.send("It happened on the night shift.")
    relayed = await peer.wait_for("It happened on the night shift.")
    await peer.send("I'm listening.")
    answer = await officer.wait_for("I'm listening.")
    assert "Alex" not in answer.text

    # An edit on Signal edits the Telegram copy; a deletion on Signal deletes it.
    await officer.edit(sent, "It happened on the day shift.")
    await peer.wait_for("It happened on the day shift.")
    assert relayed.edited
    await officer.delete(sent)
    await peer.wait_until(lambda: all(m.message_id != relayed.message_id for m in peer.inbox))

    # A Signal photo arrives on Telegram as a photo, the bytes intact, the caption carried.
    await officer.send_attachment(PHOTO, "image/jpeg", caption="the car")
    photo = await peer.wait_for("the car")
    assert photo.media_kind == "photo" and photo.data == PHOTO
    # A Signal voice note arrives as a Telegram voice message.
    await officer.send_attachment(VOICE, "audio/ogg", voice_note=True)
    await peer.wait_until(lambda: any(m.media_kind == "voice" for m in peer.inbox))
    assert next(m for m in peer.inbox if m.media_kind == "voice").data == VOICE

    # A Telegram photo arrives on Signal as an attachment; an edit of its caption follows.
    photo_id = await peer.send_media("photo", caption="look at this", data=PHOTO)
    copy = await officer.wait_for("look at this")
    assert [f.data for f in copy.attachments] == [PHOTO]
    await peer.edit(photo_id, "look at this one")
    await officer.wait_until(lambda: copy.text.endswith("look at this one"))
    # A sticker cannot cross: the sender is told, the officer sees nothing.
    await peer.send_media("sticker")
    await peer.wait_for(EN.media_cannot_cross)

    await officer.send("end")
    await officer.wait_for(EN.thread_ended_by_you)
    await peer.wait_for("has closed the conversation")


async def test_telegram_officer_with_a_signal_peer(box: Sandbox) -> None:
    officer: SimUser = await box.join("Dana", Role.OFFICER)
    peer: SignalUser = await box.join_signal("Alex", Role.PEER)
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request: A critical incident")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")

    await officer.send("Can we talk about last night?")
    relayed = await peer.wait_for("Can we talk about last night?")
    assert relayed.text.splitlines()[0].endswith(":")  # the alias header, never a name
    first = await peer.send("Of course.", reply_to=relayed)
    copy = await officer.wait_for("Of course.")
    await peer.edit(first, "Of course. Take your time.")
    await officer.wait_for("Of course. Take your time.")
    assert copy.edited

    await officer.send_media("document", caption="the report", data=b"%PDF report")
    document = await peer.wait_for("the report")
    assert [f.data for f in document.attachments] == [b"%PDF report"]
    await peer.send_attachment(PHOTO, "image/jpeg")
    await officer.wait_until(lambda: any(m.media_kind == "photo" for m in officer.inbox))
    assert next(m for m in officer.inbox if m.media_kind == "photo").data == PHOTO
    await officer.send_media("location")
    await officer.wait_for(EN.media_cannot_cross)

    await peer.send("end")
    await peer.wait_for(EN.thread_ended_by_you)
    await officer.wait_for(EN.rate_prompt)
