"""What the fuzz suite throws at Peerline, and how it waits for the bot to have answered.

Strategies for the text people type (any Unicode the platforms carry: right-to-left, zero-width,
combining marks, emoji as surrogate pairs, huge and blank), for Telegram updates and Signal
envelopes of every kind, and a `cast` of people in every role. The updates are raw JSON pushed
through the local stand-ins, as Telegram and signal-cli would deliver them, so the real
python-telegram-bot and the real `signalbot.parse` read every one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from bot.catalog import EN, LANGUAGES
from bot.events import MEDIA_KINDS, Address, Platform
from bot.model import Member, Thread
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import LocalSignalApi, SignalUser
from bot.sandbox.telegram_api import LocalBotApi, SimUser
from handlers.dispatch import build_router

JsonDict = dict[str, Any]

COMMANDS = sorted(build_router().commands)
# Commands a coordinator may use against anyone: left out of the coordinator's fuzz (revoking a
# member of the live conversation would end it, rightly); the security tests cover them.
SWEEPING = frozenset({"revoke"})

TELEGRAM_TEXT_LIMIT = 4096  # UTF-16 code units, as Telegram counts them
SIGNAL_TEXT_LIMIT = 6000  # Signal sends longer text as a "long text" attachment

# Characters that break naive text handling: bidi controls, zero-width joiners and spaces, a
# byte-order mark, combining marks, astral emoji (two UTF-16 units each), a ZWJ family, RTL
# scripts, line and paragraph separators, NUL and other controls.
TRICKY = (
    "\u202e",  # right-to-left override
    "\u202d",
    "\u2067",  # right-to-left isolate
    "\u200f",
    "\u200b",  # zero-width space
    "\u200c",
    "\u200d",  # zero-width joiner
    "\ufeff",
    "\u0301",  # combining acute
    "\u0489",
    "\U0001f600",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1fa\U0001f1f8",  # a flag: two regional indicators
    "\u05e9\u05dc\u05d5\u05dd",  # Hebrew
    "\u0645\u0631\u062d\u0628\u0627",  # Arabic
    "\u2028",
    "\u2029",
    "\x00",
    "\x1b",
    "\n",
    " ",
    "/",
    "@",
    ".",
    ":",
    "#",
    "1",
)
# Texts with a meaning somewhere in the bot: numbers answer options, words are commands on
# Signal, codes look like invites, tags look like thread tags.
MEANINGFUL = (
    "1",
    "2",
    "9",
    "0",
    "-1",
    "99999999999999999999",
    "start",
    "start ABCD-EFGH-JKMN",
    "ABCD-EFGH-JKMN-PQRS",
    "end",
    "End!",
    "help",
    "crisis",
    "talk",
    "available",
    "stop",
    "#abc",
    "acc:1.AAAAAAAAAAAA",
    "",
    " ",
    "\n\n",
)


def _huge(unit: str, limit: int) -> str:
    """As many `unit`s as fit in `limit` UTF-16 code units."""
    size = len(unit.encode("utf-16-le")) // 2
    return unit * (limit // size)


def texts(limit: int) -> st.SearchStrategy[str]:
    """What a person may type; never longer than the platform carries (`limit` UTF-16 units).
    No lone surrogates: neither platform can carry one."""
    any_text = st.text(max_size=120)
    tricky = st.lists(st.sampled_from(TRICKY), max_size=40).map("".join)
    mixed = st.lists(st.one_of(any_text, tricky), max_size=4).map("".join)
    huge = st.sampled_from(("a", "\U0001f600", "\u0645", "a\u0301", "word ")).map(
        lambda unit: _huge(unit, limit)
    )
    return st.one_of(any_text, tricky, mixed, st.sampled_from(MEANINGFUL), huge).map(
        lambda text: fit(text, limit)
    )


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 code units, as the platforms count them."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return text[:index]
    return text


def junk_args() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        texts(200),
        st.integers().map(str),
        st.sampled_from(
            ("#1", "#999999", "1 2026-13-45", "peer 5 2099-01-01 x", "en", "es", "xx")
        ),
    )


def command_lines(allowed: Iterable[str]) -> st.SearchStrategy[str]:
    names = st.one_of(
        st.sampled_from(sorted(allowed)),
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),  # commands nobody registered
    )
    suffix = st.sampled_from(("", "@peerline_sandbox_bot", "@some_other_bot"))
    return st.builds(
        lambda name, at, args: f"/{name}{at} {args}".rstrip(), names, suffix, junk_args()
    )


@dataclass(frozen=True)
class Act:
    """One thing a fuzzed person does: a `kind`, what they type, and a number that picks
    among messages, buttons and oddities."""

    kind: str
    text: str = ""
    n: int = 0

    def __repr__(self) -> str:
        # Huge texts would make a failing example unreadable (and Hypothesis warns).
        shown = self.text if len(self.text) <= 80 else f"{self.text[:60]!r}... ({len(self.text)})"
        return f"Act({self.kind!r}, {shown!r}, {self.n})"


# -- the people ------------------------------------------------------------------------------


@dataclass
class Person:
    """One fuzzed sender. `party` marks the two people of the conversation that must survive:
    they only say things (no commands, no buttons of their own) so that it does."""

    name: str
    role: str  # "officer", "peer", ..., "stranger", "revoked"
    party: bool = False
    sent_ids: list[int] = field(default_factory=list)  # Telegram message ids or Signal times
    said: list[str] = field(default_factory=list)  # every text and caption they sent
    before: int = 0  # messages in their inbox before the fuzzing began (a welcome, ...)
    checked: int = 0  # how much of `said` earlier examples have checked

    @property
    def outsider(self) -> bool:
        return self.role in ("stranger", "revoked")


User = SimUser | SignalUser


class Recorder(logging.Handler):
    """Every log record while a fuzz test runs, as a log file would hold it (with any
    traceback), at every level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    recorder = Recorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(level)


