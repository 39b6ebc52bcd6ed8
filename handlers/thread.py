"""Inside a thread: text, media and edits relayed both ways under a pseudonym; /threads,
/switch and /end. A message that could belong to more than one thread is refused, never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.catalog import Catalog
from bot.delivery import Priority, sending
from bot.events import (
    CAPTIONED_MEDIA,
    MEDIA_KINDS,
    Choice,
    DeliveryError,
    NotRelayableError,
    Reply,
    Sent,
)
from bot.followups import FollowUp
from bot.i18n import listing
from bot.model import (
    HEAVY_CATEGORIES,
    HELPER_ROLES,
    Category,
    Member,
    Thread,
    ThreadId,
    Wanted,
)
from bot.relay import Ambiguous, Deliver, UnknownReply
from bot.storage.repository import RequestRecord, new_request_id
from handlers import aftercare, followups, matching
from handlers.base import Services, Turn
from handlers.router import Router

log = logging.getLogger(__name__)
router = Router()

# Telegram refuses texts over 4096 characters; leave room for the header.
MAX_CHUNK = 3800
# Media kinds the relay carries (copied as they are, caption included).
RELAYED_MEDIA = frozenset(MEDIA_KINDS)
# Telegram refuses captions over 1024 characters; a longer one travels as text after the media.
CAPTION_LIMIT = 1024


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_CHUNK) -> list[str]:
    """Split long text into pieces under `limit` units, preferring line and word breaks."""
    pieces: list[str] = []
    rest = text
    while units(rest) > limit:
        hard = _fit(rest, limit)
        cut = rest.rfind("\n", 0, hard)
        if cut < hard // 2:
            cut = rest.rfind(" ", 0, hard)
        if cut < hard // 2:
            cut = hard
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return pieces


def header_for(
    services: Services, thread: Thread, sender: Member, recipient: Member, *, edited: bool = False
) -> str:
    """What the recipient sees above a relayed message: never the sender's real identity."""
    text = services.text_for(recipient)
    if sender.id == thread.officer_id:  # the side that asked, whatever their role
        line = text.header_edited_to_helper if edited else text.header_to_helper
        return line.format(alias=thread.officer_alias, tag=thread.tag)
    line = text.header_edited_to_officer if edited else text.header_to_officer
    return line.format(name=sender.display_name)


def seen_as(text: Catalog, thread: Thread, viewer: Member) -> str:
    """How a thread is named to `viewer`: by the asker's nickname, but a helper's own debrief
    (where they are the one asking) as their debrief."""
    return text.thread_own_debrief if thread.officer_id == viewer.id else thread.officer_alias


async def _destination(turn: Turn) -> tuple[Deliver, Member] | None:
    """Where this message goes, or None after telling the sender why it went nowhere."""
    services = turn.services
    route = services.relay.route(turn.member.id, turn.event.reply_to_id)
    # A message that goes nowhere: its sender is told, however long that takes.
    if isinstance(route, Ambiguous):
        text = turn.text
        lines = listing(
            text,
            (
                text.thread_line.format(tag=t.tag, alias=seen_as(text, t, turn.member))
                for t in route.threads
            ),
        )
        line = text.ambiguous.format(count=len(route.threads), threads=lines)
        await services.notice(turn.event.address, Reply(line))
        return None
    if isinstance(route, UnknownReply):
        await services.notice(turn.event.address, Reply(turn.text.reply_unknown))
        return None
    if not isinstance(route, Deliver):
        await _not_in_thread(turn, went_nowhere=True)
        return None
    recipient = await services.repo.member(route.to)
    if recipient is None or not recipient.active:
        await _recipient_gone(services, route.thread, turn.member, left=True)
        return None
    return route, recipient


async def relay_text(turn: Turn) -> None:
    found = await _destination(turn)
    if found is None:
        return
    route, recipient = found
    services = turn.services
    header = header_for(services, route.thread, turn.member, recipient)

    async def send_text(sent_ids: list[str]) -> None:
        for piece in split_text(turn.event.text):
            sent = await services.messenger.send(recipient.address, Reply(f"{header}\n{piece}"))
            sent_ids.append(sent.message_id)

    await _relay(turn, route, recipient, send_text)


