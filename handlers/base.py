"""What every handler gets: the services, the person, and a way to answer them.

No platform library is imported here or anywhere in handlers/.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.catalog import Catalog
from bot.config import Config
from bot.delivery import NotHandledError, backoff
from bot.events import (
    Address,
    Choice,
    DeliveryError,
    Incoming,
    Messenger,
    Platform,
    Reply,
    Sent,
)
from bot.i18n import Catalogs
from bot.menus import MenuKeeper
from bot.model import HELPER_ROLES, Category, Member, MemberId, RequestId, Wanted
from bot.relay import RelayEngine
from bot.routing import Roster
from bot.storage.repository import Repository
from crypto import Vault

log = logging.getLogger(__name__)

_REMEMBERED_OPTIONS = 4096

Clock = Callable[[], datetime]


class ChoiceCodec:
    """Signs button data so that forged data, or data pressed by someone else, is refused.

    Wire form: ``action:arg.tag`` where tag is a MAC over ``action:arg`` bound to the
    recipient. Stateless, so buttons keep working across a restart.
    """

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def encode(self, action: str, arg: str, audience: bytes) -> str:
        payload = f"{action}:{arg}"
        return f"{payload}.{self._vault.sign(payload, audience)}"

    def decode(self, data: str, audience: bytes) -> tuple[str, str] | None:
        payload, dot, tag = data.rpartition(".")
        if not dot or not self._vault.verify(payload, audience, tag):
            return None
        action, colon, arg = payload.partition(":")
        return (action, arg) if colon else None


@dataclass(slots=True)
class SelfCheck:
    """Where someone is in the self-check and their running score. Memory only, and dropped
    at the end: the score is never stored, logged or sent anywhere but to them."""

    started_at: datetime
    step: int = 0  # 0: the opening question; 1-5: the screen's items
    score: int = 0


@dataclass(slots=True)
class Intake:
    """An officer's answers so far, while they fill in a request. Memory only."""

    started_at: datetime
    category: Category | None = None
    wanted: Wanted | None = None
    outside_agency: bool = False
    preferred: MemberId | None = None
    awaiting_note: bool = False


@dataclass(frozen=True, slots=True)
class FollowupAsk:
    """A helper asked to check in on their officer later; the officer has yet to say yes."""

    officer_id: MemberId
    helper_id: MemberId
    alias: str
    category: Category
    outside_agency: bool
    days: int