@dataclass(repr=False)
class Cast:
    """Everyone a fuzz test sends from, and what must still hold after each example."""

    people: dict[str, tuple[Person, Any]]  # name -> (who, their SimUser or SignalUser)
    officer: User  # the live conversation...
    helper: User  # ...and the helper in it
    thread: Thread
    canary: User
    facts: set[tuple[int, str, bool, bool]]
    log: Recorder
    headers: tuple[str, ...]  # what a relayed message opens with, each way
    logged: int = 0  # log records already checked
    files: dict[str, list[bytes]] = field(default_factory=dict)  # what each person attached
    markers: itertools.count[int] = field(default_factory=itertools.count)

    def __repr__(self) -> str:
        return "Cast(...)"


async def cast_of(
    box: Sandbox,
    people: dict[str, tuple[Person, Any]],
    *,
    officer: User,
    helper: User,
    thread: Thread,
    canary: User,
    log: Recorder,
) -> Cast:
    """The cast, with what every example is checked against taken now: who the members are
    and what a relayed message opens with."""
    assert box.app is not None and box.app.repo is not None
    return Cast(
        people=people,
        officer=officer,
        helper=helper,
        thread=thread,
        canary=canary,
        facts=member_facts(await box.app.repo.all_members()),
        log=log,
        headers=await headers(box, thread),
    )


# One bot for all examples (a fixture), so no shrinking: a smaller script would not replay
# against the same state. The failing script is printed whole. Derandomized in `make test`.
FUZZ = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


async def held(box: Sandbox, cast: Cast) -> None:
    """After an example: the bot still answers, nobody joined or changed role or rights,
    strangers and the revoked member read only neutral lines, the conversation keeps its pair,
    and nothing anyone else said reached the two in it."""
    assert box.app is not None and box.app.repo is not None
    repo = box.app.repo
    await canary(cast.canary, EN.help_officer)  # on Signal: every frame before it was read...
    await settle(box)  # ...and handled

    assert member_facts(await repo.all_members()) == cast.facts

    neutral = neutral_lines(box)
    for person, user in cast.people.values():
        if person.outsider:
            assert set(user.texts()[person.before :]) <= neutral, person.name

    live = await repo.live_threads()
    party_ids = {cast.thread.officer_id, cast.thread.helper_id}
    ours = [t for t in live if {t.officer_id, t.helper_id} & party_ids]
    assert [(t.id, t.officer_id, t.helper_id) for t in ours] == [
        (cast.thread.id, cast.thread.officer_id, cast.thread.helper_id)
    ]
    # What this example's senders said (earlier examples' were checked then: the checks stay
    # linear however many examples run).
    party_said = _joined(s for p, _ in cast.people.values() if p.party for s in p.said)
    party_read = _joined([*cast.officer.texts(), *cast.helper.texts()])
    for person, _ in cast.people.values():
        if person.party:
            continue
        for said in person.said[person.checked :]:
            if len(said.strip()) < 12 or said in party_said:
                continue  # too common to tell apart, or one of the two said it too
            assert said not in party_read, (person.name, said[:40])
    unlogged(cast)
    for person, _ in cast.people.values():
        person.checked = len(person.said)


