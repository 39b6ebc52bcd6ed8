"""The entry point for every normalized event: who is this, and which handler answers."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bot.catalog import Catalog
from bot.delivery import NotHandledError, Priority, StrangerGate, sending
from bot.events import DeliveryError, Incoming, Kind, Reply
from bot.i18n import supported
from bot.logs import where
from bot.model import Member
from crypto import normalize_invite_code
from handlers import (
    aftercare,
    common,
    coordination,
    debrief,
    followups,
    helper,
    identity,
    incidents,
    intake,
    matching,
    menus,
    offers,
    onboarding,
    program,
    resources,
    thread,
    transfer,
)
from handlers.base import Services, Turn
from handlers.router import Router, permits

log = logging.getLogger(__name__)

REPORT_EVERY = timedelta(hours=1)

_MAX_LOCKS = 4096
_REMEMBERED_EVENTS = 10_000
_DEDUPED = frozenset({Kind.TEXT, Kind.COMMAND, Kind.MEDIA})
# A stranger (or a revoked member) is answered at most once per window, and may try an invite
# code a few times per window: a flood from many accounts then costs one answer each.
STRANGER_WINDOW = 300.0
CODE_TRIES_PER_WINDOW = 3


def _code_alone_as_start(
    event: Incoming, member: Member | None, talking: Callable[[Member], bool]
) -> Incoming:
    """The code alone (or "start CODE") as a first message joins too: Signal has no deep
    links, and there commands also work without the slash. A member who sends a code again
    outside a conversation (their welcome was lost, say) is told they are signed up, as
    "/start CODE" is answered; inside one, whatever they type is theirs to relay."""
    if event.kind is not Kind.TEXT or (member is not None and not member.active):
        return event
    code = _typed_code(event.text)
    if not code or (member is not None and talking(member)):
        return event
    return replace(event, kind=Kind.COMMAND, command="start", args=code, text="")


def _may_join(event: Incoming) -> bool:
    """Could this event make its sender a member (so it must reach the database)?"""
    if event.kind is Kind.IDENTITY or (event.kind is Kind.COMMAND and event.command == "start"):
        return True
    return event.kind is Kind.TEXT and bool(_typed_code(event.text))


def build_router() -> Router:
    router = Router()
    for module_router in (
        aftercare.router,
        common.router,
        coordination.router,
        debrief.router,
        followups.router,
        helper.router,
        incidents.router,
        intake.router,
        offers.router,
        program.router,
        resources.router,
        thread.router,
        transfer.router,
    ):
        router.include(module_router)
    return router


def _typed_code(text: str) -> str:
    """`text` if it is an invite code, alone or after the word "start"; else ""."""
    words = text.split(maxsplit=1)
    if len(words) == 2 and words[0].lower() == "start":
        text = words[1]
    return text if normalize_invite_code(text) else ""


class Dispatcher:
    def __init__(self, services: Services, router: Router | None = None) -> None:
        self.services = services
        self.router = router or build_router()
        # One lock per person keeps their events in order when transports run concurrently.
        self._locks: OrderedDict[bytes, asyncio.Lock] = OrderedDict()
        # Platform message ids seen lately: an update delivered twice is handled once.
        self._seen: OrderedDict[tuple[bytes, str], None] = OrderedDict()
        self.strangers = StrangerGate(STRANGER_WINDOW)
        self.code_tries = StrangerGate(STRANGER_WINDOW, allowance=CODE_TRIES_PER_WINDOW)
        self._answers: set[asyncio.Task[None]] = set()  # answers to strangers, in flight
        self._next_report: datetime | None = None  # the next hourly report and sweep

    def _lock_for(self, key: bytes) -> asyncio.Lock:
        lock = self._locks.pop(key, None) or asyncio.Lock()
        self._locks[key] = lock
        while len(self._locks) > _MAX_LOCKS:
            oldest_key, oldest = next(iter(self._locks.items()))
            if oldest.locked():
                break
            del self._locks[oldest_key]
        return lock

    def _is_duplicate(self, key: bytes, event: Incoming) -> bool:
        if event.kind not in _DEDUPED or not event.message_id:
            return False
        seen = (key, event.message_id)
        if seen in self._seen:
            return True
        self._seen[seen] = None
        if len(self._seen) > _REMEMBERED_EVENTS:
            self._seen.popitem(last=False)
        return False

    async def handle(self, event: Incoming) -> None:
        key = self.services.audience(event.address)
        if self._is_duplicate(key, event):
            log.info("duplicate update dropped")
            return
        async with self._lock_for(key):
            try:
                await self._handle(event, key)
            except NotHandledError:
                raise  # the transport leaves it unconfirmed; it comes back after the restart
            except Exception as exc:
                # Never the content: the event's repr carries only kind and command, and the
                # exception is named by type and place, not by its message.
                log.error("handler failed for %r: %s at %s", event, type(exc).__name__, where(exc))
                text = await self._text_after_failure(event)
                await self.services.notice(event.address, Reply(text.something_went_wrong))

    async def _text_after_failure(self, event: Incoming) -> Catalog:
        """The catalog to say "something went wrong" in: the member's language if their record
        can be read (it may be what failed), else their app's (Telegram), else the program's."""
        try:
            member = await self.services.repo.member_by_address(event.address)
        except Exception as exc:
            log.warning("no language for the failure notice: %s", type(exc).__name__)
            member = None
        if member is not None:
            return self.services.text_for(member)
        return self.services.catalogs.get(supported(event.language))

    async def _handle(self, event: Incoming, key: bytes) -> None:
        services = self.services
        if self.strangers.refusing(key) and not _may_join(event):
            # Already answered this window and not trying to join: dropped before the database
            # is asked, so a flood does not queue lookups ahead of a relay's.
            self.strangers.allow(key)  # counted as not answered
            return
        member = await services.repo.member_by_address(event.address)
        if event.kind is Kind.IDENTITY:
            await identity.identity_changed(services, event, member)
            return
        event = _code_alone_as_start(
            event, member, lambda m: bool(services.relay.threads_of(m.id))
        )
        is_start = event.kind is Kind.COMMAND and event.command == "start"
        if member is None or not member.active:
            await self._outsider(event, key, member, is_start=is_start)
            return
        # Their role, rights or language may have changed since (the CLI, another process).
        menus.keep(services, member, key)
        if is_start:
            await onboarding.start(services, event, member)
            return
        if (owed := services.owed.pop(member.id, None)) is not None:
            await services.try_send(event.address, Reply(owed))
        await self._for_member(Turn(event=event, member=member, services=services))

    async def _for_member(self, turn: Turn) -> None:
        event = turn.event
        if event.kind is Kind.CHOICE:
            await self._choice(turn, event.choice)
        elif event.kind is Kind.COMMAND:
            await self._command(turn)
        elif event.kind is Kind.MEDIA:
            await thread.relay_media(turn)
        elif event.kind is Kind.EDIT:
            await thread.relay_edit(turn)
        elif event.kind is Kind.DELETE:
            await thread.relay_delete(turn)
        elif (numbered := self._numbered_choice(turn)) is not None:
            await self._choice(turn, numbered)
        elif intake.awaiting_note(turn):
            await intake.take_note(turn)
        else:
            await thread.relay_text(turn)

    async def _outsider(
        self, event: Incoming, key: bytes, member: Member | None, *, is_start: bool
    ) -> None:
        """A stranger or a revoked member: a few tries of an invite code, and one answer per
        window to anything else."""
        if is_start and event.args and member is None:
            if self.code_tries.allow(key):
                with sending(Priority.BACKGROUND):
                    await onboarding.start(self.services, event, member)
                self.strangers.forget(key)  # joined, or may yet: ask the database next time
        elif is_start and member is not None:
            menus.remove(self.services, event.address, key)
            await onboarding.start(self.services, event, member)
        elif self.strangers.allow(key):
            if member is not None or event.kind is Kind.COMMAND:
                # Revoked, or a command from a menu an ex-member still has: back to /start.
                menus.remove(self.services, event.address, key)
            self._answer_stranger(event)

    def _answer_stranger(self, event: Incoming) -> None:
        """Sent in the background and last in line: the stranger's chat is free at once, and
        relays and crisis lines go first when the rate limit binds."""

        async def answer() -> None:
            with sending(Priority.BACKGROUND):
                try:
                    # In the stranger's app language, where there is a catalog for it.
                    text = self.services.catalogs.get(supported(event.language))
                    await self.services.messenger.send(event.address, Reply(text.not_member))
                except DeliveryError as exc:
                    log.info("stranger not answered (permanent=%s)", exc.permanent)

        task = asyncio.create_task(answer(), name="stranger-answer")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    def _numbered_choice(self, turn: Turn) -> str | None:
        """A bare number answers the options of the message it replies to, else the options
        shown last, unless the person is in a thread: there, every text that is not a reply to
        a message with options is theirs to say and is relayed as is."""
        answer = turn.event.text.strip()
        if not answer.isdigit():
            return None
        key = self.services.audience(turn.event.address)
        options = self.services.options_of.get((key, turn.event.reply_to_id))
        if options is None:
            if self.services.relay.threads_of(turn.member.id):
                return None
            options = self.services.numbered.get(key, ())
        index = int(answer) - 1
        return options[index].data if 0 <= index < len(options) else None

    async def tick(self) -> None:
        """Move the contact clock of every open request (called by the scheduler)."""
        try:
            with sending(Priority.BACKGROUND):
                await thread.end_with_the_gone(self.services)
        except Exception as exc:
            log.error("revoked members' sweep failed: %s at %s", type(exc).__name__, where(exc))
        try:
            with sending(Priority.BACKGROUND):  # status updates yield to relays
                await matching.tick(self.services)
        except Exception as exc:
            log.error("contact clock tick failed: %s at %s", type(exc).__name__, where(exc))
        try:
            with sending(Priority.BACKGROUND):
                await incidents.tick(self.services)
        except Exception as exc:
            log.error("incident pages tick failed: %s at %s", type(exc).__name__, where(exc))
        await self.hourly()
        try:
            # A checkpoint a reader kept busy is retried here, outside every lock.
            await self.services.repo.fold_wal_if_due()
        except Exception as exc:
            log.error("WAL checkpoint failed: %s at %s", type(exc).__name__, where(exc))

    async def hourly(self) -> None:
        """Once an hour (on the clock tick): the totals since the last report, and every
        "same person next time" past its date forgotten."""
        now = self.services.clock()
        if self._next_report is None:
            self._next_report = now + REPORT_EVERY
            return
        if now < self._next_report:
            return
        self._next_report = now + REPORT_EVERY
        tally = self.services.tally
        if tally:
            summary = ", ".join(f"{name}: {count}" for name, count in sorted(tally.items()))
            log.info("in the last hour: %s", summary)
            tally.clear()
        try:
            await self.services.repo.forget_links(today=now.date())
        except Exception as exc:
            log.error("private records sweep failed: %s at %s", type(exc).__name__, where(exc))

    async def dispatch_followups(self) -> int:
        """Send the check-ins that are due (called by the scheduler); how many went out."""
        try:
            with sending(Priority.BACKGROUND):  # a backlog of check-ins yields to relays
                return await followups.dispatch_due(self.services)
        except Exception as exc:
            log.error("check-in dispatch failed: %s at %s", type(exc).__name__, where(exc))
            return 0

    async def _command(self, turn: Turn) -> None:
        route = self.router.commands.get(turn.event.command)
        if route is None:
            await turn.say(turn.text.unknown_command)
        elif not permits(route.roles, turn.member):
            await turn.say(turn.text.not_for_role)
        else:
            await route.handler(turn)

    async def _choice(self, turn: Turn, data: str) -> None:
        decoded = self.services.codec.decode(data, self.services.audience(turn.event.address))
        route = self.router.choices.get(decoded[0]) if decoded else None
        if decoded is None or route is None or not permits(route.roles, turn.member):
            log.info("refused choice data (forged, foreign or stale)")
            await turn.say(turn.text.choice_expired)
            return
        await route.handler(turn, decoded[1])
