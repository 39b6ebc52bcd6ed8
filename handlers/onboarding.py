"""Joining with an invite code: /start CODE, also reached by a t.me deep link."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.catalog import Catalog
from bot.events import Incoming, Reply
from bot.i18n import supported
from bot.model import HELPER_ROLES, Member
from bot.relay import new_alias
from bot.storage.repository import InviteProblem
from crypto import normalize_invite_code
from handlers import menus
from handlers.base import Services

log = logging.getLogger(__name__)


def _problem_text(text: Catalog, problem: InviteProblem) -> str:
    # A wrong, used or expired code gets one answer, so a leaked code tells nothing about
    # itself; an address already on the roster (revoked, purged or refused) is a stranger.
    if problem is InviteProblem.ALREADY_MEMBER:
        return text.not_member
    return text.invite_bad


async def start(services: Services, event: Incoming, member: Member | None) -> None:
    if member is not None:
        text = services.text_for(member)
        # A revoked member learns nothing more than a stranger, whatever code they send.
        await services.send(
            event.address, Reply(text.already_member if member.active else text.not_member)
        )
        return
    # A stranger is answered in their app's language when there is a catalog for it.
    language = supported(event.language) or services.config.program.language
    text = services.catalogs.get(language)
    code = normalize_invite_code(event.args)
    if code is None:
        # Strangers learn nothing beyond how to use a code they were given.
        await services.send(
            event.address, Reply(text.not_member if not event.args else text.invite_bad)
        )
        return
    result = await services.repo.redeem_invite(code, event.address, services.clock())
    if isinstance(result, InviteProblem):
        log.info("invite not redeemed: %s", result.value)
        await services.send(event.address, Reply(_problem_text(text, result)))
        return
    log.info("new member joined as %s", result.role.value)
    await services.repo.set_language(result.id, language)
    menus.keep(services, replace(result, language=language))
    if result.role in HELPER_ROLES:
        name = new_alias(text)
        await services.repo.set_display_name(result.id, name)
        await services.send(event.address, Reply(text.welcome_helper.format(name=name)))
    elif result.asks:
        await services.send(event.address, Reply(text.welcome_officer))
    else:
        await services.send(event.address, Reply(text.welcome_staff))
