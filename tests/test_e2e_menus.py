"""Command menus over the real wire (PTB against the local Bot API, which resolves what each
person's app shows as Telegram does): strangers see /start in their app's language; an
officer, a helper and a coordinator each see their own commands in their own language; the
menu follows /language, rights changed by the CLI (at the member's next message) and a revoke.
Menus go out in the background: a slow or failing menu never holds up what a person is sent."""

from __future__ import annotations

import logging

import pytest

from bot.catalog import Catalog
from bot.events import Address, Platform
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from bot.sandbox.telegram_api import SimUser
from bot.storage.repository import Repository
from crypto import Vault, load_master_key
from tests.test_cli_ops import cli, write_config
from tests.test_e2e_coordination import said_after
from tests.test_e2e_routing import member_of
from tests.test_e2e_threads import connect

OFFICER_ONLY = {"talk", "cancel", "nickname", "blocked"}
HELPER_ONLY = {"available", "away", "threads", "switch", "transfer", "followup", "topics", "name"}
COORDINATOR_ONLY = {"oncall", "waiting", "invite", "renew", "revoke"}


async def menu_becomes(user: SimUser, expected: list[str]) -> list[tuple[str, str]]:
    await user.wait_until(lambda: user.commands() == expected, timeout=30.0)
    return user.menu()


async def menu_with(user: SimUser, command: str, *, present: bool = True) -> list[str]:
    await user.wait_until(lambda: (command in user.commands()) is present, timeout=30.0)
    return user.commands()


def described_in(text: Catalog, menu: list[tuple[str, str]]) -> bool:
    return all(description == getattr(text, f"menu_{name}") for name, description in menu)


def menu_calls(sandbox: Sandbox) -> int:
    return sum(len(sandbox.api.calls_of(m)) for m in ("setMyCommands", "deleteMyCommands"))


def address_of(user: SimUser) -> Address:
    return Address(Platform.TELEGRAM, str(user.user_id))


async def other_process(sandbox: Sandbox) -> Repository:
    """The database as `peerline roster ...` opens it: a connection the bot is not told about."""
    assert sandbox.config is not None
    vault = Vault(load_master_key(sandbox.key_file))
    return await Repository.open(sandbox.config.storage.path, vault)


async def test_strangers_see_start_alone_in_their_language(sandbox: Sandbox) -> None:
    en, es = sandbox.text("en"), sandbox.text("es")
    stranger = sandbox.person("Pat")
    assert stranger.menu() == [("start", en.menu_start)]
    spanish = sandbox.person("Lupe")
    spanish.language_code = "es-MX"
    assert spanish.menu() == [("start", es.menu_start)]
    french = sandbox.person("Aimé")
    french.language_code = "fr"  # no catalog: the program's language
    assert french.menu() == [("start", en.menu_start)]


async def test_each_role_sees_its_own_commands(sandbox: Sandbox) -> None:
    en = sandbox.text("en")
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    chaplain = await sandbox.join("Jordan", Role.CHAPLAIN)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)

    seen = {}
    for user in (officer, peer, chaplain, coordinator):
        commands = await menu_with(user, "help")
        assert commands[0] == "crisis", "the crisis lines come first in every member's menu"
        assert "start" not in commands
        assert described_in(en, user.menu())
        seen[user.first_name] = set(commands)
    assert seen["Dana"] >= OFFICER_ONLY
    assert not seen["Dana"] & (HELPER_ONLY | COORDINATOR_ONLY | {"hours", "load"})
    for helper in ("Alex", "Jordan"):
        assert HELPER_ONLY | {"load", "end"} <= seen[helper]
        assert not seen[helper] & (OFFICER_ONLY | COORDINATOR_ONLY)
    assert COORDINATOR_ONLY | {"available", "away", "stats", "coverage"} <= seen["Morgan"]
    assert not seen["Morgan"] & (OFFICER_ONLY | {"threads", "transfer", "followup"})


async def test_a_spanish_speaker_gets_a_spanish_menu_that_follows_language(
    sandbox: Sandbox,
) -> None:
    en, es = sandbox.text("en"), sandbox.text("es")
    officer = sandbox.person("Lupe")
    officer.language_code = "es-MX"
    (code,) = await sandbox.invite(Role.OFFICER)
    await officer.send(f"/start {code}")
    await officer.wait_for("Bienvenido")
    await menu_with(officer, "talk")
    menu = officer.menu()
    assert ("talk", es.menu_talk) in menu and ("crisis", es.menu_crisis) in menu
    assert described_in(es, menu)

    await officer.send("/language")
    await officer.press(await officer.wait_for(es.language_prompt), "English")
    await officer.wait_for(en.language_set)
    await officer.wait_until(lambda: ("talk", en.menu_talk) in officer.menu(), timeout=30.0)
    assert described_in(en, officer.menu())
    assert [name for name, _ in officer.menu()] == [name for name, _ in menu]


