"""Relay threads in depth, over the real PTB: media both ways by copyMessage, several threads
on one helper, ambiguous replies refused, edits, hand-over with consent, rating, nicknames."""

from __future__ import annotations

import asyncio

import pytest

from bot.catalog import EN
from bot.events import MEDIA_KINDS
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage, SimUser
from tests.conftest import FakeClock
from tests.test_e2e_walking_skeleton import ask_for_peer

MEDIA = list(MEDIA_KINDS)


async def connect(sandbox: Sandbox, officer: SimUser, peer: SimUser) -> BotMessage:
    """The officer asks; `peer` accepts. Returns the peer's "connected" message."""
    await ask_for_peer(officer, outside=False)
    offer = await peer.wait_for("New request")
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")
    return await peer.wait_for("You're connected with")


def copies(user: SimUser) -> list[BotMessage]:
    return [m for m in user.inbox if m.copied_from is not None]


@pytest.mark.parametrize("kind", MEDIA)
async def test_each_media_kind_is_copied_both_ways_without_a_forward_header(
    sandbox: Sandbox, kind: str
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)

    sent = await officer.send_media(kind, caption="from the officer" if kind == "photo" else None)
    await peer.wait_until(lambda: bool(copies(peer)))
    (copy,) = copies(peer)
    assert copy.media_kind == kind
    assert copy.copied_from == (officer.user_id, sent)
    # The alias header rides in the caption, or just before media that has none.
    header = copy.text if copy.text else peer.inbox[-2].text
    assert "#" in header and "Dana" not in header
    if kind == "photo":
        assert copy.text.endswith("from the officer")
    raw = sandbox.api.raw_message(peer.user_id, copy.message_id)
    assert not any(key.startswith("forward") for key in raw)

    await peer.send_media(kind)
    await officer.wait_until(lambda: bool(copies(officer)))
    assert copies(officer)[0].media_kind == kind


