"""A Spanish-speaking officer, start to finish, over the real wire: the language comes from
Telegram's language_code at join and is used for every screen they get, while the English
peer reads English; /language changes it; /hours speaks the member's day names."""

from __future__ import annotations

import re

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.conftest import FakeClock
from tests.test_e2e_coordination import said_after
from tests.test_e2e_routing import member_of


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
    await officer.wait_for("Le escribiremos aquí en 3 y 14 días")  # the plan for stress

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


async def spanish_member(
    sandbox: Sandbox, name: str, role: Role, *, agency: str | None = None
) -> SimUser:
    user = sandbox.person(name)
    user.language_code = "es-419"
    (code,) = await sandbox.invite(role, agency=agency)
    await user.send(f"/start {code}")
    await user.wait_for("Bienvenido")
    return user


async def test_whole_sentences_in_spanish_where_pieces_were_glued(sandbox: Sandbox) -> None:
    """Invite codes counted with plural forms, a waiting line with its flags, quiet hours
    refused in Spanish, a check-in date and a list of days in Spanish."""
    coordinator = await spanish_member(sandbox, "Marta", Role.COORDINATOR)
    await coordinator.send("/invite officer 2 Ogdenville PD")
    await coordinator.wait_for("2 códigos de invitación para el rol officer en Ogdenville PD.")
    await coordinator.send("/invite peer 1 2099-01-01")
    await coordinator.wait_for("1 código de invitación para el rol peer. Sirve 7 días.")

    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("/talk")
    await officer.press(await officer.wait_for("What's it mostly about?"), EN.urgent_button)
    await coordinator.wait_for("URGENTE")
    await coordinator.send("/waiting")
    waiting = await coordinator.wait_for("1. 0 min")
    assert waiting.text.endswith("ofertas enviadas: 0 · NO ESTÁ A SALVO · coordinadores avisados")

    es = sandbox.text("es")
    await coordinator.send("/quiet 25")
    await coordinator.wait_for(es.quiet_bad)
    await coordinator.send("/quiet 8-8")
    await coordinator.wait_for(es.quiet_bad_same)
    await coordinator.send("/checkin weekly")
    done = await coordinator.wait_for("Hecho. Le escribiremos")
    assert re.search(
        r"la primera vez el (lun|mar|mié|jue|vie|sáb|dom), \d{1,2} (nov|dic)\.", done.text
    )

    await coordinator.send("/hours xyz 18-06")
    refused = await coordinator.wait_for("No conozco el día")
    assert "lun, mar, mié, jue, vie, sáb o dom" in refused.text


async def test_a_spanish_helper_is_paged_for_an_incident_and_the_coordinator_counts(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """A critical incident in Spanish: a Spanish-speaking coordinator opens it, a Spanish-
    speaking helper from another agency is paged in Spanish, says yes and may be named, an
    English helper says no in English; the counts, the name and the close reach the
    coordinator in Spanish, and the helper on call is told of the close in Spanish."""
    es, en = sandbox.text("es"), sandbox.text("en")
    agency = "Springfield PD"
    await sandbox.join("Dana", Role.OFFICER, agency=agency)
    coordinator = await spanish_member(sandbox, "Marta", Role.COORDINATOR)
    rosa = await spanish_member(sandbox, "Rosa", Role.PEER, agency="Shelbyville SO")
    await rosa.send("/available")
    await rosa.wait_for(es.now_available)
    alex = await sandbox.join("Alex", Role.PEER, agency="Capital City PD")

    await coordinator.send(f"/incident 2 {agency}")
    confirm = await coordinator.wait_for(es.incident_confirm.format(agency=agency, count=2))
    await coordinator.press(confirm, es.incident_page_peers)
    await coordinator.wait_for(es.incident_opened.format(agency=agency, days=14))
    page = await rosa.wait_for(es.page.format(agency=agency))
    assert page.labels() == [es.page_accept, es.page_decline, es.offer_involved]
    await alex.press(await alex.wait_for(en.page.format(agency=agency)), en.page_decline)
    await alex.wait_for(en.page_declined)

    seen = len(coordinator.inbox)
    await rosa.press(page, es.page_accept)
    await rosa.press(await rosa.wait_for(es.page_accepted.format(agency=agency)), es.page_name_yes)
    await rosa.wait_for(es.page_named)
    status = es.incident_status.format(
        agency=agency,
        day=clock.now.date().isoformat(),
        accepted=1,
        wanted=2,
        declined=1,
        waiting=0,
    )
    helper = await member_of(sandbox, rosa)
    named = es.incident_named.format(names=f"{helper.display_name} (#{helper.id})")
    assert status in await said_after(coordinator, seen, named)

    await coordinator.send("/incident")
    close = es.incident_close_button.format(agency=agency)
    await coordinator.wait_until(lambda: any(close in m.labels() for m in coordinator.inbox))
    await coordinator.press(next(m for m in coordinator.inbox if close in m.labels()), close)
    await coordinator.wait_for(es.incident_closed.format(agency=agency, count=1))
    await rosa.wait_for(es.page_closed_on_call.format(agency=agency))
