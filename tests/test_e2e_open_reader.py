"""A reader held open on the database (a backup, `peerline roster list`) while a conversation
ends: nothing stalls, and the shred reaches the file as soon as the reader lets go."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import SimUser
from tests.test_e2e_walking_skeleton import ask_for_peer


def database_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("peerline.db"))


def holding(needle: bytes, directory: Path) -> list[str]:
    """Names of the database files (main, WAL, shared memory) whose bytes contain `needle`."""
    return [p.name for p in database_files(directory) if needle in p.read_bytes()]


async def connect(sandbox: Sandbox, officer_name: str, peer_name: str) -> tuple[SimUser, SimUser]:
    officer = await sandbox.join(officer_name, Role.OFFICER)
    peer = await sandbox.join(peer_name, Role.PEER)
    await ask_for_peer(officer, outside=False)
    await peer.press(await peer.wait_for("New request"), EN.offer_accept)
    await officer.wait_for("is here for you")
    return officer, peer


async def test_end_with_an_open_reader_stalls_nothing_and_shreds_once_it_goes(
    sandbox: Sandbox,
) -> None:
    dana, alex = await connect(sandbox, "Dana", "Alex")
    assert sandbox.app is not None and sandbox.app.services is not None
    (thread_id,) = list(sandbox.app.services.relay.threads)
    sam, blair = await connect(sandbox, "Sam", "Blair")
    repo = sandbox.app.repo
    assert repo is not None
    assert holding(thread_id.encode(), sandbox.directory)  # stored while it lives

    with closing(sqlite3.connect(sandbox.directory / "peerline.db")) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM members").fetchall()  # holds its snapshot
        # With a 5 s busy wait retried under the repository's lock, this took 26 s and every
        # chat waited behind it; now each side hears at once and other chats go on.
        await dana.send("/end")
        await sam.send("still here?")
        await blair.wait_for("still here?")
        await dana.wait_for(EN.thread_ended_by_you)
        await alex.wait_for("has closed the conversation")
        await blair.send("yes, go on")
        await sam.wait_for("yes, go on")
        # The reader still needs the old pages: the shred is pending, not lost.
        assert repo.checkpoint_due()
        assert holding(thread_id.encode(), sandbox.directory)
        await sandbox.app.tick()
        assert repo.checkpoint_due()  # still busy while the reader is open
        reader.rollback()

    await sandbox.app.tick()  # the clock's next tick folds the WAL
    assert not repo.checkpoint_due()
    assert holding(thread_id.encode(), sandbox.directory) == []
    wal = sandbox.directory / "peerline.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