async def test_two_threads_on_one_helper_go_where_the_reply_points(sandbox: Sandbox) -> None:
    first = await sandbox.join("Dana", Role.OFFICER)
    second = await sandbox.join("Evan", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    connected_1 = await connect(sandbox, first, peer)
    await ask_for_peer(second, outside=False)
    offer = await peer.wait_for("New request")  # the first offer now reads "connected"
    await peer.press(offer, EN.offer_accept)
    await second.wait_for("is here for you")
    assert connected_1.text != peer.last.text

    await first.send("message from the first officer")
    from_first = await peer.wait_for("message from the first officer")
    await second.send("message from the second officer")
    from_second = await peer.wait_for("message from the second officer")
    assert from_first.text.split(":")[0] != from_second.text.split(":")[0]  # different tags

    # A plain message with two threads open could be meant for either: refused, not guessed.
    await peer.send("which of you gets this?")
    refusal = await peer.wait_for("You have 2 conversations open")
    assert "was not sent" in refusal.text
    await asyncio.sleep(0.1)
    assert not any("which of you" in t for t in first.texts() + second.texts())

    # A reply to a relayed message goes to that message's thread.
    await peer.send("answer for the first", reply_to=from_first)
    await first.wait_for("answer for the first")
    await peer.send("answer for the second", reply_to=from_second)
    await second.wait_for("answer for the second")
    assert not any("answer for the second" in t for t in first.texts())

    # /switch chooses a thread for plain messages until the other one speaks up.
    tag = from_second.text.split("#")[1].split(":")[0]
    await peer.send(f"/switch {tag}")
    await peer.wait_for("Now talking with")
    await peer.send("plain, to the second")
    await second.wait_for("plain, to the second")
    await first.send("me again")
    await peer.wait_for("me again")
    await peer.send("and now?")
    await peer.wait_for_count(len(peer.inbox) + 1)
    assert "conversations open" in peer.last.text
    await peer.send("/threads")
    listing = await peer.wait_for("Your open conversations")
    assert tag in listing.text

    # /end with two open asks which one.
    await peer.send("/end")
    which = await peer.wait_for(EN.end_which)
    assert len(which.labels()) == 2


async def test_edits_are_relayed_to_the_copy(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    sent = await officer.send("I'm fine, really")
    relayed = await peer.wait_for("I'm fine, really")
    await officer.edit(sent, "I'm not fine, honestly")
    await peer.wait_for("I'm not fine, honestly")
    assert relayed.edited and relayed.text.endswith("I'm not fine, honestly")

    photo = await peer.send_media("photo", caption="old caption")
    await officer.wait_until(lambda: bool(copies(officer)))
    await peer.edit(photo, "new caption")
    await officer.wait_for("new caption")

    # An edit of something never relayed gets a clear answer.
    before = await officer.send("/help")
    await officer.wait_for(EN.help_officer)
    await officer.edit(before, "/help me")
    await officer.wait_for(EN.edit_not_relayed)


async def test_hand_over_to_a_chaplain_with_the_officers_consent(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    await connect(sandbox, officer, peer)

    # Refused: nothing moves.
    await peer.send("/transfer")
    await peer.press(await peer.wait_for(EN.transfer_which), EN.transfer_to_chaplain)
    await peer.wait_for(EN.transfer_asked)
    ask = await officer.wait_for("suggests handing this conversation over to a chaplain")
    await officer.press(ask, ask.labels()[1])
    await peer.wait_for("would like to stay with you")
    await asyncio.sleep(0.1)
    assert not any("New request" in t for t in chaplain.texts())

    # Accepted: the chaplain is found by routing; the peer stays until they pick up.
    await peer.send("/transfer")
    await peer.press(
        next(m for m in reversed(peer.inbox) if m.text == EN.transfer_which),
        EN.transfer_to_chaplain,
    )
    await officer.wait_until(lambda: sum("suggests" in t for t in officer.texts()) == 2)
    ask_message = next(m for m in reversed(officer.inbox) if "suggests" in m.text)
    await officer.press(ask_message, EN.transfer_yes)
    await peer.wait_for("You stay with them until a chaplain picks up")
    offer = await chaplain.wait_for("New request")
    await officer.send("still with the peer for now")
    await peer.wait_for("still with the peer for now")
    await chaplain.press(offer, EN.offer_accept)
    await officer.wait_for("a chaplain, is here for you")
    await peer.wait_for("You've left the conversation")
    await officer.send("now with the chaplain")
    await chaplain.wait_for("now with the chaplain")
    assert not any("now with the chaplain" in t for t in peer.texts())
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert len(await sandbox.app.repo.live_threads()) == 1


async def test_rating_keeps_only_numbers(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    await peer.send("/end")
    prompt = await officer.wait_for(EN.rate_prompt)
    assert prompt.labels()[:5] == ["1", "2", "3", "4", "5"]
    await officer.press(prompt, "4")
    helped = await officer.wait_for(EN.helped_prompt)
    await officer.press(helped, EN.helped_yes)
    await officer.wait_for(EN.rating_thanks)
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.ratings() == [(4, "yes")]


async def test_a_stable_nickname_when_the_officer_wants_one(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await officer.send("/nickname")
    chosen = await officer.wait_for("same nickname each time")
    alias = chosen.text.split("each time: ")[1].split(".")[0]
    for _ in range(2):
        connected = await connect(sandbox, officer, peer)
        assert alias in connected.text
        await officer.send("/end")
        await peer.wait_for("has closed the conversation")
        peer.inbox.clear()


async def test_the_relay_hot_path_writes_nothing_to_disk(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    database = sandbox.directory / "peerline.db"
    wal = database.with_name("peerline.db-wal")
    before = (repo.total_changes, database.stat().st_mtime_ns, wal.stat().st_size)
    for n in range(20):
        await officer.send(f"message {n}")
        await peer.send(f"answer {n}")
    await officer.wait_for("answer 19")
    await peer.wait_for("message 19")
    after = (repo.total_changes, database.stat().st_mtime_ns, wal.stat().st_size)
    assert after == before


async def test_an_update_delivered_twice_is_relayed_once(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    sent = await officer.send("only once, please")
    await peer.wait_for("only once, please")
    raw = sandbox.api.raw_message(officer.user_id, sent)
    await sandbox.api.push_update({"message": raw})  # the platform re-delivers it
    await officer.send("and then this")
    await peer.wait_for("and then this")
    assert sum("only once, please" in t for t in peer.texts()) == 1


async def test_a_429_storm_keeps_order_and_loses_nothing(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    for _ in range(2):
        sandbox.api.fail_next(
            "sendMessage",
            status=429,
            description="Too Many Requests: retry after 1",
            retry_after=1,
        )
        sandbox.api.fail_next("sendMessage", status=502, description="Bad Gateway")
    for n in range(8):
        await officer.send(f"storm {n}")
    await peer.wait_for("storm 7", timeout=20)
    relayed = [t.split("\n", 1)[1] for t in peer.texts() if "storm " in t]
    assert relayed == [f"storm {n}" for n in range(8)]
    assert not any(EN.not_delivered in t for t in officer.texts())


async def test_on_call_hours_topics_and_time_zone(sandbox: Sandbox, clock: FakeClock) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    night = await sandbox.join("Alex", Role.PEER, available=False)
    await night.send("/hours mon-sun 20:00-02:00")
    await night.wait_for("Requests can come to you in these hours")
    await night.send("/timezone America/Chicago")
    await night.wait_for("Your time zone is now America/Chicago")
    await night.send("/topics")
    topics = await night.wait_for(EN.topics_prompt)
    await night.press(topics, EN.category_critical_incident)
    await night.wait_until(lambda: any("\u2713" in label for label in night.last.labels()))
    # 03:00 UTC is 21:00 in Chicago: inside the hours, so the offer comes without /available.
    await ask_for_peer(officer, outside=False)
    await night.wait_for("New request")
    await night.send("/hours nonsense")
    await night.wait_for("I couldn't read")


async def test_a_long_emoji_message_arrives_whole(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    await connect(sandbox, officer, peer)
    await officer.send("\U0001f622" * 2500 + " END")  # 5,000 UTF-16 units
    await peer.wait_for("END")
    pieces = [m.text.split("\n", 1)[1] for m in peer.inbox if "\U0001f622" in m.text]
    assert "".join(pieces).replace(" ", "") == "\U0001f622" * 2500 + "END"
