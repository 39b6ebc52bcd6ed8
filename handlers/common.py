"""Commands every member has: /help, /crisis, /privacy and /language."""

from __future__ import annotations

from dataclasses import replace

from bot.catalog import LANGUAGE_NAMES, LANGUAGES, Catalog
from bot.config import CrisisConfig
from bot.delivery import Priority, sending
from bot.events import Reply
from bot.model import HELPER_ROLES, Category, Member
from handlers import menus
from handlers.base import Turn
from handlers.router import Router

router = Router()


def category_label(text: Catalog, category: Category) -> str:
    return str(getattr(text, f"category_{category.value}"))


def crisis_lines(text: Catalog, crisis: CrisisConfig) -> str:
    return "\n".join(
        text.crisis_line.format(
            name=line.name_in(text.language), contact=line.contact, hours=line.hours
        )
        for line in crisis.lines
    )


def crisis_message(text: Catalog, crisis: CrisisConfig) -> str:
    return text.crisis.format(lines=crisis_lines(text, crisis))


def help_screens(text: Catalog, member: Member) -> list[str]:
    """What /help shows: every command of the member's menu (Signal has no menu)."""
    if member.asks:
        screens = [text.help_officer]
    elif member.role in HELPER_ROLES:
        screens = [text.help_helper]
    else:
        screens = [text.help_staff]
    if member.is_coordinator:
        screens.append(text.help_coordinator)
    return screens


@router.command("help")
async def show_help(turn: Turn) -> None:
    for screen in help_screens(turn.text, turn.member):
        await turn.say(screen)


@router.command("crisis")
async def show_crisis(turn: Turn) -> None:
    with sending(Priority.RELAY):  # crisis lines go first when the rate limit binds
        await turn.say(crisis_message(turn.text, turn.services.config.crisis))


@router.choice("crisis")
async def crisis_button(turn: Turn, _arg: str) -> None:
    await show_crisis(turn)


@router.command("privacy")
async def show_privacy(turn: Turn) -> None:
    """The full limits in plain words, then the program's own notice as it wrote it."""
    await turn.say(turn.text.privacy)
    notice = turn.services.config.program.confidentiality
    await turn.say(turn.text.privacy_program.format(notice=notice))


@router.command("language")
async def choose_language(turn: Turn) -> None:
    choices = tuple(turn.choice(LANGUAGE_NAMES[code], "lang", code) for code in LANGUAGES)
    await turn.say(turn.text.language_prompt, choices)


@router.choice("lang")
async def language_chosen(turn: Turn, arg: str) -> None:
    if arg not in LANGUAGES:
        await turn.say(turn.text.choice_expired)
        return
    await turn.services.repo.set_language(turn.member.id, arg)
    menus.keep(turn.services, replace(turn.member, language=arg))
    chosen = turn.services.catalogs.get(arg)
    await turn.services.send(turn.event.address, Reply(chosen.language_set))
