"""Inside a thread: text relayed both ways under a pseudonym header, and /end."""

from __future__ import annotations

import logging

from bot.events import Choice, DeliveryError, Reply
from bot.model import HEAVY_CATEGORIES, Member, Role, Thread
from handlers.base import Services, Turn
from handlers.router import Router

log = logging.getLogger(__name__)
router = Router()

# Telegram refuses texts over 4096 characters; leave room for the header.
MAX_CHUNK = 3800


def split_text(text: str, limit: int = MAX_CHUNK) -> list[str]:
    """Split long text into pieces under `limit`, preferring line and word breaks."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return pieces


def header_for(services: Services, thread: Thread, sender: Member) -> str:
    """What the recipient sees above a relayed message: never the sender's real identity."""
    if sender.role is Role.OFFICER:
        return services.text.header_to_helper.format(alias=thread.officer_alias, tag=thread.tag)
    return services.text.header_to_officer.format(name=sender.display_name)


async def relay_text(turn: Turn) -> None:
    services = turn.services
    thread = services.relay.current(turn.member.id)
    if thread is None:
        await _not_in_thread(turn)
        return
    recipient = await services.repo.member(thread.other(turn.member.id))
    if recipient is None:
        await turn.say(turn.text.not_delivered)
        return
    header = header_for(services, thread, turn.member)
    try:
        for piece in split_text(turn.event.text):
            await services.messenger.send(recipient.address, Reply(f"{header}\n{piece}"))
    except DeliveryError as exc:
        log.warning("relay not delivered (permanent=%s)", exc.permanent)
        await turn.say(turn.text.not_delivered)


async def relay_media(turn: Turn) -> None:
    if turn.services.relay.current(turn.member.id) is None:
        await _not_in_thread(turn)
        return
    await turn.say(turn.text.media_not_relayed)


async def _not_in_thread(turn: Turn) -> None:
    if turn.member.role is Role.OFFICER:
        await turn.say(turn.text.not_in_thread_officer)
    else:
        await turn.say(turn.text.not_in_thread_helper)


@router.command("end")
async def end(turn: Turn) -> None:
    services = turn.services
    thread = services.relay.current(turn.member.id)
    if thread is None:
        await _not_in_thread(turn)
        return
    await close_thread(services, thread, closed_by=turn.member)


async def close_thread(services: Services, thread: Thread, *, closed_by: Member) -> None:
    """Close a thread: forget it in memory, shred its key, tell both sides."""
    services.relay.close(thread.id)
    await services.repo.shred_thread(thread.id)
    log.info("thread closed; key destroyed")
    if thread.urgent or thread.category in HEAVY_CATEGORIES:
        until = services.clock() + services.config.routing.cooldown_after_urgent
        await services.repo.set_cooldown(thread.helper_id, until)
    text = services.text
    other = await services.repo.member(thread.other(closed_by.id))
    officer: Member | None = closed_by if closed_by.id == thread.officer_id else other
    helper: Member | None = other if officer is closed_by else closed_by
    if officer is not None and helper is not None:
        block = _block_choice(services, helper, officer)
        officer_reply = Reply(text.thread_ended_by_you, block)
        if officer is other:
            notice = text.thread_ended_by_other_officer.format(name=helper.display_name)
            officer_reply = Reply(notice, block)
        await services.try_send(officer.address, officer_reply)
    if helper is not None:
        if helper is closed_by:
            helper_reply = Reply(text.thread_ended_by_you)
        else:
            helper_reply = Reply(
                text.thread_ended_by_other_helper.format(
                    alias=thread.officer_alias, tag=thread.tag
                )
            )
        await services.try_send(helper.address, helper_reply)


def _block_choice(services: Services, helper: Member, officer: Member) -> tuple[Choice, ...]:
    """The officer's private "not this person again", offered once the thread has closed."""
    label = services.text.block_button.format(name=helper.display_name)
    return (services.choice(label, "blk", str(helper.id), officer.address),)
