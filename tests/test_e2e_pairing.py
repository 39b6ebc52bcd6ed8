"""Who talked to whom lives only as long as the thread, unless the officer chooses otherwise:
"the same person next time" is an explicit choice that expires and goes on revoke; the
"not again" list is the officer's to see and clear; the log counts, never dates, matches."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_routing import member_of
from tests.test_e2e_walking_skeleton import INTAKE_QUESTION, ask_for_peer


async def talk_and_end(sandbox: Sandbox, officer: SimUser, peer: SimUser) -> None:
    await ask_for_peer(officer, outside=False)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    await officer.send("/end")


async def asked_again(officer: SimUser) -> bool:
    """Runs the intake up to the note; True if it asked for the previous helper."""
    officer.inbox.clear()
    await officer.send("/talk")
    await officer.press(await officer.wait_for(INTAKE_QUESTION), EN.category_stress)
    await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
    await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_no)
    again_question = EN.intake_again.split("{name}")[0]
    await officer.wait_until(
        lambda: any(t == EN.intake_note or t.startswith(again_question) for t in officer.texts())
    )
    asked = any(t.startswith(again_question) for t in officer.texts())
    await officer.send("/cancel")
    await officer.wait_for(EN.nothing_to_cancel)
    return asked


async def test_the_pair_is_forgotten_at_the_end_unless_chosen(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    await alex.send("/name Alex")
    await alex.wait_for("Done.")
    await talk_and_end(sandbox, officer, alex)
    ended = await officer.wait_for(EN.rate_prompt)
    assert ended.labels()[5:7] == [
        EN.keep_button.format(name="Alex"),
        EN.block_button.format(name="Alex"),
    ]
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    dana = await member_of(sandbox, officer)
    private = await repo.officer_private(dana.id)
    assert private.again is None and not private.blocked  # nothing links them any more
    assert not await asked_again(officer)

    # Chosen: kept, asked for at /talk, until it expires.
    await officer.press(ended, EN.keep_button.format(name="Alex"))
    await officer.wait_for(EN.kept.format(name="Alex", days=30))
    assert (await repo.officer_private(dana.id)).again == (await member_of(sandbox, alex)).id
    assert await asked_again(officer)
    clock.advance(timedelta(days=30))
    assert await asked_again(officer)  # still the 30th day
    clock.advance(timedelta(days=1, hours=1))
    assert sandbox.app.dispatcher is not None
    await sandbox.app.dispatcher.hourly()
    await sandbox.app.dispatcher.hourly()
    assert (await repo.officer_private(dana.id)).again is None  # gone from the record itself
    assert not await asked_again(officer)

    # "Forget this now" undoes the choice at once.
    await officer.press(ended, EN.keep_button.format(name="Alex"))  # inbox cleared above
    kept = await officer.wait_for(EN.kept.format(name="Alex", days=30))
    await officer.press(kept, EN.forget_button)
    await officer.wait_for(EN.forgotten)
    assert (await repo.officer_private(dana.id)).again is None


async def test_a_revoked_helper_leaves_every_officers_record(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    blake = await sandbox.join("Blake", Role.PEER)
    await alex.send("/name Alex")
    await alex.wait_for("Done.")
    await blake.send("/name Blake")
    await blake.wait_for("Done.")
    await talk_and_end(sandbox, officer, alex)
    ended = await officer.wait_for(EN.rate_prompt)
    await officer.press(ended, EN.keep_button.format(name="Alex"))
    await officer.wait_for(EN.kept.format(name="Alex", days=30))
    assert sandbox.app is not None and sandbox.app.repo is not None
    repo = sandbox.app.repo
    dana, alex_member = await member_of(sandbox, officer), await member_of(sandbox, alex)
    assert await repo.set_active(alex_member.id, False)
    private = await repo.officer_private(dana.id)
    assert private.again is None and alex_member.id not in private.blocked


async def test_the_not_again_list_is_the_officers_to_see_and_clear(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    await alex.send("/name Alex")
    await alex.wait_for("Done.")
    await officer.send("/blocked")
    await officer.wait_for(EN.blocked_none)
    await talk_and_end(sandbox, officer, alex)
    ended = await officer.wait_for(EN.rate_prompt)
    await officer.press(ended, EN.block_button.format(name="Alex"))
    await officer.wait_for(EN.blocked.format(name="Alex"))
    await officer.send("/blocked")
    listing = await officer.wait_for(EN.blocked_list.format(names="Alex"))
    assert listing.labels() == [EN.unblock_button.format(name="Alex"), EN.crisis_button]
    await officer.send("1")  # answered by its number
    await officer.wait_for(EN.unblocked.format(name="Alex"))
    assert sandbox.app is not None and sandbox.app.repo is not None
    dana = await member_of(sandbox, officer)
    assert not (await sandbox.app.repo.officer_private(dana.id)).blocked
    await officer.send("/blocked")
    await officer.wait_for_count(len(officer.inbox) + 1)
    assert officer.inbox[-1].text == EN.blocked_none


async def test_the_log_counts_matches_and_closes_it_never_dates_them(
    sandbox: Sandbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    officer = await sandbox.join("Dana", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    assert sandbox.app is not None and sandbox.app.dispatcher is not None
    await sandbox.app.dispatcher.hourly()  # arms the hourly report
    await talk_and_end(sandbox, officer, alex)
    await officer.wait_for(EN.thread_ended_by_you)
    lines = [r.getMessage() for r in caplog.records]
    for forbidden in ("matched", "closed", "opened", "handed over", "offers sent"):
        assert not [line for line in lines if forbidden in line], forbidden
    clock.advance(timedelta(hours=1))
    await sandbox.app.dispatcher.hourly()
    (report,) = [r.getMessage() for r in caplog.records if "in the last hour" in r.getMessage()]
    assert "matched: 1" in report and "closed: 1" in report