async def relay_media(turn: Turn) -> None:
    if turn.event.media_kind not in RELAYED_MEDIA:
        if turn.services.relay.threads_of(turn.member.id):
            await turn.say(turn.text.media_not_relayed)
        else:
            await _not_in_thread(turn)
        return
    found = await _destination(turn)
    if found is None:
        return
    route, recipient = found
    services = turn.services
    header = header_for(services, route.thread, turn.member, recipient)
    caption = None
    overflow = ""
    if turn.event.media_kind in CAPTIONED_MEDIA:
        caption = f"{header}\n{turn.event.text}" if turn.event.text else header
        if units(caption) > CAPTION_LIMIT:
            caption, overflow = header, turn.event.text

    async def send_media(sent_ids: list[str]) -> None:
        if caption is None:  # stickers, locations, contacts: the header goes just before
            sent = await services.messenger.send(recipient.address, Reply(header))
            sent_ids.append(sent.message_id)
        copy = await services.messenger.copy(
            recipient.address, turn.event.address, turn.event.message_id, caption=caption
        )
        sent_ids.append(copy.message_id)
        for piece in split_text(overflow) if overflow else []:
            sent = await services.messenger.send(recipient.address, Reply(f"{header}\n{piece}"))
            sent_ids.append(sent.message_id)

    await _relay(turn, route, recipient, send_media)


async def _relay(
    turn: Turn,
    route: Deliver,
    recipient: Member,
    send_pieces: Callable[[list[str]], Awaitable[None]],
) -> None:
    """Run one relay, remember every copy it made (even when a later piece fails), and tell the
    sender when delivery failed."""
    sent_ids: list[str] = []
    try:
        with sending(Priority.RELAY):
            await send_pieces(sent_ids)
    except NotRelayableError:
        # A sticker or a location for someone on another platform: say so, plainly.
        await turn.services.try_send(turn.event.address, Reply(turn.text.media_cannot_cross))
    except DeliveryError as exc:
        await _not_delivered(turn, route.thread, exc)
    finally:
        if sent_ids:
            turn.services.relay.relayed(
                route.thread.id,
                turn.member.id,
                turn.event.message_id,
                recipient.id,
                tuple(sent_ids),
            )


async def relay_edit(turn: Turn) -> None:
    """An edited message: the relayed copy is edited too, while the thread remembers it."""
    services = turn.services
    remembered = services.relay.copies(turn.member.id, turn.event.message_id)
    if remembered is None:
        await turn.say(turn.text.edit_not_relayed)
        return
    thread, copy_ids = remembered
    recipient = await services.repo.member(thread.other(turn.member.id))
    if recipient is None:
        await turn.say(turn.text.edit_not_relayed)
        return
    header = header_for(services, thread, turn.member, recipient)
    is_caption = turn.event.media_kind in CAPTIONED_MEDIA
    body = f"{header}\n{turn.event.text}" if turn.event.text else header
    limit = CAPTION_LIMIT if is_caption else MAX_CHUNK + units(header) + 1
    try:
        with sending(Priority.RELAY):
            if len(copy_ids) == 1 and units(body) <= limit:
                await services.messenger.edit_copy(
                    Sent(recipient.address, copy_ids[0]), body, is_caption=is_caption
                )
            else:  # a long text sent in pieces: send the corrected version as a new message
                edited = header_for(services, thread, turn.member, recipient, edited=True)
                for piece in split_text(turn.event.text):
                    await services.messenger.send(recipient.address, Reply(f"{edited}\n{piece}"))
    except DeliveryError as exc:
        log.warning("edit not relayed (permanent=%s)", exc.permanent)
        await services.notice(turn.event.address, Reply(turn.text.edit_not_relayed))


