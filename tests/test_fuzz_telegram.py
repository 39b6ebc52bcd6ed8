"""Fuzz, Telegram: Hypothesis sends arbitrary updates from every role and from strangers
through the local Bot API to the real python-telegram-bot, while one conversation is live.

Each example is a few people doing anything: any Unicode (right-to-left, zero-width, combining
marks, emoji), huge and blank texts, every command with junk after it, media and content that
cannot be relayed, edits of their own and of unknown messages, button data that is random,
forged from a real button, or another person's, update kinds the bot does not know, unknown
fields, group chats, supergroups and channels. After each example:

- no crash: a member asks for /help and is answered;
- no unauthorized action: the same members with the same roles and rights (no one joined
  without a code, nobody gained or lost a role), the live conversation still between the same
  two people and neither of them pulled into another;
- strangers and a revoked member read nothing but the neutral stranger line or the one
  answer for any bad code;
- nothing anyone else said reaches the two in the conversation, and it still relays both ways.

`make test` runs a few dozen examples; `make soak` (marker `soak`) runs 1,000.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog import EN
from bot.events import CAPTIONED_MEDIA, MEDIA_KINDS
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from bot.transports.telegram import Webhook
from tests.conftest import FakeClock, checked
from tests.fuzzing import (
    COMMANDS,
    FUZZ,
    SWEEPING,
    TELEGRAM_TEXT_LIMIT,
    Act,
    Cast,
    Person,
    cast_of,
    command_lines,
    forged,
    neutral_lines,
    play,
    recording,
    settle,
    texts,
    tg_oddities,
    tg_text,
)
from tests.test_e2e_routing import member_of
from tests.test_e2e_walking_skeleton import ask_for_peer
from tests.test_e2e_webhook import free_port

pytestmark = pytest.mark.security

EXAMPLES = 30
SOAK_EXAMPLES = 1000
STRANGER_EXAMPLES = 15
WEBHOOK_EXAMPLES = 12
CAPTION_LIMIT = 1024


acts = st.one_of(
    st.builds(Act, st.just("text"), texts(TELEGRAM_TEXT_LIMIT)),
    st.builds(Act, st.just("command"), command_lines(COMMANDS)),
    st.builds(Act, st.just("media"), texts(CAPTION_LIMIT), st.integers(0, len(MEDIA_KINDS) - 1)),
    st.builds(Act, st.just("unsupported"), st.just(""), st.integers(0, 3)),
    st.builds(Act, st.just("edit"), texts(TELEGRAM_TEXT_LIMIT), st.integers(0, 10**6)),
    st.builds(Act, st.just("press"), st.text(max_size=64), st.integers(0, 10**6)),
    st.builds(Act, st.just("odd"), texts(200), st.integers(0, 10**6)),
)


@pytest.fixture
async def cast(sandbox: Sandbox) -> AsyncIterator[Cast]:
    """Made once per test: Hypothesis runs every example against the same bot."""
    async for found in casting(sandbox):
        yield found


@pytest.fixture
async def hooked(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    """Telegram in webhook mode: the stand-in posts each update to the bot's own endpoint."""
    port = free_port()
    hook = Webhook(url=f"http://127.0.0.1:{port}/telegram/updates", port=port)
    async for box in checked(Sandbox(tmp_path / "hooked", clock=clock, webhook=hook)):
        yield box


@pytest.fixture
async def hooked_cast(hooked: Sandbox) -> AsyncIterator[Cast]:
    async for found in casting(hooked):
        yield found


