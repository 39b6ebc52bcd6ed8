"""A person's end-to-end identity key changed (a Signal safety number): a new phone, a
reinstall, or someone else holding their number.

An officer's change is accepted with a notice: they are the one asking for help, and nothing
is sent to them that they did not start. A helper's change puts them on hold: no offers (an
offer can carry an officer's own words) until a coordinator has checked it is really them and
confirmed them with `peerline roster reconfirm`. Conversations already open carry on.
"""

from __future__ import annotations

import logging

from bot.events import DeliveryError, Incoming, Reply
from bot.model import HELPER_ROLES, Member
from handlers.base import Services

log = logging.getLogger(__name__)


async def identity_changed(services: Services, event: Incoming, member: Member | None) -> None:
    try:
        # Without this the gateway refuses to send them anything, the notice included.
        await services.messenger.accept_identity(event.address)
    except DeliveryError as exc:
        log.warning("new identity key not accepted at the gateway (permanent=%s)", exc.permanent)
    if member is None or not member.active:
        return  # a stranger: there is nothing to protect and nobody to tell
    if member.role in HELPER_ROLES:
        await services.repo.set_identity_hold(member.id, True)
        log.info("helper on hold after an identity key change")
        await services.try_send(
            event.address, Reply(services.text_for(member).identity_hold_helper)
        )
    else:
        log.info("identity key change accepted")
        await services.try_send(
            event.address, Reply(services.text_for(member).identity_changed_officer)
        )