async def relay_delete(turn: Turn) -> None:
    """A person deleted a message for everyone: the relayed copies go too, where the other
    side's platform still allows it. Nothing is said when it works, as in any chat."""
    services = turn.services
    remembered = services.relay.copies(turn.member.id, turn.event.message_id)
    if remembered is None:
        return  # never relayed (a command, a reply to the bot) or forgotten: nothing to do
    thread, copy_ids = remembered
    recipient = await services.repo.member(thread.other(turn.member.id))
    if recipient is None:
        return
    failed = 0
    for copy_id in copy_ids:
        try:
            await services.messenger.delete(Sent(recipient.address, copy_id))
        except DeliveryError as exc:
            log.warning("deletion not relayed (permanent=%s)", exc.permanent)
            failed += 1
    if failed:
        await turn.say(turn.text.delete_not_relayed)


async def _not_delivered(turn: Turn, thread: Thread, exc: DeliveryError) -> None:
    log.warning("relay not delivered (permanent=%s)", exc.permanent)
    if exc.permanent:
        await _recipient_gone(turn.services, thread, turn.member)
    else:
        # Told however long it takes: a message handed over is delivered or its sender told.
        await turn.services.notice(turn.event.address, Reply(turn.text.not_delivered))


async def end_with_the_gone(services: Services) -> int:
    """Every live conversation with someone revoked or erased since it began (from the chat, the
    CLI or a roster import, another process): closed, and the one still here told, as when a
    message of theirs finds the other side gone. Called with the contact clock's tick, and at
    once after /revoke. How many closed."""
    threads = list(services.relay.threads.values())
    if not threads:
        return 0
    members = {m for t in threads for m in (t.officer_id, t.helper_id)}
    active = await services.repo.active_among(members)
    closed = 0
    for thread in threads:
        here = [m for m in (thread.officer_id, thread.helper_id) if m in active]
        if len(here) == 2:
            continue
        stays = await services.repo.member(here[0]) if here else None
        if stays is not None:
            await _recipient_gone(services, thread, stays, left=True)
        elif services.relay.close(thread.id) is not None:  # both gone: nobody to tell
            await services.repo.shred_thread(thread.id)
        closed += 1
    return closed


async def _recipient_gone(
    services: Services, thread: Thread, sender: Member, *, left: bool = False
) -> None:
    """The other side blocked the bot (or `left`: revoked or erased): close the thread, tell
    the sender, and find the officer someone new if it was the helper who is gone."""
    if services.relay.close(thread.id) is None:
        return  # already closed or handed over while the send was under way
    await services.repo.shred_thread(thread.id)
    text = services.text_for(sender)
    if sender.id == thread.officer_id:
        helper = await services.repo.member(thread.helper_id)
        # The one who asked (a helper too, for their own debrief) keeps a crisis line at hand
        # while nothing of theirs is open, before their request is opened again below.
        if left:  # no name: an erased helper has none left to show
            await services.notice(sender.address, Reply(text.helper_left), crisis=True)
        else:
            # Unreachable: no more offers until they say /available again, and told why on
            # their next message (they cannot be told now).
            await services.repo.set_away(thread.helper_id, None)
            owed = services.text_for(helper).set_away_unreachable
            services.owed[thread.helper_id] = owed.format(
                alias=thread.officer_alias, tag=thread.tag
            )
            name = helper.display_name if helper else ""
            notice = text.helper_unreachable.format(name=name)
            await services.notice(sender.address, Reply(notice), crisis=True)
        record = RequestRecord(
            id=new_request_id(),
            officer_id=sender.id,
            category=thread.category,
            wanted=_again_wanted(thread, helper),
            outside_agency=thread.outside_agency,
            urgent=thread.urgent,
            created_at=services.clock(),
        )
        if await matching.open_request_of(services, sender.id) is None:
            await matching.open_request(services, sender, record)
    else:
        if not left:  # told on their next message; someone revoked is told nothing more
            officer = await services.repo.member(thread.officer_id)
            owed = services.text_for(officer).closed_unreachable
            services.owed[thread.officer_id] = owed.format(name=sender.display_name)
        notice = text.officer_unreachable.format(alias=thread.officer_alias, tag=thread.tag)
        await services.notice(sender.address, Reply(notice))
    services.tally["closed, other side left" if left else "closed, other side unreachable"] += 1