def _joined(texts: Iterable[str]) -> str:
    return "\uffff".join(texts)  # a noncharacter: a match across two texts is near impossible


def unlogged(cast: Cast) -> None:
    """No log record, at any level, holds what anyone said or who they are on the platform."""
    logged = "\n".join(cast.log.lines[cast.logged :])  # the records since the last check
    cast.logged = len(cast.log.lines)
    for person, user in cast.people.values():
        for said in person.said:
            if len(said.strip()) >= 12:
                assert said not in logged, (person.name, said[:40])
        if isinstance(user, SimUser):
            assert not re.search(rf"\b{user.user_id}\b", logged), person.name
        else:
            for known_as in (user.uuid, user.number):
                assert not known_as or known_as not in logged, person.name


Perform = Callable[[Sandbox, Cast, Person, Any, Act], Awaitable[None]]
Check = Callable[[Cast], None]


async def play(
    box: Sandbox, cast: Cast, script: list[tuple[str, Act]], perform: Perform, check: Check
) -> None:
    """One example: the script, then the checks: what `held` checks, the platform's own
    `check` (media reach the two from each other only), and the conversation still relays.
    Unless one of the two in it edited or deleted something, nothing they had been relayed may
    change either."""
    before = relays_seen(cast)
    touched = False
    for name, act in script:
        person, user = cast.people[name]
        touched |= person.party and act.kind in ("edit", "delete")
        await perform(box, cast, person, user, act)
    await held(box, cast)
    check(cast)
    await still_relays(cast)
    if not touched:
        after = relays_seen(cast)
        assert not [k for k, v in before.items() if after.get(k) != v], "a relay was changed"


def relays_seen(cast: Cast) -> dict[tuple[int, str], tuple[str, bool]]:
    """What each of the two sees of the other's messages: (side, message id) -> (text,
    deleted). Gone from the inbox (deleted on Telegram) is missing from it."""
    seen = {}
    for side, user in enumerate((cast.officer, cast.helper)):
        for message in user.inbox:
            copied = getattr(message, "copied_from", None) or getattr(message, "attachments", None)
            if copied or message.text.startswith(cast.headers):
                deleted = bool(getattr(message, "deleted", False))
                seen[(side, str(message.message_id))] = (message.text, deleted)
    return seen


async def still_relays(cast: Cast) -> None:
    marker = next(cast.markers)
    await cast.officer.send(f"canary from the officer {marker}")
    await cast.helper.wait_for(f"canary from the officer {marker}", timeout=30)
    await cast.helper.send(f"canary from the helper {marker}")
    await cast.officer.wait_for(f"canary from the helper {marker}", timeout=30)


async def headers(box: Sandbox, thread: Thread) -> tuple[str, ...]:
    """What opens a message relayed in `thread`: to the helper, and to the officer."""
    assert box.app is not None and box.app.repo is not None
    helper = await box.app.repo.member(thread.helper_id)
    assert helper is not None
    return (
        EN.header_to_helper.format(alias=thread.officer_alias, tag=thread.tag),
        EN.header_to_officer.format(name=helper.display_name),
    )


def neutral_lines(box: Sandbox) -> set[str]:
    """Everything a stranger may ever read: the stranger line and the one answer for any bad
    code, in every language the bot speaks."""
    return {
        line
        for lang in LANGUAGES
        for line in (box.text(lang).not_member, box.text(lang).invite_bad)
    }


def member_facts(members: Iterable[Member]) -> set[tuple[int, str, bool, bool]]:
    """What no fuzzed message may change: who is a member, in which role, with which rights."""
    return {(m.id, m.role.value, m.active, m.is_coordinator) for m in members}


# -- Telegram updates --------------------------------------------------------------------------

_group_ids = itertools.count(1)