async def casting(box: Sandbox) -> AsyncIterator[Cast]:
    with recording() as log:
        assert box.app is not None and box.app.repo is not None
        repo = box.app.repo
        dana = await box.join("Dana", Role.OFFICER)
        alex = await box.join("Alex", Role.PEER)
        await ask_for_peer(dana, outside=False)
        await alex.press(await alex.wait_for("New request"), EN.offer_accept)
        await dana.wait_for("is here for you")
        await alex.send("/load 1")  # offers (which quote officers' notes) go to others
        await alex.wait_for("Up to 1 conversation")
        (thread,) = await repo.live_threads()
        people = {
            "Dana": (Person("Dana", "officer", party=True), dana),
            "Alex": (Person("Alex", "peer", party=True), alex),
            "Evan": (Person("Evan", "officer"), await box.join("Evan", Role.OFFICER)),
            "Blake": (
                Person("Blake", "peer"),
                await box.join("Blake", Role.PEER, available=False),
            ),
            "Jordan": (
                Person("Jordan", "chaplain"),
                await box.join("Jordan", Role.CHAPLAIN, available=False),
            ),
            "Morgan": (
                Person("Morgan", "coordinator"),
                await box.join("Morgan", Role.COORDINATOR),
            ),
            "Kit": (
                Person("Kit", "clinician"),
                await box.join("Kit", Role.CLINICIAN, available=False),
            ),
            "Fay": (
                Person("Fay", "family"),
                await box.join("Fay", Role.FAMILY, agency="Metro PD"),
            ),
            "Ray": (
                Person("Ray", "retiree"),
                await box.join("Ray", Role.RETIREE, agency="Metro PD"),
            ),
            "Eve": (Person("Eve", "stranger"), box.person("Eve")),
            "Eva": (Person("Eva", "stranger"), box.person("Eva")),
        }
        people["Eva"][1].language_code = "es-MX"
        rory = await box.join("Rory", Role.OFFICER)
        assert await repo.set_active((await member_of(box, rory)).id, False)
        people["Rory"] = (Person("Rory", "revoked", before=len(rory.inbox)), rory)
        canary = await box.join("Carl", Role.OFFICER)
        yield await cast_of(
            box, people, officer=dana, helper=alex, thread=thread, canary=canary, log=log
        )


def buttons(cast: Cast) -> list[tuple[str, str]]:
    """(owner, data) of every button anyone has been shown."""
    return [
        (name, data)
        for name, (_, user) in cast.people.items()
        for message in user.inbox
        for row in message.buttons
        for _, data in row
    ]


async def perform(box: Sandbox, cast: Cast, person: Person, user: SimUser, act: Act) -> None:
    api = box.api
    match act.kind:
        case "text" | "command":
            line = act.text
            if act.kind == "command" and person.party:
                line = line.removeprefix("/")  # the two in the conversation only talk
            elif act.kind == "command" and line[1:].split("@")[0].split(" ")[0] in SWEEPING:
                line = "/help"
            if not line:
                line = "."  # Telegram carries no empty text
            person.said.append(line)
            message = tg_text(api, user, line, command=not person.party)
            person.sent_ids.append(message["message_id"])
            await api.push_update({"message": message})
        case "media":
            kind = MEDIA_KINDS[act.n]
            caption = act.text if kind in CAPTIONED_MEDIA else None
            if caption:
                person.said.append(caption)
            person.sent_ids.append(await user.send_media(kind, caption=caption))
        case "unsupported":
            await user.send_unsupported(("poll", "dice", "game", "story")[act.n])
        case "edit":
            text = act.text or "."
            editable = [i for i in person.sent_ids if _editable(box, user, i)]
            if editable and act.n % 2:
                person.said.append(text)
                await user.edit(editable[act.n % len(editable)], text)
            else:
                unknown = {
                    "message_id": 10**8 + act.n,
                    "date": 1,
                    "edit_date": 2,
                    "chat": user.chat_json,
                    "from": user.user_json,
                    "text": text,
                }
                await api.push_update({"edited_message": unknown})
        case "press":
            await user.press_data(_press_data(cast, person, act))
        case "odd":
            oddities = tg_oddities(user, act.text, act.n)
            await api.push_update(oddities[act.n % len(oddities)])


def _editable(box: Sandbox, user: SimUser, message_id: int) -> bool:
    original = box.api.raw_message(user.user_id, message_id)
    return "text" in original or any(k in original for k in CAPTIONED_MEDIA)