def _again_wanted(thread: Thread, gone: Member | None) -> Wanted:
    """Whom to look for when the helper is gone: anyone free first, but a debrief stays with
    the gone helper's kind (a clinician or a chaplain)."""
    kinds = {Wanted.CLINICIAN.value, Wanted.CHAPLAIN.value}
    if thread.category is Category.DEBRIEF and gone is not None and gone.role.value in kinds:
        return Wanted(gone.role.value)
    return Wanted.EITHER


async def _not_in_thread(turn: Turn, *, went_nowhere: bool = False) -> None:
    """Say there is no conversation. `went_nowhere`: the person wrote to someone who is not
    there any more; they must not miss it, so it is tried until it goes out, like "not
    delivered"."""
    if turn.member.asks:
        if await matching.open_request_of(turn.services, turn.member.id) is not None:
            line = turn.text.still_finding  # e.g. their helper became unreachable
        else:
            line = turn.text.not_in_thread_officer
    else:
        line = turn.text.not_in_thread_helper
    if went_nowhere:
        await turn.services.notice(turn.event.address, Reply(line))
    else:
        await turn.say(line)


@router.command("threads", roles=HELPER_ROLES)
async def threads(turn: Turn) -> None:
    services = turn.services
    mine = services.relay.threads_of(turn.member.id)
    if not mine:
        await _not_in_thread(turn)
        return
    chosen = services.relay.selected(turn.member.id)
    text = turn.text
    lines = "\n".join(
        (
            text.thread_line_current
            if chosen is not None and chosen.id == t.id
            else text.thread_line
        ).format(tag=t.tag, alias=seen_as(text, t, turn.member))
        for t in mine
    )
    await turn.say(text.threads_list.format(lines=lines))


@router.command("switch", roles=HELPER_ROLES)
async def switch(turn: Turn) -> None:
    services = turn.services
    thread = services.relay.by_tag(turn.member.id, turn.event.args)
    if thread is None:
        await turn.say(turn.text.switch_unknown)
        return
    services.relay.select(turn.member.id, thread.id)
    alias = seen_as(turn.text, thread, turn.member)
    await turn.say(turn.text.switch_done.format(alias=alias, tag=thread.tag))


@router.command("end")
async def end(turn: Turn) -> None:
    services = turn.services
    if turn.event.args:
        thread = services.relay.by_tag(turn.member.id, turn.event.args)
        if thread is None:
            await turn.say(turn.text.switch_unknown)
            return
        await close_thread(services, thread, closed_by=turn.member)
        return
    route = services.relay.route(turn.member.id, turn.event.reply_to_id)
    if isinstance(route, UnknownReply):
        route = services.relay.route(turn.member.id)  # /end names no message: ignore the reply
    if isinstance(route, Deliver):
        await close_thread(services, route.thread, closed_by=turn.member)
    elif isinstance(route, Ambiguous):
        choices = tuple(
            turn.choice(
                turn.text.end_button.format(tag=t.tag, alias=seen_as(turn.text, t, turn.member)),
                "end",
                t.id,
            )
            for t in route.threads
        )
        await turn.say(turn.text.end_which, choices)
    else:
        await _not_in_thread(turn)


@router.choice("end")
async def end_chosen(turn: Turn, arg: str) -> None:
    thread = turn.services.relay.threads.get(ThreadId(arg))
    if thread is None or turn.member.id not in (thread.officer_id, thread.helper_id):
        await turn.say(turn.text.switch_unknown)
        return
    await close_thread(turn.services, thread, closed_by=turn.member)


