"""After a stop that cut off spilled updates (confirmed to the platform before they were
handled, see bot.transports.telegram): each person who had some in hand is told once."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.delivery import NotHandledError, Priority, sending
from bot.events import Address, Reply
from handlers.base import Services

log = logging.getLogger(__name__)


async def tell_spilled(services: Services, rows: Sequence[tuple[str, Address]]) -> int:
    """Tell each address once (in their language), then drop the rows; a row whose person
    could not be told yet (the transport stopping) stays for the next start. Returns how many
    were told."""
    by_address: dict[Address, list[str]] = {}
    for row, address in rows:
        by_address.setdefault(address, []).append(row)
    told = 0
    for address, ids in by_address.items():
        member = await services.repo.member_by_address(address)
        line = services.text_for(member).spilled_notice
        try:
            with sending(Priority.RELAY):  # as urgent as telling a sender of a failed relay
                reached = await services.notice(address, Reply(line))
        except NotHandledError:
            return told  # stopping: the rest are told after the next start
        await services.repo.forget_spilled(ids)
        told += reached
    log.info("told %d person(s) that messages around the last stop may not have gone", told)
    return told
