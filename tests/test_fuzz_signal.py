"""Fuzz, Signal: Hypothesis sends arbitrary envelopes from every role and from strangers over
the local signal-cli-rest-api websocket to the real `signalbot.parse`, while one conversation
is live.

Each example is a few people doing anything: any Unicode, huge and blank texts, commands with
and without the slash and with junk after them, bare numbers and code-like words, quotes of
messages that never existed, stickers, attachments of any type (and ones the gateway no longer
has), edits and deletions of their own and of unknown messages, and envelopes with no data
message (receipts, typing, a sync from another device, calls, stories), reactions, group
messages (v1 and v2), payments, mentions, unknown fields, frames that are not JSON or name
nobody. The properties are those of the Telegram fuzz (tests/test_fuzz_telegram.py): no
crash, no unauthorized action, strangers learn nothing, the live conversation still relays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalMessage, SignalUser
from tests.conftest import FakeClock, checked
from tests.fuzzing import (
    COMMANDS,
    FUZZ,
    SIGNAL_TEXT_LIMIT,
    SWEEPING,
    Act,
    Cast,
    Person,
    address_of,
    cast_of,
    command_lines,
    neutral_lines,
    play,
    recording,
    settle,
    signal_oddities,
    texts,
)
from tests.test_e2e_signal import connect_signal

pytestmark = pytest.mark.security

EXAMPLES = 30
SOAK_EXAMPLES = 1000
STRANGER_EXAMPLES = 15
CONTENT_TYPES = (
    "image/png",
    "image/gif",
    "audio/aac",
    "video/mp4",
    "application/pdf",
    "text/x-signal-plain",  # Signal's own "long text" attachment
    "application/x-unknown",
    "",
)


acts = st.one_of(
    st.builds(Act, st.just("text"), texts(SIGNAL_TEXT_LIMIT)),
    st.builds(Act, st.just("command"), command_lines(COMMANDS)),
    st.builds(Act, st.just("word"), st.sampled_from(COMMANDS).map(str.title)),
    st.builds(Act, st.just("quote"), texts(300), st.integers(0, 10**6)),
    st.builds(Act, st.just("edit"), texts(300), st.integers(0, 10**6)),
    st.builds(Act, st.just("delete"), st.just(""), st.integers(0, 10**6)),
    st.builds(Act, st.just("sticker")),
    st.builds(Act, st.just("attachment"), texts(200), st.integers(0, 10**6)),
    st.builds(Act, st.just("odd"), texts(200), st.integers(0, 10**6)),
)


@pytest.fixture
def box(signal_sandbox: Sandbox) -> Sandbox:
    return signal_sandbox


@pytest.fixture
async def cast(box: Sandbox) -> AsyncIterator[Cast]:
    with recording() as log:
        assert box.app is not None and box.app.repo is not None and box.signal is not None
        repo = box.app.repo
        dana = await box.join_signal("Dana", Role.OFFICER)
        alex = await box.join_signal("Alex", Role.PEER)
        await connect_signal(dana, alex)
        await alex.send("/load 1")  # offers (which quote officers' notes) go to others
        await alex.wait_for("Up to 1 conversation")
        (thread,) = await repo.live_threads()
        rory = await box.join_signal("Rory", Role.OFFICER)
        revoked = await repo.member_by_address(address_of(rory))
        assert revoked is not None and await repo.set_active(revoked.id, False)
        people = {
            "Dana": (Person("Dana", "officer", party=True), dana),
            "Alex": (Person("Alex", "peer", party=True), alex),
            "Evan": (Person("Evan", "officer"), await box.join_signal("Evan", Role.OFFICER)),
            "Blake": (
                Person("Blake", "peer"),
                await box.join_signal("Blake", Role.PEER, available=False),
            ),
            "Morgan": (
                Person("Morgan", "coordinator"),
                await box.join_signal("Morgan", Role.COORDINATOR),
            ),
            "Fay": (
                Person("Fay", "family"),
                await box.join_signal("Fay", Role.FAMILY, agency="Metro PD"),
            ),
            "Ray": (
                Person("Ray", "retiree"),
                await box.join_signal("Ray", Role.RETIREE, agency="Metro PD"),
            ),
            "Eve": (Person("Eve", "stranger"), box.signal_person("Eve")),
            "Nia": (
                Person("Nia", "stranger"),  # known by her number only
                box.signal_person("Nia", number="+14155550142", has_uuid=False),
            ),
            "Rory": (Person("Rory", "revoked", before=len(rory.inbox)), rory),
        }
        canary = await box.join_signal("Carl", Role.OFFICER)
        yield await cast_of(
            box, people, officer=dana, helper=alex, thread=thread, canary=canary, log=log
        )


def _commandish(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("/") or stripped.rstrip(".!?").lower() in COMMANDS


async def perform(box: Sandbox, cast: Cast, person: Person, user: SignalUser, act: Act) -> None:
    assert box.signal is not None
    match act.kind:
        case "text" | "command" | "word":
            line = act.text
            if person.party and _commandish(line):
                line = f"so: {line}"  # the two in the conversation only talk
            elif line[1:].split("@")[0].split(" ")[0] in SWEEPING:
                line = "/help"
            person.said.append(line)
            person.sent_ids.append(await user.send(line))
        case "quote":
            person.said.append(act.text)
            never_sent = SignalMessage(timestamp=10**12 + act.n, text="?")
            await user.send(act.text or ".", reply_to=never_sent)
        case "edit" | "delete" if not person.party and act.n % 3 == 0:
            await meddle(box, cast, user, act)
        case "edit":
            if person.sent_ids and act.text:
                person.said.append(act.text)
                await user.edit(person.sent_ids[act.n % len(person.sent_ids)], act.text)
        case "delete":
            if person.sent_ids:
                await user.delete(person.sent_ids[act.n % len(person.sent_ids)])
        case "sticker":
            await user.send_sticker()
        case "attachment":
            await attach(cast, person, user, act)
        case "odd":
            frames = signal_oddities(box.signal, user, act.text, act.n)
            await box.signal.push_raw(frames[act.n % len(frames)])


async def meddle(box: Sandbox, cast: Cast, user: SignalUser, act: Act) -> None:
    """Someone outside the conversation edits or deletes a message one of the two sent (by
    its time, as if they had learnt it)."""
    assert box.signal is not None
    theirs = [ts for person, _ in cast.people.values() if person.party for ts in person.sent_ids]
    target = theirs[act.n % len(theirs)] if theirs else act.n
    now = box.signal.clock()
    if act.kind == "edit":
        body = {"targetSentTimestamp": target, "dataMessage": {"timestamp": now, "message": "x"}}
        await box.signal.push(user, now, {"editMessage": body})
    else:
        await box.signal.push(
            user, now, {"dataMessage": {"timestamp": now, "remoteDelete": {"timestamp": target}}}
        )


async def attach(cast: Cast, person: Person, user: SignalUser, act: Act) -> None:
    data = f"file {person.name} {act.n}".encode()
    cast.files.setdefault(person.name, []).append(data)
    caption = act.text
    if person.party and _commandish(caption):
        caption = f"so: {caption}"
    if caption.strip():
        person.said.append(caption)
    kind = CONTENT_TYPES[act.n % len(CONTENT_TYPES)]
    person.sent_ids.append(
        await user.send_attachment(
            data, kind, caption=caption, voice_note=kind.startswith("audio/")
        )
    )


def check(cast: Cast) -> None:
    for user, other in ((cast.officer, "Alex"), (cast.helper, "Dana")):
        assert isinstance(user, SignalUser)
        received = [f.data for m in user.inbox for f in m.attachments]
        assert all(data in cast.files.get(other, []) for data in received)  # theirs only


senders = st.sampled_from(["Dana", "Alex", "Evan", "Blake", "Morgan", "Eve", "Nia", "Rory"])
scripts = st.lists(st.tuples(senders, acts), min_size=1, max_size=10)


@settings(FUZZ, max_examples=EXAMPLES)
@given(script=scripts)
async def test_arbitrary_signal_envelopes_break_nothing(
    box: Sandbox, cast: Cast, script: list[tuple[str, Act]]
) -> None:
    await play(box, cast, script, perform, check)


@pytest.mark.soak
@settings(FUZZ, max_examples=SOAK_EXAMPLES, derandomize=False)
@given(script=scripts)
async def test_soak_arbitrary_signal_envelopes_break_nothing(
    box: Sandbox, cast: Cast, script: list[tuple[str, Act]]
) -> None:
    await play(box, cast, script, perform, check)


# -- what a stranger reads does not depend on what the program holds ----------------------

stranger_acts = st.one_of(
    st.builds(Act, st.just("text"), texts(SIGNAL_TEXT_LIMIT)),
    st.builds(Act, st.just("command"), command_lines(COMMANDS)),
    st.builds(Act, st.just("word"), st.sampled_from(COMMANDS)),
    st.builds(Act, st.just("quote"), texts(300), st.integers(0, 10**6)),
    st.builds(Act, st.just("sticker")),
    st.builds(Act, st.just("attachment"), texts(200), st.integers(0, 10**6)),
)


@pytest.fixture
async def empty(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    async for box in checked(Sandbox(tmp_path / "empty", clock=clock, signal=True)):
        yield box


async def flushed(box: Sandbox) -> None:
    """Every frame pushed so far has been read and handled: a newcomer's first message is
    always answered, and the gateway's frames are read in order."""
    newcomer = box.signal_person("Newcomer")
    await newcomer.send("hello")
    await newcomer.wait_for(box.text().not_member[:40], timeout=30)
    await settle(box)


@settings(FUZZ, max_examples=STRANGER_EXAMPLES)
@given(script=st.lists(stranger_acts, min_size=1, max_size=8))
async def test_a_signal_stranger_reads_the_same_whatever_the_program_holds(
    box: Sandbox, cast: Cast, empty: Sandbox, script: list[Act]
) -> None:
    """As on Telegram: the same replies from a program with members and a live conversation
    as from an empty one, message for message."""
    replies = []
    for sandbox in (box, empty):
        person = Person("Stranger", "stranger")
        user = sandbox.signal_person("Stranger")
        for act in script:
            await perform(sandbox, cast, person, user, act)
        await flushed(sandbox)
        replies.append([(m.text, len(m.attachments)) for m in user.inbox])
    assert replies[0] == replies[1]
    assert {text for text, _ in replies[0]} <= neutral_lines(box)