def _press_data(cast: Cast, person: Person, act: Act) -> str:
    """Random data, a real button forged, someone else's button, or (for those not in the
    conversation) one of their own."""
    shown = buttons(cast)
    foreign = [data for owner, data in shown if owner != person.name]
    own = [data for owner, data in shown if owner == person.name]
    way = act.n % 4
    if way == 1 and shown:
        return forged(shown[act.n % len(shown)][1], act.n // 4)
    if way == 2 and foreign:
        return foreign[act.n % len(foreign)]
    if way == 3 and own and not person.party:
        return own[act.n % len(own)]
    data = act.text.encode()[:64].decode(errors="ignore")
    return data or "x"


def check(cast: Cast) -> None:
    for user, other in ((cast.officer, cast.helper), (cast.helper, cast.officer)):
        assert isinstance(user, SimUser) and isinstance(other, SimUser)
        sources = {m.copied_from[0] for m in user.inbox if m.copied_from is not None}
        assert sources <= {other.user_id}  # media copied from the other one only


senders = st.sampled_from(
    [
        "Dana",
        "Alex",
        "Evan",
        "Blake",
        "Jordan",
        "Morgan",
        "Kit",
        "Fay",
        "Ray",
        "Eve",
        "Eva",
        "Rory",
    ]
)
scripts = st.lists(st.tuples(senders, acts), min_size=1, max_size=10)


@settings(FUZZ, max_examples=EXAMPLES)
@given(script=scripts)
async def test_arbitrary_telegram_updates_break_nothing(
    sandbox: Sandbox, cast: Cast, script: list[tuple[str, Act]]
) -> None:
    await play(sandbox, cast, script, perform, check)


@settings(FUZZ, max_examples=WEBHOOK_EXAMPLES)
@given(script=scripts)
async def test_arbitrary_telegram_updates_by_webhook_break_nothing(
    hooked: Sandbox, hooked_cast: Cast, script: list[tuple[str, Act]]
) -> None:
    await play(hooked, hooked_cast, script, perform, check)


@pytest.mark.soak
@settings(FUZZ, max_examples=SOAK_EXAMPLES, derandomize=False)
@given(script=scripts)
async def test_soak_arbitrary_telegram_updates_break_nothing(
    sandbox: Sandbox, cast: Cast, script: list[tuple[str, Act]]
) -> None:
    await play(sandbox, cast, script, perform, check)


# -- what a stranger reads does not depend on what the program holds ----------------------


stranger_acts = st.one_of(
    st.builds(Act, st.just("text"), texts(TELEGRAM_TEXT_LIMIT)),
    st.builds(Act, st.just("command"), command_lines(COMMANDS)),
    st.builds(Act, st.just("media"), texts(CAPTION_LIMIT), st.integers(0, len(MEDIA_KINDS) - 1)),
    st.builds(Act, st.just("press"), st.text(max_size=64), st.integers(0, 10**6)),
)
_strangers = itertools.count(7_000_001)


@pytest.fixture
async def empty(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Sandbox]:
    async for box in checked(Sandbox(tmp_path / "empty", clock=clock)):
        yield box


@settings(FUZZ, max_examples=STRANGER_EXAMPLES)
@given(script=st.lists(stranger_acts, min_size=1, max_size=8), spanish=st.booleans())
async def test_a_stranger_reads_the_same_whatever_the_program_holds(
    sandbox: Sandbox, cast: Cast, empty: Sandbox, script: list[Act], spanish: bool
) -> None:
    """The same messages from a stranger, to a program with members and a live conversation
    and to one with nobody at all: the same replies, message for message (so no count, no
    name, no state shows through)."""
    user_id = next(_strangers)
    replies = []
    for box in (sandbox, empty):
        person = Person("Stranger", "stranger")
        user = box.api.user(user_id, "Stranger")
        user.language_code = "es" if spanish else None
        for act in script:
            await perform(box, cast, person, user, act)
        await settle(box)
        replies.append([(m.text, m.labels()) for m in user.inbox])
    assert replies[0] == replies[1]
    assert {text for text, _ in replies[0]} <= neutral_lines(sandbox)