def tg_message(api: LocalBotApi, user: SimUser, **content: object) -> JsonDict:
    """A message from `user` in their private chat, stored so it can be edited and replied to."""
    message: JsonDict = {
        "message_id": api.next_message_id(user.user_id),
        "date": int(time.time()),
        "chat": user.chat_json,
        "from": user.user_json,
        **content,
    }
    api.store_message(user.user_id, message)
    return message


def tg_text(api: LocalBotApi, user: SimUser, text: str, *, command: bool) -> JsonDict:
    """A text message; with `command`, a leading /word is marked as Telegram marks commands."""
    content: JsonDict = {"text": text}
    head = text.split(maxsplit=1)[0] if text.split() else ""
    if command and len(head) > 1 and head.startswith("/") and head.isascii():
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(head)}]
    return tg_message(api, user, **content)


def tg_oddities(user: SimUser, text: str, n: int) -> list[JsonDict]:
    """Updates the bot must shrug off: kinds it does not know or handle, unknown fields, group
    chats and channels, a message with no content, buttons from a group or an inline message."""
    now = int(time.time())
    group = {"id": -1_000_000 - next(_group_ids), "type": "group", "title": "Shift B"}
    supergroup = {"id": -1_001_000_000_000 - n, "type": "supergroup", "title": "Precinct"}
    channel = {"id": -1_002_000_000_000 - n, "type": "channel", "title": "News"}
    said = {"text": text or "x"}
    base = {"message_id": 50_000 + n, "date": now, "from": user.user_json}
    return [
        {"message": {**base, "chat": group, **said}},
        {"message": {**base, "chat": supergroup, **said, "message_thread_id": 7}},
        {"channel_post": {**base, "chat": channel, **said}},
        {"edited_channel_post": {**base, "chat": channel, **said, "edit_date": now}},
        {"message": {**base, "chat": user.chat_json}},  # no content at all
        {"message": {**base, "chat": user.chat_json, **said, "future_field": {"x": [n]}}},
        {"message": {**base, "chat": user.chat_json, "new_chat_title": "renamed"}},
        {
            "message_reaction": {
                "chat": user.chat_json,
                "message_id": n,
                "date": now,
                "user": user.user_json,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "\U0001f44d"}],
            }
        },
        {"poll_answer": {"poll_id": str(n), "user": user.user_json, "option_ids": [0]}},
        {
            "my_chat_member": {
                "chat": user.chat_json,
                "from": user.user_json,
                "date": now,
                "old_chat_member": {"status": "member", "user": user.user_json},
                "new_chat_member": {"status": "kicked", "user": user.user_json, "until_date": 0},
            }
        },
        {"inline_query": {"id": str(n), "from": user.user_json, "query": text, "offset": ""}},
        {
            "business_message": {
                **base,
                "chat": user.chat_json,
                **said,
                "business_connection_id": "b1",
            }
        },
        {"some_kind_from_the_future": {"chat": user.chat_json, "value": text}},
        {
            "callback_query": {
                "id": f"group-{n}",
                "from": user.user_json,
                "chat_instance": "g",
                "data": text[:64] or "x",
                "message": {**base, "chat": group, "text": "hi"},
            }
        },
        {
            "callback_query": {
                "id": f"inline-{n}",
                "from": user.user_json,
                "chat_instance": "i",
                "inline_message_id": "abc",
                "data": text[:64] or "x",
            }
        },
        {
            "message": {
                **base,
                "chat": user.chat_json,
                **said,
                "reply_to_message": {
                    "message_id": 10**9 + n,
                    "date": now,
                    "chat": user.chat_json,
                    "text": "gone",
                },
            }
        },
    ]


