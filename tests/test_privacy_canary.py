"""Privacy is tested, not promised: relayed text must leave no trace on disk or in any log.

Distinctive canary strings go through a real relay both ways (the real PTB against the local Bot
API). Afterwards, and also while the thread is still open, no byte of the database, its WAL or
shared-memory file, or the log file contains them; nor does any log record; and no platform user
id is stored in clear.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from handlers.base import Turn
from handlers.router import CommandRoute
from tests.test_e2e_walking_skeleton import ask_for_peer

CANARY_FROM_OFFICER = "CANARY-officer-7f3a9c Sergeant Whitfield shot on Elm Street"
CANARY_FROM_PEER = "CANARY-peer-2b8e41 call me at 555-0142"
CANARY_NOTE = "CANARY-note-c41d Officer Ramirez hit on Route 9"
CANARY_CAPTION = "CANARY-caption-77ab the letter from internal affairs"
CANARY_EDIT = "CANARY-edit-e5f0 actually it was my partner"
CANARY_LONG = (
    "CANARY-long-91d0 " + "word " * 1200 + "END-91d0"
)  # over Telegram's limit: split in pieces


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Everything at DEBUG, to a file, for the duration of the test."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def files_under(*directories: Path) -> list[Path]:
    return [p for d in directories for p in sorted(d.rglob("*")) if p.is_file()]


def assert_absent(needles: list[bytes], paths: list[Path]) -> None:
    assert paths, "nothing to scan"
    for path in paths:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle[:24]!r} found in {path.name}"


async def test_relayed_text_leaves_no_trace(
    sandbox: Sandbox, debug_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    officer = await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    peer = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    await ask_for_peer(officer, note=CANARY_NOTE)
    offer = await peer.wait_for("New request")
    assert CANARY_NOTE in offer.text  # shown to the helper we ask, and only kept in memory
    await peer.press(offer, EN.offer_accept)
    await officer.wait_for("is here for you")

    await officer.send(CANARY_FROM_OFFICER)
    await peer.wait_for(CANARY_FROM_OFFICER)
    await peer.send(CANARY_FROM_PEER)
    await officer.wait_for(CANARY_FROM_PEER)
    await officer.send_media(
        "document", caption=CANARY_CAPTION, file_name="CANARY-file-31aa divorce papers.pdf"
    )
    document = await peer.wait_for(CANARY_CAPTION)
    copied = sandbox.api.raw_message(peer.user_id, document.message_id)
    assert "CANARY-file-31aa" in json.dumps(copied)  # the file itself arrived, name and all
    typo = await peer.send("it was my sergeant")
    await officer.wait_for("it was my sergeant")
    await peer.edit(typo, CANARY_EDIT)
    await officer.wait_for(CANARY_EDIT)
    await officer.send(CANARY_LONG)
    await peer.wait_for("END-91d0")
    # The long text arrived whole, in order, in pieces under Telegram's limit.
    pieces = [m.text.split("\n", 1)[1] for m in peer.inbox if "word word" in m.text]
    assert len(pieces) >= 2
    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == CANARY_LONG.split()

    canaries = [
        CANARY_FROM_OFFICER,
        CANARY_FROM_PEER,
        "CANARY-long-91d0",
        "555-0142",
        "CANARY-note-c41d",
        "Ramirez",
        "CANARY-caption-77ab",
        "CANARY-file-31aa",
        "CANARY-edit-e5f0",
        "my sergeant",
    ]
    needles = [c.encode() for c in canaries]
    user_ids = [str(u.user_id).encode() for u in (officer, peer)]
    agency = [b"Springfield PD", b"Shelbyville SO", b"springfield pd"]

    # While the thread is open: database, WAL and shared-memory files, and both logs.
    db_files = files_under(sandbox.directory)
    assert any(p.name.endswith("-wal") for p in db_files)
    assert_absent(needles, [*db_files, debug_log])
    db_only = [p for p in db_files if p.name.startswith("peerline.db")]
    assert_absent(user_ids + agency, db_only)

    await officer.send("/end")
    await peer.wait_for("has closed the conversation")
    await officer.wait_for("We'll check in with you")
    # The scans below run with the officer's check-in plan pending in the database.
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert await sandbox.app.repo.pending_followups() == 1
    await sandbox.stop_app()

    assert_absent(needles, [*files_under(sandbox.directory), debug_log])
    assert_absent(
        user_ids + agency,
        [p for p in files_under(sandbox.directory) if p.name.startswith("peerline.db")],
    )
    records = [f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    assert records, "the log captured nothing: the test would prove nothing"
    for record in records:
        for canary in canaries:
            assert canary not in record
        assert str(officer.user_id) not in record
        assert str(peer.user_id) not in record
        assert sandbox.api.token not in record


async def test_a_failing_handler_is_logged_without_what_the_person_wrote(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    officer = await sandbox.join("Dana", Role.OFFICER)

    async def explode(turn: Turn) -> None:
        raise ValueError(f"bad input: {turn.event.args}")

    assert sandbox.app is not None and sandbox.app.dispatcher is not None
    sandbox.app.dispatcher.router.commands["explode"] = CommandRoute(explode, frozenset(Role))
    await officer.send("/explode CANARY-crash-0b1d my address is 12 Oak Lane")
    await officer.wait_for(EN.something_went_wrong)
    failures = [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert failures, "the failure was logged"
    for record in caplog.records:
        logged = f"{record.getMessage()} {record.exc_text or ''} {record.exc_info or ''}"
        assert "CANARY-crash-0b1d" not in logged
        assert "Oak Lane" not in logged


SIGNAL_CANARY_OFFICER = "CANARY-signal-5e1f the lieutenant covered it up"
SIGNAL_CANARY_PEER = "CANARY-signal-peer-90aa my own number is 555-0199"
SIGNAL_CANARY_CAPTION = "CANARY-signal-caption-3c3c photo of the bruise"
SIGNAL_CANARY_EDIT = "CANARY-signal-edit-ab12 he threatened me"
SIGNAL_PHOTO = b"CANARY-signal-bytes-4d4d \xff\xd8\xff jpeg body"
TELEGRAM_FILE = b"CANARY-telegram-bytes-8e8e %PDF"
PHONE_ONLY = "+14155552671"  # a Signal user the gateway names only by number


async def test_signal_paths_leave_no_trace(
    tmp_path: Path, debug_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Signal officer known only by phone number, a Signal peer and a Telegram peer: text,
    attachments both ways across platforms, edits and a deletion leave nothing on disk or in
    a log, and no uuid or number is stored in clear."""
    caplog.set_level(logging.DEBUG)
    box = Sandbox(tmp_path / "sandbox", signal=True)
    await box.start()
    try:
        officer = await box.join_signal(
            "Dana", Role.OFFICER, agency="Springfield PD", number=PHONE_ONLY, has_uuid=False
        )
        peer = await box.join("Alex", Role.PEER, agency="Shelbyville SO")
        signal_peer = await box.join_signal("Sam", Role.PEER, available=False)
        await officer.send("talk")
        menu = await officer.wait_for("What's it mostly about?")
        await officer.press(menu, EN.category_critical_incident)
        await officer.press(await officer.wait_for(EN.intake_who), EN.who_peer)
        await officer.press(await officer.wait_for(EN.intake_outside), EN.outside_yes)
        await officer.wait_for(EN.intake_note)
        await officer.send(CANARY_NOTE)
        offer = await peer.wait_for("New request")
        await peer.press(offer, EN.offer_accept)
        await officer.wait_for("is here for you")

        sent = await officer.send(SIGNAL_CANARY_OFFICER)
        await peer.wait_for(SIGNAL_CANARY_OFFICER)
        await officer.edit(sent, SIGNAL_CANARY_EDIT)
        await peer.wait_for(SIGNAL_CANARY_EDIT)
        await officer.send_attachment(
            SIGNAL_PHOTO, "image/jpeg", caption=SIGNAL_CANARY_CAPTION, file_name="CANARY-n.jpg"
        )
        photo = await peer.wait_for(SIGNAL_CANARY_CAPTION)
        assert photo.data == SIGNAL_PHOTO
        await peer.send(SIGNAL_CANARY_PEER)
        await officer.wait_for(SIGNAL_CANARY_PEER)
        await peer.send_media("document", caption="file", data=TELEGRAM_FILE)
        await officer.wait_until(lambda: any(m.attachments for m in officer.inbox))
        gone = await officer.send("CANARY-deleted-1f1f never mind")
        await peer.wait_for("CANARY-deleted-1f1f")
        await officer.delete(gone)
        await signal_peer.send("hello")  # a second Signal person, never in the thread
        await signal_peer.wait_for(EN.not_in_thread_helper)

        canaries = [
            SIGNAL_CANARY_OFFICER,
            SIGNAL_CANARY_PEER,
            SIGNAL_CANARY_CAPTION,
            SIGNAL_CANARY_EDIT,
            "CANARY-note-c41d",
            "CANARY-deleted-1f1f",
            "CANARY-n.jpg",
            "555-0199",
        ]
        needles = [c.encode() for c in canaries] + [SIGNAL_PHOTO, TELEGRAM_FILE]
        assert signal_peer.uuid is not None
        ids = [PHONE_ONLY, PHONE_ONLY.lstrip("+"), signal_peer.uuid, str(peer.user_id)]
        db_files = files_under(box.directory)
        assert_absent(needles, [*db_files, debug_log])
        db_only = [p for p in db_files if p.name.startswith("peerline.db")]
        assert_absent([i.encode() for i in ids] + [b"Springfield PD"], db_only)

        await officer.send("end")
        await peer.wait_for("has closed the conversation")
        await box.stop_app()
        assert_absent(needles, [*files_under(box.directory), debug_log])
        records = [
            f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
        ]
        assert any(r.name.startswith("bot.transports.signal") for r in caplog.records)
        for record in records:
            for needle in [*canaries, *ids]:
                assert needle not in record
    finally:
        await box.stop()
