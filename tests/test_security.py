"""Security checks as tests, real PTB against the local Bot API.

The security suite (`pytest -m security`) is this module, the fuzz suite
(tests/test_fuzz_telegram.py, tests/test_fuzz_signal.py) and the attacker who copies the
database files (tests/test_attacker.py). Here:

- button data is bound to the person it was sent to and to the key: another helper's accept,
  a replayed accept, a button of an ended conversation, a button signed before `rotate-key`
  all fail, and each is shown to work where it should, so the refusal is the signature's;
- roles do not escalate: an officer or a peer sending coordinator commands or pressing a
  coordinator's button, an officer redeeming a second code of another role, a coordinator
  revoked from the CLI;
- an invite code cannot be brute-forced: a stranger gets three tries per window, and the
  fourth is not even checked, right code or not.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from contextlib import closing

import pytest

from bot.catalog import EN
from bot.cli import main
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage, SimUser
from crypto.invites import INVITE_ALPHABET, INVITE_LENGTH
from handlers.dispatch import CODE_TRIES_PER_WINDOW, STRANGER_WINDOW
from tests.fuzzing import settle
from tests.test_cli_ops import write_config
from tests.test_e2e_routing import member_of
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION, ask_for_peer

pytestmark = pytest.mark.security


def data_of(message: BotMessage, label: str) -> str:
    return next(data for row in message.buttons for text, data in row if text == label)


async def count_of(user: SimUser, text: str, n: int) -> None:
    await user.wait_until(lambda: sum(text in t for t in user.texts()) >= n, 10.0)


def invites_in(box: Sandbox) -> int:
    with closing(sqlite3.connect(box.directory / "peerline.db")) as db:
        return int(db.execute("SELECT count(*) FROM invites").fetchone()[0])


async def cli(box: Sandbox, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """The real `peerline` command against this sandbox's files (in a thread: it runs its own
    event loop)."""
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", box.api.token)
    monkeypatch.delenv("PEERLINE_MASTER_KEY", raising=False)
    config = write_config(box.directory, box.api)
    return await asyncio.to_thread(main, ["--config", str(config), *args])


# -- button data -------------------------------------------------------------------------------


async def offered_to_two(sandbox: Sandbox) -> tuple[SimUser, SimUser, SimUser]:
    """An officer's request, offered to two peers at once."""
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    blake = await sandbox.join("Blake", Role.PEER)
    await ask_for_peer(officer, outside=False)
    await alex.wait_for("New request")
    await blake.wait_for("New request")
    return officer, alex, blake


async def test_a_helper_cannot_accept_with_another_helpers_button(sandbox: Sandbox) -> None:
    officer, alex, blake = await offered_to_two(sandbox)
    alex_offer = await alex.wait_for("New request")
    blake_offer = await blake.wait_for("New request")
    alex_accept = data_of(alex_offer, EN.offer_accept)
    assert alex_accept != data_of(blake_offer, EN.offer_accept)  # each signed for its helper

    await blake.press_data(alex_accept, blake_offer)  # signed for Alex, pressed by Blake
    await blake.wait_for(EN.choice_expired)
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.live_threads() == []
    assert len(await sandbox.app.repo.open_requests()) == 1
    assert not any("is here for you" in t for t in officer.texts())

    await alex.press_data(alex_accept, alex_offer)  # the same data, pressed by Alex: it works
    await officer.wait_for("is here for you")
    (thread,) = await sandbox.app.repo.live_threads()
    assert thread.helper_id == (await member_of(sandbox, alex)).id


async def test_an_accepted_offer_replayed_changes_nothing(sandbox: Sandbox) -> None:
    officer, alex, blake = await offered_to_two(sandbox)
    alex_offer = await alex.wait_for("New request")
    blake_offer = await blake.wait_for("New request")
    alex_accept = data_of(alex_offer, EN.offer_accept)
    blake_accept = data_of(blake_offer, EN.offer_accept)
    await alex.press_data(alex_accept, alex_offer)
    await officer.wait_for("is here for you")

    await alex.press_data(alex_accept, alex_offer)  # Alex's own accept, a second time
    await blake.press_data(blake_accept, blake_offer)  # Blake's genuine but stale accept
    await blake.press_data(alex_accept, blake_offer)  # Alex's accept, replayed by Blake
    await settle(sandbox)
    assert sandbox.app is not None and sandbox.app.repo is not None
    (thread,) = await sandbox.app.repo.live_threads()
    assert thread.helper_id == (await member_of(sandbox, alex)).id
    assert sum("is here for you" in t for t in officer.texts()) == 1
    assert EN.choice_expired in blake.texts()
    assert not any("You're connected" in t for t in blake.texts())


