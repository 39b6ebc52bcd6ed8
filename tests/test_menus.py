"""Which commands each menu shows, and how menus are kept: every command in a member's menu is
one their role may use and one their /help lists (Signal's stand-in for a menu), in every
language; descriptions fit Telegram's rules; the keeper sends only changes, the latest wish
wins, and a failure leaves the chat to be tried again at the next wish."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import pytest

from bot.catalog import LANGUAGES
from bot.events import Address, DeliveryError, Menu, Platform
from bot.i18n import Catalogs, Fixed
from bot.menus import MenuKeeper
from bot.model import Member, Role
from handlers.common import help_screens
from handlers.dispatch import build_router
from handlers.menus import commands_for, described, stranger_menus
from handlers.router import permits
from tests.rosters import make_member

CATALOGS = Catalogs(Fixed("Peer Support", "911", "988 Lifeline", "988"))
ROUTER = build_router()


def member(role: Role, *, coordinator: bool = False) -> Member:
    return make_member(7, role, available=False, certified_until=None, coordinator=coordinator)


MEMBERS = [
    member(Role.OFFICER),
    member(Role.FAMILY),
    member(Role.RETIREE),
    member(Role.PEER),
    member(Role.CHAPLAIN),
    member(Role.CLINICIAN),
    member(Role.COORDINATOR),
    member(Role.PEER, coordinator=True),
    member(Role.CHAPLAIN, coordinator=True),
]
IDS = [f"{m.role.value}{'+c' if m.coordinator else ''}" for m in MEMBERS]


@pytest.mark.parametrize("who", MEMBERS, ids=IDS)
def test_every_command_in_a_menu_is_theirs_to_use(who: Member) -> None:
    commands = commands_for(who)
    assert commands[0] == "crisis" and commands[-1] == "help"
    assert len(set(commands)) == len(commands)
    for command in commands:
        route = ROUTER.commands.get(command)
        assert route is not None, f"/{command} is no command"
        assert permits(route.roles, who), f"/{command} is refused to {who.role.value}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("who", MEMBERS, ids=IDS)
def test_help_lists_every_command_of_the_menu(who: Member, language: str) -> None:
    listed = "\n".join(help_screens(CATALOGS.get(language), who))
    for command in commands_for(who):
        if command != "help":  # they have just sent it
            assert re.search(rf"/{command}\b", listed), f"/{command} missing from /help"


@pytest.mark.parametrize("language", LANGUAGES)
def test_descriptions_fit_telegram(language: str) -> None:
    text = CATALOGS.get(language)
    everyone = {c for who in MEMBERS for c in commands_for(who)} | {"start"}
    for command, description in described(text, tuple(sorted(everyone))):
        assert re.fullmatch(r"[a-z0-9_]{1,32}", command)
        assert 1 <= len(description) <= 256 and description == description.strip()
    assert len(everyone) <= 100


def test_strangers_menus_cover_every_language() -> None:
    menus = dict(stranger_menus(CATALOGS))
    assert set(menus) == {"", *LANGUAGES}
    assert menus["es"] == (("start", CATALOGS.get("es").menu_start),)
    assert menus[""] == menus["en"]  # the program's language for everyone else


class Recorder:
    """A platform with menus that records what it was asked, and can be made to fail or wait."""

    def __init__(self) -> None:
        self.set: list[tuple[str, Menu]] = []
        self.fail: DeliveryError | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def set_menu(self, to: Address, commands: Sequence[tuple[str, str]]) -> None:
        await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.set.append((to.chat_id, tuple(commands)))


TO = Address(Platform.TELEGRAM, "42")
ONE: Menu = (("crisis", "24/7 crisis lines"),)
TWO: Menu = (("crisis", "24/7 crisis lines"), ("help", "What you can do here"))


async def test_only_changes_are_sent() -> None:
    platform, keeper = Recorder(), MenuKeeper()
    keeper.want(platform, b"k", TO, ONE)
    await keeper.settled()
    keeper.want(platform, b"k", TO, ONE)
    await keeper.settled()
    keeper.want(platform, b"k", TO, ())
    await keeper.settled()
    assert platform.set == [("42", ONE), ("42", ())]
    assert keeper.shown(b"k") == ()


async def test_the_latest_wish_wins_while_one_is_in_flight() -> None:
    platform, keeper = Recorder(), MenuKeeper()
    platform.gate.clear()
    keeper.want(platform, b"k", TO, ONE)
    await asyncio.sleep(0)  # the first is on its way
    keeper.want(platform, b"k", TO, TWO)
    keeper.want(platform, b"k", TO, ())
    platform.gate.set()
    await keeper.settled()
    assert platform.set == [("42", ONE), ("42", ())]


async def test_a_failure_is_tried_again_at_the_next_wish() -> None:
    platform, keeper = Recorder(), MenuKeeper()
    platform.fail = DeliveryError("network failure", permanent=False)
    keeper.want(platform, b"k", TO, ONE)
    await keeper.settled()
    assert platform.set == [] and keeper.failures == 1 and keeper.shown(b"k") is None
    keeper.want(platform, b"k", TO, ONE)
    await keeper.settled()
    assert platform.set == [("42", ONE)]


async def test_no_menu_platform_and_close() -> None:
    keeper = MenuKeeper(max_remembered=1)
    keeper.want(object(), b"k", TO, ONE)  # a platform without menus (Signal): nothing to do
    await keeper.settled()
    assert keeper.shown(b"k") is None
    platform = Recorder()
    for key in (b"a", b"b"):
        keeper.want(platform, key, TO, ONE)
        await keeper.settled()
    assert keeper.shown(b"a") is None and keeper.shown(b"b") == ONE  # bounded memory
    platform.gate.clear()
    keeper.want(platform, b"c", TO, ONE)
    await keeper.close()  # at stop: cancelled, set again at the next message after a restart
    assert keeper.shown(b"c") is None
