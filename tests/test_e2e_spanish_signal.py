"""Spanish on Signal, where the bot cannot lean on the app's language: a member who chose
Spanish reads how to answer (send the number, send the word crisis) in Spanish under every
list of choices, the crisis lines under their Spanish names with the numbers untouched, and
"something went wrong" in Spanish; an English member beside them still reads English."""

from __future__ import annotations

import pytest

from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import SignalUser
from handlers.base import Turn
from handlers.router import CommandRoute


@pytest.fixture
async def box(signal_sandbox: Sandbox) -> Sandbox:
    return signal_sandbox


async def in_spanish(box: Sandbox, user: SignalUser) -> None:
    es = box.text("es")
    await user.send("/language")
    choose = await user.wait_for(box.text().language_prompt)
    await user.press(choose, "Español")
    await user.wait_for(es.language_set)


async def test_a_spanish_member_on_signal_reads_spanish_hints_and_names(box: Sandbox) -> None:
    es, en = box.text("es"), box.text("en")
    officer = await box.join_signal("Lupe", Role.OFFICER)
    english = await box.join_signal("Dana", Role.OFFICER)
    await in_spanish(box, officer)

    await officer.send("talk")
    intake = await officer.wait_for("¿De qué se trata sobre todo?")
    assert es.signal_choose_hint in intake.text and es.signal_crisis_hint in intake.text
    assert en.signal_choose_hint not in intake.text
    assert es.crisis_word in es.signal_crisis_hint

    await officer.send("crisis")
    lines = await officer.wait_for("COPLINE (la atienden agentes retirados)")
    assert "Línea 988 de crisis, llamada o texto: 988" in lines.text
    assert "1-800-267-5463" in lines.text  # numbers as they are
    assert "988 Suicide" not in lines.text

    await english.send("talk")
    theirs = await english.wait_for("What's it mostly about?")
    assert en.signal_choose_hint in theirs.text and es.signal_choose_hint not in theirs.text
    await english.send("crisis")
    await english.wait_for("988 Suicide & Crisis Lifeline, call or text: 988 (24/7)")


async def test_something_went_wrong_in_the_members_language(box: Sandbox) -> None:
    officer = await box.join_signal("Lupe", Role.OFFICER)
    await in_spanish(box, officer)

    async def explode(_turn: Turn) -> None:
        raise ValueError("boom")

    assert box.app is not None and box.app.dispatcher is not None
    box.app.dispatcher.router.commands["explode"] = CommandRoute(explode, frozenset(Role))
    await officer.send("/explode")
    await officer.wait_for(box.text("es").something_went_wrong)