async def test_a_button_of_an_ended_conversation_cannot_touch_another(sandbox: Sandbox) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER)
    evan = await sandbox.join("Evan", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    for officer in (dana, evan):
        await ask_for_peer(officer, outside=False)
        await alex.wait_until(lambda: any(EN.offer_accept in m.labels() for m in alex.inbox))
        offer = next(m for m in alex.inbox if EN.offer_accept in m.labels())
        await alex.press(offer, EN.offer_accept)
        await officer.wait_for("is here for you")
    await alex.send("/end")
    which = await alex.wait_for(EN.end_which)
    first, second = (data for row in which.buttons for _, data in row if data.startswith("end:"))
    await alex.press_data(first, which)
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    await alex.wait_for(EN.thread_ended_by_you)
    (remaining,) = await repo.live_threads()
    in_it, outside = (
        (evan, dana)
        if remaining.officer_id == (await member_of(sandbox, evan)).id
        else (dana, evan)
    )

    await alex.press_data(first, which)  # the ended one's button again
    await alex.wait_for(EN.switch_unknown)
    await outside.press_data(second, outside.last)  # the live one's, by the officer outside it
    await outside.wait_for(EN.choice_expired)
    await in_it.press_data(second, in_it.last)  # ...and by the officer in it: signed for Alex
    await in_it.wait_for(EN.choice_expired)
    await settle(sandbox)
    assert [t.id for t in await repo.live_threads()] == [remaining.id]
    await in_it.send("still here")
    await alex.wait_for("still here")


async def test_a_button_signed_before_rotate_key_is_refused_after(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("/talk")
    menu = await officer.wait_for(INTAKE_QUESTION)
    crisis = data_of(menu, EN.crisis_button)
    await officer.press_data(crisis, menu)
    await count_of(officer, "COPLINE", 1)  # the button works before the rotation
    before = len(officer.inbox)

    await sandbox.stop_app()
    assert await cli(sandbox, monkeypatch, "rotate-key") == 0
    await sandbox.start_app()
    await officer.press_data(crisis, menu)
    await officer.wait_for(EN.choice_expired)
    assert not any("COPLINE" in t for t in officer.texts()[before:])
    await officer.send("/crisis")  # a fresh screen, signed with the new key...
    await count_of(officer, "COPLINE", 2)
    await officer.send("/talk")
    await count_of(officer, INTAKE_QUESTION, 2)
    fresh = officer.last
    await officer.press_data(data_of(fresh, EN.crisis_button), fresh)  # ...whose buttons work
    await count_of(officer, "COPLINE", 3)


# -- roles -------------------------------------------------------------------------------------

COORDINATOR_LINES = (
    "/invite officer 5",
    "/invite coordinator 1",
    "/revoke {target}",
    "/renew {target} 2099-01-01",
    "/oncall",
    "/waiting",
    "/incident 5 Metro PD",
    "/incident list",
)


async def test_officers_and_peers_cannot_use_coordinator_commands_or_buttons(
    sandbox: Sandbox,
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    peer = await sandbox.join("Alex", Role.PEER, available=False)
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    target = (await member_of(sandbox, peer)).id
    await ask_for_peer(officer, outside=False)  # nobody is available: it waits
    await coordinator.wait_for("A request has waited")
    await coordinator.send("/waiting")
    waiting = await coordinator.wait_for(EN.waiting_header[:12])
    push = waiting.buttons[0][0][1]
    await coordinator.send("/incident 3 Metro PD")
    await coordinator.wait_until(
        lambda: any(EN.incident_page_peers in m.labels() for m in coordinator.inbox)
    )
    draft = next(m for m in coordinator.inbox if EN.incident_page_peers in m.labels())
    page = data_of(draft, EN.incident_page_peers)
    invites = invites_in(sandbox)

    for person in (officer, peer):
        for line in COORDINATOR_LINES:
            await person.send(line.format(target=target))
        await count_of(person, EN.not_for_role, len(COORDINATOR_LINES))
        for data in (push, page):
            await person.press_data(data, person.last)
        await count_of(person, EN.choice_expired, 2)
    await settle(sandbox)
    assert invites_in(sandbox) == invites
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.incidents() == []  # nobody paged a critical incident
    alex = await member_of(sandbox, peer)
    assert alex.active and alex.role is Role.PEER and not alex.is_coordinator
    assert not any("New request" in t for t in peer.texts())  # nobody pushed the request

    before = len(coordinator.inbox)
    await coordinator.press_data(push, waiting)  # the coordinator's own buttons work
    await coordinator.press_data(page, draft)
    await coordinator.wait_until(lambda: len(coordinator.inbox) >= before + 2)
    assert len(await sandbox.app.repo.incidents()) == 1


async def test_a_second_code_of_another_role_changes_nothing(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    for role in (Role.COORDINATOR, Role.PEER):
        (code,) = await sandbox.invite(role)
        await officer.send(f"/start {code}")
        await count_of(officer, EN.already_member, 1 if role is Role.COORDINATOR else 2)
        member = await member_of(sandbox, officer)
        assert member.role is Role.OFFICER and not member.is_coordinator
        newcomer = sandbox.person("Kim")  # the code was not spent on the officer
        await newcomer.send(f"/start {code}")
        await newcomer.wait_for("Welcome")
        assert (await member_of(sandbox, newcomer)).role is role
    await officer.send("/waiting")
    await officer.wait_for(EN.not_for_role)


async def test_a_coordinator_revoked_from_the_cli_has_no_rights_left(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = await sandbox.join("Morgan", Role.COORDINATOR)
    officer = await sandbox.join("Dana", Role.OFFICER)
    target = (await member_of(sandbox, officer)).id
    await coordinator.send("/oncall")
    await coordinator.wait_for("By their on-call hours")
    morgan = await member_of(sandbox, coordinator)
    assert await cli(sandbox, monkeypatch, "roster", "revoke", str(morgan.id)) == 0
    invites = invites_in(sandbox)
    before = len(coordinator.inbox)

    await coordinator.send("/invite officer 5")
    await coordinator.send(f"/revoke {target}")
    await coordinator.send("/waiting")
    await coordinator.send(f"/start {(await sandbox.invite(Role.COORDINATOR))[0]}")
    await settle(sandbox)
    assert invites_in(sandbox) == invites + 1  # only the code made above, by the test
    assert (await member_of(sandbox, officer)).active
    assert set(coordinator.texts()[before:]) == {sandbox.text().not_member}


# -- invite codes ------------------------------------------------------------------------------


async def test_invite_codes_cannot_be_brute_forced_within_the_stranger_throttle(
    sandbox: Sandbox,
) -> None:
    stranger = sandbox.person("Mallory")
    (code,) = await sandbox.invite(Role.PEER)
    wrong = [f"/start {'2' * 19}{INVITE_ALPHABET[i]}" for i in range(12)]
    for line in wrong:
        await stranger.send(line)
    await stranger.send(f"/start {code}")  # the right one, once the tries are used up
    await stranger.send(code)  # and alone, as Signal users send it
    await settle(sandbox)
    answers = stranger.texts()
    assert answers == [sandbox.text().invite_bad] * CODE_TRIES_PER_WINDOW  # tries, counted
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert sandbox.app.dispatcher is not None
    assert sandbox.app.dispatcher.code_tries.suppressed == len(wrong) + 2 - CODE_TRIES_PER_WINDOW
    with pytest.raises(AssertionError):
        await member_of(sandbox, stranger)
    owner = sandbox.person("Kim")  # the code is still good for the person it was made for
    await owner.send(f"/start {code}")
    await owner.wait_for("Welcome")

    # Three tries per window per account: a year of them from one account against a code
    # space of 30^20 (about 2^98) has no chance worth the name.
    tries_a_year = CODE_TRIES_PER_WINDOW * 365 * 24 * 3600 / STRANGER_WINDOW
    assert math.log2(tries_a_year) < 19
    assert INVITE_LENGTH * math.log2(len(INVITE_ALPHABET)) > 98