async def close_thread(
    services: Services, thread: Thread, *, closed_by: Member, ask_rating: bool = True
) -> None:
    """Close a thread: forget it in memory, shred its key, tell both sides, and ask the
    officer for an anonymous rating. A hand-over still searching goes on if the helper
    left, and stops if the officer ended the conversation."""
    async with services.matching_lock:  # never between a hand-over's accept and its close
        if services.relay.close(thread.id) is None:
            return  # closed or handed over a moment ago
        await services.repo.shred_thread(thread.id)
        hand_over = await _pending_hand_over(services, thread)
        if hand_over is not None and closed_by.id == thread.officer_id:
            await matching.close_request(services, hand_over, lambda t: t.offer_closed)
            hand_over = None
        elif hand_over is not None:
            await services.repo.clear_transfer(hand_over.id)
        plan = None if hand_over is not None else await _plan_check_ins(services, thread)
    services.tally["closed"] += 1
    debrief = thread.category is Category.DEBRIEF
    if thread.urgent or thread.category in HEAVY_CATEGORIES:
        until = services.clock() + services.config.routing.cooldown_after_urgent
        await services.repo.set_cooldown(thread.helper_id, until)
    other = await services.repo.member(thread.other(closed_by.id))
    officer: Member | None = closed_by if closed_by.id == thread.officer_id else other
    helper: Member | None = other if officer is closed_by else closed_by
    if officer is not None and helper is not None:
        # The closing screen leads with "nothing was kept", /talk and the crisis line; the
        # rating comes next, with the private "same person next time" and "not again" last.
        text = services.text_for(officer)
        if debrief:
            # A helper's own debrief: no rating, no "same person next time".
            closed = text.debrief_closed if officer is closed_by else text.debrief_ended
            officer_reply = Reply(closed.format(name=helper.display_name))
            ask_rating = False
        elif officer is closed_by:
            officer_reply = Reply(text.thread_closed_officer)
        elif hand_over is not None:
            who = matching.who_phrase(text, hand_over.wanted)
            notice = text.handover_continues.format(name=helper.display_name, who=who)
            officer_reply = Reply(notice)
            ask_rating = False  # their conversation goes on with someone else
        else:
            notice = text.thread_ended_by_other_officer.format(name=helper.display_name)
            officer_reply = Reply(notice)
        await services.try_send(officer.address, officer_reply, crisis=debrief)
        if ask_rating:
            await aftercare.ask_rating(
                services, officer, _after_choices(services, helper, officer)
            )
    if helper is not None:
        await _tell_helper_closed(services, thread, helper, by_them=helper is closed_by)
    if officer is not None and hand_over is None:
        # Check-ins: the plan for the topic (stored above), and the helper's offer.
        await followups.after_conversation(services, thread, officer, helper, plan)


async def _plan_check_ins(services: Services, thread: Thread) -> FollowUp | None:
    """The officer's check-ins, stored with the close and before anyone is told of it, so a
    crash in between cannot lose them."""
    officer = await services.repo.member(thread.officer_id)
    return None if officer is None else await followups.plan_after(services, thread, officer)


async def _tell_helper_closed(
    services: Services, thread: Thread, helper: Member, *, by_them: bool
) -> None:
    text = services.text_for(helper)
    if by_them:
        notice = text.thread_ended_by_you
    else:
        notice = text.thread_ended_by_other_helper.format(
            alias=thread.officer_alias, tag=thread.tag
        )
    await services.try_send(helper.address, Reply(notice))


async def _pending_hand_over(services: Services, thread: Thread) -> RequestRecord | None:
    request = await matching.open_request_of(services, thread.officer_id)
    if request is not None and request.transfer_thread == thread.id:
        return request
    return None


def _after_choices(services: Services, helper: Member, officer: Member) -> tuple[Choice, ...]:
    """Offered once the thread has closed, both private to the officer: "the same person next
    time" (kept only if chosen, and only for a while) and "not this person again"."""
    text = services.text_for(officer)
    name = helper.display_name
    return (
        services.choice(
            text.keep_button.format(name=name), "keep", str(helper.id), officer.address
        ),
        services.choice(
            text.block_button.format(name=name), "blk", str(helper.id), officer.address
        ),
    )
