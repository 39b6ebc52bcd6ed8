"""Critical incidents end to end over the sandbox with the real PTB (and one page on Signal):
a coordinator opens one, helpers from outside the agency are paged, accept or decline, the
coordinator sees counts (names only with consent), the agency's officers are routed with the
incident in mind, involvement holds for every request tied to it, and a close leaves numbers.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage, SimUser
from tests.conftest import FakeClock
from tests.test_e2e_coordination import said_after
from tests.test_e2e_routing import member_of

AGENCY = "Springfield PD"
PAGE = "Critical incident at Springfield PD"


async def open_incident(
    coordinator: SimUser, count: int, *, button: str = EN.incident_page_peers
) -> None:
    await coordinator.send(f"/incident {count} {AGENCY}")
    confirm = await coordinator.wait_for("Open a critical incident for Springfield PD?")
    await coordinator.press(confirm, button)
    await coordinator.wait_for("Opened.")


def pages_of(user: SimUser) -> list[BotMessage]:
    return [m for m in user.inbox if PAGE in m.text]


def offers_of(user: SimUser) -> list[BotMessage]:
    return [m for m in user.inbox if "New request" in m.text]


def rows(box: Sandbox, sql: str) -> list[tuple[object, ...]]:
    assert box.config is not None
    with sqlite3.connect(box.config.storage.path) as conn:
        return list(conn.execute(sql).fetchall())


async def test_an_incident_end_to_end(sandbox: Sandbox) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    blake = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    casey = await sandbox.join("Casey", Role.PEER, agency="springfield pd")  # the same agency
    jordan = await sandbox.join("Jordan", Role.CHAPLAIN, agency="Ogdenville PD")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)

    # Only coordinators may open one.
    for someone in (alex, dana):
        await someone.send(f"/incident {AGENCY}")
        await someone.wait_for(EN.not_for_role)

    await open_incident(morgan, 2)
    # Two peers from other agencies are paged; never the agency's own, no chaplain unasked.
    page = await alex.wait_for(PAGE)
    assert page.labels() == [EN.page_accept, EN.page_decline, EN.offer_involved]
    yes_data = page.buttons[0][0][1]
    await blake.wait_for(PAGE)
    assert pages_of(casey) == [] and pages_of(jordan) == []

    # Blake was there: "I was involved" on the page. Nobody else can be paged.
    seen = len(morgan.inbox)
    await blake.press(pages_of(blake)[0], EN.offer_involved)
    await blake.wait_for(EN.page_involved_ack)
    status = await said_after(morgan, seen, "Said no: 1")
    assert "On call: 0 of 2. Said no: 1. No answer yet: 1." in status
    await said_after(morgan, seen, EN.incident_nobody_left)
    blake_member = await member_of(sandbox, blake)
    assert blake_member.display_name not in "".join(morgan.texts()[seen:])

    # Alex says yes, and that the coordinator may know it is them.
    seen = len(morgan.inbox)
    await alex.press(page, EN.page_accept)
    accepted = await alex.wait_for("You're on call for officers of Springfield PD")
    alex_member = await member_of(sandbox, alex)
    status = await said_after(morgan, seen, "On call: 1 of 2")
    assert alex_member.display_name not in status  # a count until they agree to be named
    await alex.press(accepted, EN.page_name_yes)
    await alex.wait_for(EN.page_named)
    named = await said_after(morgan, seen, "fine to be named")
    assert f"{alex_member.display_name} (#{alex_member.id})" in named

    # Dana asks for help: the topic is the incident unless she says otherwise, the search is
    # outside her agency without asking, and Alex (on call for it) is asked first.
    await dana.send("/talk")
    intake = await dana.wait_for("We know about the critical incident at your agency")
    assert intake.labels()[:4] == [EN.urgent_button, EN.who_peer, EN.who_chaplain, EN.who_either]
    await dana.press(intake, EN.who_peer)
    note = await dana.wait_for(EN.intake_note)
    assert not any(EN.intake_outside in t for t in dana.texts())
    await dana.press(note, EN.note_skip)
    offer = await alex.wait_for("New request: A critical incident")
    await dana.wait_for("We're finding a peer")
    assert offers_of(casey) == []  # the same agency: never, while the incident is open
    assert offers_of(blake) == []  # involved in the incident
    await alex.press(offer, EN.offer_accept)
    await dana.wait_for("is here for you")

    # Close it: the coordinator and the helper on call are told; only numbers stay.
    await morgan.send("/incident")
    close = EN.incident_close_button.format(agency=AGENCY)
    await morgan.wait_until(lambda: any(close in m.labels() for m in morgan.inbox))
    await morgan.press(next(m for m in morgan.inbox if close in m.labels()), close)
    await morgan.wait_for("Closed: Springfield PD. 1 helper was on call.")
    await alex.wait_for("The critical incident at Springfield PD is closed")
    assert rows(sandbox, "SELECT * FROM incidents") == []
    assert rows(sandbox, "SELECT * FROM incident_pages") == []
    assert rows(sandbox, "SELECT pages_sent, pages_accepted FROM incident_metrics") == [(2, 1)]

    # The old page is no longer active; forged and foreign page buttons never were.
    before = len(alex.inbox)
    await alex.press_data(yes_data, page)
    await alex.wait_for_count(before + 1)
    assert alex.texts()[-1] == EN.choice_expired
    await morgan.send("/incident")
    await morgan.wait_for(EN.incident_none_open)


async def test_forged_and_foreign_page_buttons_are_refused(sandbox: Sandbox) -> None:
    await sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    blake = await sandbox.join("Blake", Role.PEER, agency="Capital City PD", available=False)
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)
    await open_incident(morgan, 1)
    page = await alex.wait_for(PAGE)
    accept_data = page.buttons[0][0][1]
    incident_id = accept_data.split(":")[1].split(".")[0]

    # Blake (not paged) replays Alex's button; made-up and tampered data.
    await blake.press_data(accept_data)
    await blake.wait_for(EN.choice_expired)
    before = len(alex.inbox)
    await alex.press_data(f"pga:{incident_id}.AAAAAAAAAAAA")
    await alex.press_data(accept_data.replace(f"pga:{incident_id}", "pga:000000"))
    await alex.wait_for_count(before + 2)
    assert alex.texts()[-2:] == [EN.choice_expired, EN.choice_expired]
    # Nothing was accepted; the real button still works.
    assert rows(sandbox, "SELECT state FROM incident_pages") == [("pending",)]
    await alex.press(page, EN.page_accept)
    await alex.wait_for("You're on call")
    assert rows(sandbox, "SELECT state FROM incident_pages") == [("accepted",)]


async def test_involvement_holds_for_every_request_tied_to_the_incident(
    sandbox: Sandbox,
) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    erin = await sandbox.join("Erin", Role.OFFICER, agency=AGENCY)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    blake = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    cory = await sandbox.join("Cory", Role.PEER, agency="Ogdenville PD")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)
    await open_incident(morgan, 1)
    # Whoever was paged says yes (an offer goes to all three below all the same).
    await alex.wait_until(lambda: any(pages_of(u) for u in (alex, blake, cory)))
    paged = next(u for u in (alex, blake, cory) if pages_of(u))
    await paged.press(pages_of(paged)[0], EN.page_accept)
    await paged.wait_for("You're on call")

    # Dana's request reaches all three; Alex says "I was involved" on it.
    await dana.send("/talk")
    await dana.press(await dana.wait_for("We know about the critical incident"), EN.who_peer)
    await dana.press(await dana.wait_for(EN.intake_note), EN.note_skip)
    offer = await alex.wait_for("New request")
    await blake.wait_for("New request")
    await alex.press(offer, EN.offer_involved)
    await alex.wait_for(EN.offer_involved_ack)
    await blake.press(offers_of(blake)[0], EN.offer_accept)
    await dana.wait_for("is here for you")

    # Erin's request, another one tied to the incident (and on another topic): never Alex.
    await erin.send("/talk")
    await erin.press(
        await erin.wait_for("We know about the critical incident"), EN.intake_incident_other
    )
    topics = await erin.wait_for("What's it mostly about?")
    await erin.press(topics, EN.category_stress)
    await erin.press(await erin.wait_for(EN.intake_who), EN.who_peer)
    await erin.press(await erin.wait_for(EN.intake_note), EN.note_skip)
    second = await cory.wait_for("New request: Stress or burnout")
    await blake.wait_for("New request: Stress or burnout")
    assert not any("Stress or burnout" in t for t in alex.texts())
    await cory.press(second, EN.offer_accept)
    await erin.wait_for("is here for you")


async def test_restart_mid_incident_keeps_it_and_its_pages(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    await sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    blake = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)
    await open_incident(morgan, 1)
    await alex.wait_until(lambda: bool(pages_of(alex) or pages_of(blake)))
    first = alex if pages_of(alex) else blake
    second = blake if first is alex else alex
    page = await first.wait_for(PAGE)
    assert pages_of(second) == []

    await sandbox.stop_app()
    clock.advance(timedelta(minutes=4))  # past the page's time while the bot was down
    await sandbox.start_app()
    assert sandbox.app is not None
    await sandbox.app.tick()
    # The silent page expired honestly (its Yes stays), and its slot went to the next helper.
    await first.wait_for("Still open: the critical incident at Springfield PD")
    assert page.labels() == [EN.page_accept]
    await second.wait_for(PAGE)
    # A yes on the expired page, after the restart, still counts while it is open.
    seen = len(morgan.inbox)
    await first.press(page, EN.page_accept)
    await first.wait_for("You're on call")
    await said_after(morgan, seen, "On call: 1 of 1. Said no: 0. No answer yet: 1.")


async def test_an_incident_on_signal_is_opened_and_answered_by_number(
    signal_sandbox: Sandbox,
) -> None:
    """Signal has no buttons: the coordinator opens it and the helper answers it by number."""
    await signal_sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    morgan = await signal_sandbox.join_signal("Morgan", Role.COORDINATOR)
    sam = await signal_sandbox.join_signal("Sam", Role.CHAPLAIN, agency="Shelbyville SO")
    await morgan.send(f"/incident 1 {AGENCY}")  # with words after it, only with the slash
    confirm = await morgan.wait_for("Open a critical incident for Springfield PD?")
    assert confirm.labels() == [
        EN.incident_page_peers,
        EN.incident_page_both,
        EN.incident_cancel,
    ]
    await morgan.press(confirm, EN.incident_page_both)
    await morgan.wait_for("Opened.")
    page = await sam.wait_for(PAGE)
    assert page.labels() == [EN.page_accept, EN.page_decline, EN.offer_involved]
    await sam.press(page, EN.page_accept)
    asked = await sam.wait_for("May I tell the coordinator it's you?")
    await sam.press(asked, EN.page_name_no)
    await sam.wait_for(EN.page_counted)
    await morgan.wait_until(lambda: any("On call: 1 of 1" in t for t in morgan.texts()))
    welcome = next(t for t in sam.texts() if "Officers will see you as" in t)
    alias = welcome.split("\u201c", 1)[1].split("\u201d", 1)[0]
    assert alias and alias not in "".join(morgan.texts())  # counted, not named


async def test_an_incident_closes_by_itself_after_its_days(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    """Left open, an incident closes on the contact clock `auto_close_days` (14) after the day
    it opened, as a coordinator's close would: the helper on call and the coordinator who
    opened it are told, and only numbers stay."""
    await sandbox.join("Dana", Role.OFFICER, agency=AGENCY)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)
    other = await sandbox.join("Riley", Role.COORDINATOR)
    await open_incident(morgan, 1)
    assert "It closes by itself after 14 days." in morgan.texts()[-1]
    await morgan.send("/incident")
    await morgan.wait_for(EN.incident_closes_on.format(day="2026-12-08"))  # opened 2026-11-24
    await alex.press(await alex.wait_for(PAGE), EN.page_accept)
    await alex.wait_for("May I tell the coordinator")
    assert sandbox.app is not None

    clock.advance(timedelta(days=13))  # the 13th day after the one it opened: still open
    await sandbox.app.tick()
    assert rows(sandbox, "SELECT count(*) FROM incidents") == [(1,)]
    clock.advance(timedelta(days=1))
    await sandbox.app.tick()
    await morgan.wait_for(EN.incident_auto_closed.format(agency=AGENCY, days=14))
    await alex.wait_for("The critical incident at Springfield PD is closed")
    assert rows(sandbox, "SELECT * FROM incidents") == []
    assert rows(sandbox, "SELECT * FROM incident_pages") == []
    assert rows(sandbox, "SELECT pages_sent, pages_accepted FROM incident_metrics") == [(1, 1)]
    assert not any("Closed" in t for t in other.texts())  # the opener only
    await morgan.send("/incident")
    await morgan.wait_for(EN.incident_none_open)
