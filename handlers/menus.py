"""Which commands each person's menu shows (Telegram; Signal's /help lists the same ones).

Strangers see /start alone (the default menu, per language, set by the transport at start).
A member sees their role's own commands, coordinators' added for coordinator rights, described
in the member's language. A member's menu is set at join and after /language, and whenever
their next message finds their role, coordinator rights or language changed (the CLI changes
them from another process); it is removed on revoke, so the default one shows again.
"""

from __future__ import annotations

from bot.catalog import LANGUAGES, Catalog
from bot.events import Address, Menu
from bot.i18n import Catalogs
from bot.model import HELPER_ROLES, Member
from handlers.base import Services

STRANGER_COMMANDS: tuple[str, ...] = ("start",)
OFFICER_COMMANDS: tuple[str, ...] = (
    "crisis",
    "talk",
    "cancel",
    "end",
    "nickname",
    "blocked",
    "checkin",
    "quiet",
    "resources",
    "privacy",
)
HELPER_COMMANDS: tuple[str, ...] = (
    "crisis",
    "available",
    "away",
    "threads",
    "switch",
    "end",
    "transfer",
    "followup",
    "hours",
    "topics",
    "name",
    "load",
    "debrief",
    "checkin",
    "quiet",
)
STAFF_COMMANDS: tuple[str, ...] = ("crisis", "available", "away", "hours", "checkin", "quiet")
COORDINATOR_COMMANDS: tuple[str, ...] = (
    "oncall",
    "waiting",
    "stats",
    "coverage",
    "invite",
    "renew",
    "revoke",
    "incident",
)
EVERYONE_LAST: tuple[str, ...] = ("language", "help")


def commands_for(member: Member) -> tuple[str, ...]:
    if member.asks:  # officers, families and retirees
        own = OFFICER_COMMANDS
    elif member.role in HELPER_ROLES:
        own = HELPER_COMMANDS
    else:
        own = STAFF_COMMANDS
    extra = COORDINATOR_COMMANDS if member.is_coordinator else ()
    return (*own, *extra, *EVERYONE_LAST)


def described(text: Catalog, commands: tuple[str, ...]) -> Menu:
    return tuple((command, str(getattr(text, f"menu_{command}"))) for command in commands)


def menu_of(services: Services, member: Member) -> Menu:
    return described(services.text_for(member), commands_for(member))


def stranger_menus(catalogs: Catalogs) -> list[tuple[str, Menu]]:
    """The default menu in the program's language for everyone, and one per catalog language
    for apps set to it (Telegram's `language_code`)."""
    menus = [("", described(catalogs.default, STRANGER_COMMANDS))]
    menus += [(lang, described(catalogs.get(lang), STRANGER_COMMANDS)) for lang in LANGUAGES]
    return menus


def keep(services: Services, member: Member, key: bytes | None = None) -> None:
    """Make sure `member`'s menu is theirs (in the background; nothing sent if it already is)."""
    address = member.address
    chat = key if key is not None else services.audience(address)
    services.menus.want(services.messenger, chat, address, menu_of(services, member))


def remove(services: Services, address: Address, key: bytes | None = None) -> None:
    """Their own menu goes (revoked, or no member any more): the stranger's shows again."""
    chat = key if key is not None else services.audience(address)
    services.menus.want(services.messenger, chat, address, ())