async def test_a_revoke_from_the_chat_resets_the_menu_at_once(sandbox: Sandbox) -> None:
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    officer = await sandbox.join("Dana", Role.OFFICER)
    await menu_with(officer, "talk")
    officer_id = (await member_of(sandbox, officer)).id

    await coordinator.send(f"/revoke {officer_id}")
    await coordinator.wait_for(sandbox.text().revoke_done.format(member=officer_id))
    # Before they send anything: their own menu is deleted, the stranger's shows again.
    menu = await menu_becomes(officer, ["start"])
    assert menu == [("start", sandbox.text().menu_start)]
    deletes = sandbox.api.calls_of("deleteMyCommands")
    assert [d["scope"] for d in deletes] == [{"type": "chat", "chat_id": officer.user_id}]


async def test_changes_made_by_the_cli_show_at_the_next_message(sandbox: Sandbox) -> None:
    peer = await sandbox.join("Alex", Role.PEER)
    officer = await sandbox.join("Dana", Role.OFFICER)
    await menu_with(peer, "help")
    await menu_with(officer, "help")
    cli = await other_process(sandbox)
    try:
        await cli.set_coordinator((await member_of(sandbox, peer)).id, True)
        await cli.set_active((await member_of(sandbox, officer)).id, False)
    finally:
        await cli.close()
    assert "oncall" not in peer.commands()  # the bot was not told

    await peer.send("/away")
    commands = await menu_with(peer, "oncall")
    assert set(commands) >= COORDINATOR_ONLY and "threads" in commands

    await officer.send("hello?")
    await officer.wait_for(sandbox.text().not_member)
    await menu_becomes(officer, ["start"])


