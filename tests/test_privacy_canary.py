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