def forged(data: str, how: int) -> str:
    """A real button's data changed one way or another: a different tag, a different argument,
    a different action, cut short, or with something appended."""
    payload, _, tag = data.rpartition(".")
    action, _, arg = payload.partition(":")
    variants = (
        f"{payload}.{'A' * len(tag)}",
        f"{action}:{arg}x.{tag}",
        f"acc:{arg}.{tag}",
        data[: max(1, len(data) // 2)],
        f"{data}.{tag}",
        f"{action}:{arg}",
        f"end:{arg}.{tag}",
    )
    return variants[how % len(variants)][:64]


# -- Signal envelopes --------------------------------------------------------------------------


def signal_oddities(gateway: LocalSignalApi, sender: SignalUser, text: str, n: int) -> list[str]:
    """Frames to shrug off: receipts, typing, a sync from another device, a call, a story, a
    reaction, group messages (v1 and v2), an edit or a deletion of a message nobody sent, a
    data message with no content or unknown fields, not JSON at all, no envelope, no sender."""
    ts = gateway.clock()
    group_v2 = {"id": "Z3JvdXA=", "revision": 3}

    def data(**fields: object) -> JsonDict:
        return {
            "dataMessage": {"timestamp": ts, "expiresInSeconds": 0, "viewOnce": False, **fields}
        }

    frames: list[JsonDict] = [
        {"receiptMessage": {"when": ts, "isDelivery": True, "isRead": False, "timestamps": [n]}},
        {"typingMessage": {"action": "STARTED", "timestamp": ts}},
        {
            "syncMessage": {
                "sentMessage": {"destination": sender.address, "timestamp": ts, "message": text}
            }
        },
        {"callMessage": {"offerMessage": {"id": n, "type": "audio_call"}}},
        {"storyMessage": {"allowsReplies": True, "textAttachment": {"text": text}}},
        data(
            reaction={
                "emoji": "\U0001f44d",
                "targetAuthor": gateway.number,
                "targetAuthorUuid": gateway.bot_uuid,
                "targetSentTimestamp": n,
                "isRemove": False,
            }
        ),
        data(message=text or "x", groupInfo={"groupId": "Z3JvdXA=", "type": "DELIVER"}),
        data(message=text or "x", groupV2=group_v2),
        {
            "editMessage": {
                "targetSentTimestamp": 10**12 + n,
                "dataMessage": {"timestamp": ts, "message": text or "x"},
            }
        },
        data(remoteDelete={"timestamp": 10**12 + n}),
        data(),  # nothing in it
        data(message=None, someFutureField={"x": n}),
        data(
            message=text or "x",
            quote={
                "id": 10**12 + n,
                "author": gateway.number,
                "authorUuid": gateway.bot_uuid,
                "text": "old",
            },
        ),
        data(
            message=text or "x",
            mentions=[{"name": "x", "number": None, "uuid": None, "start": 0, "length": 1}],
        ),
        data(
            attachments=[
                {"contentType": "image/png", "filename": None, "id": f"missing{n}", "size": 3}
            ]
        ),
        data(payment={"note": text}),
        {"weirdNewPart": {"x": n}},
    ]
    encoded = [gateway.frame(sender, gateway.clock(), frame) for frame in frames]
    nobody = json.dumps(
        {"envelope": {"timestamp": ts, **data(message=text or "x")}, "account": gateway.number}
    )
    return [*encoded, nobody, "not json at all", "[1, 2]", json.dumps({"envelope": text})]


# -- waiting for the bot -----------------------------------------------------------------------


async def settle(box: Sandbox, *, seconds: float = 60.0) -> None:
    """Until everything pushed has been handled: Telegram holds no unconfirmed update (one is
    confirmed only once handled), no Signal chat has an event in hand, no stranger's answer is
    still being sent. Signal has no acknowledgement: push a canary first (see `canary`)."""
    app = box.app
    assert app is not None and app.dispatcher is not None
    dispatcher = app.dispatcher
    transport = box.signal_transport

    def busy() -> bool:
        return bool(
            box.api.pending_updates
            or dispatcher._answers  # the bot's own state, read by its tests
            or (transport is not None and transport._workers)
        )

    async with asyncio.timeout(seconds):
        while busy():  # noqa: ASYNC110 - a condition on the bot's state, polled
            await asyncio.sleep(0.02)


async def canary(user: SimUser | SignalUser, help_text: str) -> None:
    """The person asks for help and is answered: the bot still works (and, on Signal, every
    frame pushed before has been read)."""
    count = sum(help_text in t for t in user.texts())
    await user.send("/help")
    await user.wait_until(lambda: sum(help_text in t for t in user.texts()) > count, 30.0)


def address_of(user: SimUser | SignalUser) -> Address:
    if isinstance(user, SimUser):
        return Address(Platform.TELEGRAM, str(user.user_id))
    return Address(Platform.SIGNAL, user.address)


MEDIA = st.sampled_from(MEDIA_KINDS)