async def test_a_menu_never_holds_up_a_reply_and_a_failed_one_is_tried_again(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    assert sandbox.app is not None and sandbox.app.services is not None
    keeper = sandbox.app.services.menus
    officer = sandbox.person("Dana")
    # The Bot API never answers this person's menu: they are answered all the same.
    sandbox.api.storm(status=0, methods=frozenset({"setMyCommands"}), chats={officer.user_id})
    (code,) = await sandbox.invite(Role.OFFICER)
    await officer.send(f"/start {code}")
    await officer.wait_for("Welcome")
    await officer.send("/crisis")
    await officer.wait_for("988")
    assert officer.commands() == ["start"]

    peer = sandbox.person("Alex")
    (code,) = await sandbox.invite(Role.PEER)
    sandbox.api.fail_next("setMyCommands", status=400, description="Bad Request: chat not found")
    with caplog.at_level(logging.WARNING):
        await peer.send(f"/start {code}")
        await peer.wait_for("Welcome")
        await keeper.settled(sandbox.app.services.audience(address_of(peer)))
    assert keeper.failures == 1
    logged = [r.getMessage() for r in caplog.records if "command menu" in r.getMessage()]
    assert logged == ["command menu not set (permanent=True)"]
    assert peer.commands() == ["start"]
    await peer.send("/available")  # their next message tries again
    await menu_with(peer, "available")


@pytest.fixture
async def box(signal_sandbox: Sandbox) -> Sandbox:
    return signal_sandbox


async def help_on_signal(user: SignalUser, last: str) -> str:
    before = len(user.inbox)
    await user.send("help")
    await user.wait_until(lambda: any(last in m.text for m in user.inbox[before:]))
    return "\n".join(m.text for m in user.inbox[before:])


async def test_signal_has_no_menu_and_help_lists_the_same_commands(box: Sandbox) -> None:
    officer = await box.join_signal("Dana", Role.OFFICER)
    coordinator = await box.join_signal("Morgan", Role.COORDINATOR)
    listed = await help_on_signal(officer, "/privacy")
    for command in (*OFFICER_ONLY, "crisis", "language"):
        assert f"/{command}" in listed, command
    listed = await help_on_signal(coordinator, "/revoke")
    for command in (*COORDINATOR_ONLY, "stats", "coverage", "crisis", "language"):
        assert f"/{command}" in listed, command
    scopes = [call.get("scope") for call in box.api.calls_of("setMyCommands")]
    assert scopes and all(scope is None for scope in scopes), "only the strangers' menus"


async def test_a_revoke_from_the_cli_clears_the_menu_and_a_restore_brings_it_back(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`roster revoke N` without --purge, beside the running bot: their own menu goes at once,
    as with --purge and /revoke. `roster restore N` sets it again at once: the bot sets a menu
    only when it differs from the one it set itself, and it set this one before the revoke."""
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", sandbox.api.token)
    config = str(write_config(sandbox.directory, sandbox.api))
    officer = sandbox.person("Lupe")
    officer.language_code = "es-MX"  # the restored menu is in their language, not the program's
    (code,) = await sandbox.invite(Role.OFFICER)
    await officer.send(f"/start {code}")
    await officer.wait_for("Bienvenido")
    await menu_with(officer, "talk")
    own = officer.menu()
    assert described_in(sandbox.text("es"), own)
    number = str((await member_of(sandbox, officer)).id)

    assert await cli("--config", config, "roster", "revoke", number) == 0
    assert "their Telegram menu is cleared" in capsys.readouterr().out
    await menu_becomes(officer, ["start"])  # before they send anything
    deletes = sandbox.api.calls_of("deleteMyCommands")
    assert [d["scope"] for d in deletes] == [{"type": "chat", "chat_id": officer.user_id}]

    assert await cli("--config", config, "roster", "restore", number) == 0
    assert "their Telegram menu is set" in capsys.readouterr().out
    assert await menu_becomes(officer, [name for name, _ in own]) == own
    await officer.send("/crisis")
    await officer.wait_for("988")
    assert officer.menu() == own

    # The same when a roster import revokes or restores them (and only then).
    for status, shown in (("revoked", ["start"]), ("active", [name for name, _ in own])):
        sheet = sandbox.directory / f"{status}.csv"
        sheet.write_text(f"member,status\n{number},{status}\n", encoding="utf-8")
        for _ in range(2):  # the second time nothing changes: no call
            calls = menu_calls(sandbox)
            assert await cli("--config", config, "roster", "import", str(sheet)) == 0
        out = capsys.readouterr().out
        assert out.count(f"member {number}: their Telegram menu is") == 1
        assert menu_calls(sandbox) == calls
        await menu_becomes(officer, shown)


@pytest.mark.parametrize("erased", ["helper", "officer"])
async def test_a_purge_from_the_cli_clears_the_menu_and_ends_the_conversation(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    erased: str,
) -> None:
    """`roster revoke N --purge` beside the running bot, N in a live conversation: their own
    menu is deleted at once (the CLI still has their address; the bot has none left), and on
    its next clock tick the bot closes the conversation and tells the one still there."""
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", sandbox.api.token)
    config = str(write_config(sandbox.directory, sandbox.api))
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER)
    other = await sandbox.join("Blake", Role.PEER)
    await connect(sandbox, officer, peer)
    gone, stays = (peer, officer) if erased == "helper" else (officer, peer)
    await menu_with(gone, "help")
    number = (await member_of(sandbox, gone)).id
    stays_id = (await member_of(sandbox, stays)).id
    heard, before, offered = len(gone.inbox), len(stays.inbox), len(other.inbox)

    assert await cli("--config", config, "roster", "revoke", str(number), "--purge") == 0
    assert "their Telegram menu is cleared" in capsys.readouterr().out
    await menu_becomes(gone, ["start"])  # before they send anything
    deletes = sandbox.api.calls_of("deleteMyCommands")
    assert [d["scope"] for d in deletes] == [{"type": "chat", "chat_id": gone.user_id}]

    assert sandbox.app is not None and sandbox.app.services is not None
    await sandbox.app.tick()
    en = sandbox.text()
    if erased == "helper":
        await said_after(officer, before, en.helper_left)
        await said_after(other, offered, "New request")
        offer = next(m for m in other.inbox[offered:] if "New request" in m.text)
        await other.press(offer, en.offer_accept)
        await said_after(officer, before, "is here for you")
    else:
        await said_after(
            peer, before, "can't be reached any more, so this conversation is closed."
        )
    live = [t.helper_id for t in sandbox.app.services.relay.threads_of(stays_id)]
    assert live == ([(await member_of(sandbox, other)).id] if erased == "helper" else [])
    told = len(stays.inbox)
    await sandbox.app.tick()
    assert len(stays.inbox) == told  # told once
    assert len(gone.inbox) == heard  # the erased member is sent nothing
