"""A Spanish-speaking officer, start to finish, over the real wire: the language comes from
Telegram's language_code at join and is used for every screen they get, while the English
peer reads English; /language changes it; /hours speaks the member's day names."""

from __future__ import annotations

from bot.model import Role
from bot.sandbox.harness import Sandbox


async def test_a_spanish_speaking_officer_has_a_whole_conversation(sandbox: Sandbox) -> None:
    es, en = sandbox.text("es"), sandbox.text("en")
    peer = await sandbox.join("Alex", Role.PEER)
    officer = sandbox.person("Lupe")
    officer.language_code = "es-MX"
    (code,) = await sandbox.invite(Role.OFFICER)
    await officer.send(f"/start {code}")
    welcome = await officer.wait_for("Bienvenido a Sandbox Peer Support")
    assert welcome.text == es.welcome_officer

    await officer.send("/privacy")
    await officer.wait_for(es.privacy)
    await officer.wait_for("Así lo dice Sandbox Peer Support")

    await officer.send("/talk")
    menu = await officer.wait_for("¿De qué se trata sobre todo?")
    assert es.crisis_button not in menu.labels()[:-1]  # the crisis button comes last
    await officer.press(menu, es.category_stress)
    await officer.press(await officer.wait_for(es.intake_who), es.who_peer)
    await officer.press(await officer.wait_for(es.intake_outside), es.outside_no)
    await officer.press(await officer.wait_for(es.intake_note), es.note_skip)
    status = await officer.wait_for("Ya buscamos a un compañero para usted")
    assert "30 minutos" in status.text and es.crisis_button in status.labels()

    offer = await peer.wait_for("New request: Stress or burnout")  # the peer reads English
    await peer.press(offer, en.offer_accept)
    await officer.wait_for("un compañero capacitado, está aquí para usted")
    await officer.send("Hola, gracias por responder.")
    await peer.wait_for("Hola, gracias por responder.")
    await peer.send("I'm here.")
    await officer.wait_for("I'm here.")

    await officer.send("/end")
    closed = await officer.wait_for("Esta charla está cerrada. No se guardó nada de ella.")
    assert "/talk" in closed.text and "988" in closed.text
    rating = await officer.wait_for(es.rate_prompt)
    assert rating.labels()[5].startswith("Otra vez con")
    assert rating.labels()[6].startswith("No otra vez con")
    await officer.press(rating, "5")
    helped = await officer.wait_for(es.helped_prompt)
    await officer.press(helped, es.helped_yes)
    await officer.wait_for(es.rating_thanks)
    await peer.wait_for("has closed the conversation")

    await officer.send("/language")
    choose = await officer.wait_for(es.language_prompt)
    await officer.press(choose, "English")
    await officer.wait_for(en.language_set)
    await officer.send("/help")
    await officer.wait_for(en.help_officer)


async def test_a_spanish_helper_sets_hours_with_spanish_day_names(sandbox: Sandbox) -> None:
    es = sandbox.text("es")
    helper = sandbox.person("Rosa")
    helper.language_code = "es"
    (code,) = await sandbox.invite(Role.PEER)
    await helper.send(f"/start {code}")
    welcome = await helper.wait_for("Bienvenido al equipo")
    # The nickname is made of the Spanish word lists (noun first).
    nouns = [w.strip() for w in es.alias_nouns.split(",")]
    assert any(f"“{noun} " in welcome.text for noun in nouns)
    await helper.send("/hours lun-vie 18:00-06:00, sáb 8-20")
    done = await helper.wait_for("Entendido. Le pueden llegar pedidos en este horario")
    assert "lun 18:00-06:00" in done.text and "sáb 08:00-20:00" in done.text
    await helper.send("/hours xyz 18-06")
    await helper.wait_for("No conozco el día en “xyz 18-06”")