@dataclass
class Services:
    config: Config
    repo: Repository
    messenger: Messenger
    vault: Vault
    relay: RelayEngine
    catalogs: Catalogs
    clock: Clock
    codec: ChoiceCodec
    # Last numbered options shown to each address (by lookup hash), so "2" can answer them.
    numbered: dict[bytes, tuple[Choice, ...]] = field(default_factory=dict)
    # Options of recent messages by (address hash, message id): a number sent as a reply to
    # one of them answers that message, even inside a conversation (Signal has no buttons).
    options_of: OrderedDict[tuple[bytes, str], tuple[Choice, ...]] = field(
        default_factory=OrderedDict
    )
    intakes: dict[MemberId, Intake] = field(default_factory=dict)
    selfchecks: dict[MemberId, SelfCheck] = field(default_factory=dict)
    # An officer's few words about the incident, shown in offers and never stored.
    notes: dict[RequestId, str] = field(default_factory=dict)
    # Why recently closed requests closed ("taken" or "closed"), so a late press on an old offer
    # gets the right answer. Memory only, bounded.
    closed: dict[RequestId, str] = field(default_factory=dict)
    # One-time tokens of rating prompts not yet answered (memory only).
    rating_tokens: dict[str, None] = field(default_factory=dict)
    # What happened since the last hourly report (matched, closed, ...): logged as totals so
    # that no log line dates a particular match or close.
    tally: Counter[str] = field(default_factory=Counter)
    # Held by every step that changes an open request (clock tick, accept, decline, cancel).
    matching_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # A helper's "check in with them later?" while the officer has not answered (memory only).
    followup_asks: dict[str, FollowupAsk] = field(default_factory=dict)
    # Told when a follow-up falls due earlier than the scheduler's next wake-up (app.py sets it).
    followups_changed: Callable[[datetime], None] = lambda _due: None
    # What to tell a member on their next message, because it could not reach them when it
    # happened (e.g. why they were set away). Memory only.
    owed: dict[MemberId, str] = field(default_factory=dict)
    # A coordinator's /incident AGENCY while they choose whom to page (memory only).
    incident_drafts: dict[MemberId, tuple[str, int]] = field(default_factory=dict)
    # Incidents whose coordinators were told that nobody is left to page (said once each).
    incidents_exhausted: set[str] = field(default_factory=set)
    # First delay, in seconds, between tries of a notice that must not be lost.
    notice_retry: float = 0.5
    # Each chat's own command menu, set in the background (handlers/menus.py says which).
    menus: MenuKeeper = field(default_factory=MenuKeeper)
    # The routing index of the helpers it was built from (memory only), kept while the
    # repository serves the very same tuple of helpers, i.e. while nothing was committed.
    helper_roster: tuple[tuple[Member, ...], Roster] | None = None

    @property
    def text(self) -> Catalog:
        """The catalog in the program's default language (for someone not yet a member)."""
        return self.catalogs.default

    def text_for(self, member: Member | None) -> Catalog:
        """The catalog in `member`'s language: pick it for every message, per recipient."""
        return self.catalogs.get(member.language if member is not None else None)

    def remember_closed(self, request_id: RequestId, why: str) -> None:
        self.closed[request_id] = why
        while len(self.closed) > 1000:
            del self.closed[next(iter(self.closed))]

    def audience(self, address: Address) -> bytes:
        return self.repo.address_hash(address)

    def choice(self, label: str, action: str, arg: str, to: Address) -> Choice:
        return Choice(label=label, data=self.codec.encode(action, arg, self.audience(to)))

    async def send(self, to: Address, reply: Reply, *, crisis: bool = False) -> Sent:
        """Send a screen to anyone. Remembers numbered options so they can be answered by
        number. An officer's screen always carries a crisis line or a button to them, and so
        does a helper's while they ask for their own debrief, or when `crisis` says so (the
        screens that open and close that path)."""
        reply = await self._as_shown(to, reply, crisis=crisis)
        sent = await self.messenger.send(to, reply)
        key = self.audience(to)
        if reply.choices:
            self.numbered[key] = reply.choices
        else:
            self.numbered.pop(key, None)
        self._remember_options(key, sent.message_id, reply.choices)
        return sent

    def _remember_options(self, key: bytes, message_id: str, choices: tuple[Choice, ...]) -> None:
        if not choices:
            self.options_of.pop((key, message_id), None)
            return
        self.options_of[(key, message_id)] = choices
        while len(self.options_of) > _REMEMBERED_OPTIONS:
            self.options_of.popitem(last=False)

    async def _as_shown(self, to: Address, reply: Reply, *, crisis: bool) -> Reply:
        """On Signal, how to answer the choices in the reader's language; and for an asker,
        a crisis line or a button to them."""
        hints = to.platform is Platform.SIGNAL and bool(reply.choices) and not reply.hints
        missing = not self._crisis_shown(to, reply)
        if not hints and not missing:
            return reply
        member = await self.repo.member_by_address(to)
        text = self.text_for(member)
        if hints:
            reply = replace(reply, hints=(text.signal_choose_hint, text.signal_crisis_hint))
        if not missing or member is None or not (crisis or await self.asking(member)):
            return reply
        if to.platform is Platform.SIGNAL:
            # No buttons on Signal: the line itself, whose number the app makes tappable.
            return replace(reply, text=f"{reply.text}\n\n{text.crisis_footer}")
        button = self.choice(text.crisis_button, "crisis", "", to)
        return replace(reply, choices=(*reply.choices, button))

    async def asking(self, member: Member) -> bool:
        """Someone asking for help right now: an officer, a family member or a retiree always;
        a helper while their own debrief is asked for or under way."""
        if member.asks:
            return True
        if member.role not in HELPER_ROLES:
            return False
        if any(t.officer_id == member.id for t in self.relay.threads_of(member.id)):
            return True
        return any(r.officer_id == member.id for r in await self.repo.open_requests())

    def _crisis_shown(self, to: Address, reply: Reply) -> bool:
        if any(line.contact in reply.text for line in self.config.crisis.lines):
            return True
        return any(self._is_crisis_choice(c, to) for c in reply.choices)

    def _is_crisis_choice(self, choice: Choice, to: Address) -> bool:
        decoded = self.codec.decode(choice.data, self.audience(to))
        return decoded is not None and decoded[0] == "crisis"

    async def try_send(self, to: Address, reply: Reply, *, crisis: bool = False) -> Sent | None:
        """Send where failure must not stop the caller (it is logged, without content)."""
        try:
            return await self.send(to, reply, crisis=crisis)
        except DeliveryError as exc:
            log.warning("notice not delivered (permanent=%s)", exc.permanent)
            return None

    async def notice(self, to: Address, reply: Reply, *, crisis: bool = False) -> bool:
        """Tell someone what they must not miss (their message was not delivered, their
        conversation closed): tried again and again until it goes out. Gives up only when the
        person cannot be reached at all (False). While the transport is stopping, raises
        `NotHandledError`: the event that led here stays unconfirmed and comes back after the
        restart, so nobody is left in silence. `crisis` as for `send`."""
        attempt = 0
        while True:
            try:
                await self.send(to, reply, crisis=crisis)
            except DeliveryError as exc:
                if exc.stopped:
                    raise NotHandledError from None
                if exc.permanent:
                    log.warning("notice not delivered: the person cannot be reached")
                    return False
                attempt += 1
                log.warning("notice not delivered yet (try %d); trying again", attempt)
                await asyncio.sleep(backoff(attempt, self.notice_retry))
            else:
                return True

    async def try_edit(self, sent: Sent, reply: Reply) -> None:
        if sent.address.platform is Platform.SIGNAL and reply.choices and not reply.hints:
            text = self.text_for(await self.repo.member_by_address(sent.address))
            reply = replace(reply, hints=(text.signal_choose_hint, text.signal_crisis_hint))
        try:
            await self.messenger.edit(sent, reply)
        except DeliveryError as exc:
            log.warning("edit not delivered (permanent=%s)", exc.permanent)
            return
        self._remember_options(self.audience(sent.address), sent.message_id, reply.choices)


@dataclass(frozen=True, slots=True)
class Turn:
    """One incoming event from a known member."""

    event: Incoming
    member: Member
    services: Services

    @property
    def text(self) -> Catalog:
        """The catalog in the language of the person this turn answers."""
        return self.services.text_for(self.member)

    @property
    def now(self) -> datetime:
        return self.services.clock()

    async def say(
        self,
        text: str,
        choices: tuple[Choice, ...] = (),
        columns: int = 1,
        *,
        crisis: bool = False,
    ) -> Sent:
        reply = Reply(text, choices, columns)
        return await self.services.send(self.event.address, reply, crisis=crisis)

    def choice(self, label: str, action: str, arg: str = "") -> Choice:
        return self.services.choice(label, action, arg, self.event.address)


Handler = Callable[[Turn], Awaitable[None]]
ChoiceHandler = Callable[[Turn, str], Awaitable[None]]
