"""The attacker: someone who copies the database, its WAL and its shared-memory file at the
worst moments (mid-conversation, after /cancel, during and after a hand-over, after /end, and
while a backup holds a reader open) and reads every table of every committed state, every WAL
frame and every byte.

Without the master key they must learn no member-to-member link and no time of a conversation;
with it, no pair of a conversation that has ended. Real PTB against the local Bot API.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import struct
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import EN
from bot.model import MemberId, Role, Thread
from bot.sandbox.harness import Sandbox
from bot.storage.repository import Repository
from crypto import Vault, load_master_key
from tests.conftest import FakeClock
from tests.test_e2e_routing import member_of
from tests.test_e2e_walking_skeleton import ask_for_peer

pytestmark = pytest.mark.security  # with tests/test_security.py and the fuzz suite

FILES = ("peerline.db", "peerline.db-wal", "peerline.db-shm")
# Any ISO time with hours and minutes, as SQLite text or inside any other byte string.
ISO_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d")


@dataclass
class Copy:
    """What the attacker took: the three files as they were at one moment."""

    name: str
    directory: Path
    data: dict[str, bytes] = field(default_factory=dict)

    @property
    def every_byte(self) -> bytes:
        return b"".join(self.data.values())


def take(sandbox: Sandbox, name: str, into: Path) -> Copy:
    target = into / name
    target.mkdir(parents=True)
    copy = Copy(name, target)
    for file_name in FILES:
        source = sandbox.directory / file_name
        if source.exists():
            shutil.copyfile(source, target / file_name)
            copy.data[file_name] = (target / file_name).read_bytes()
    return copy


def wal_frames(wal: bytes) -> tuple[int, list[tuple[int, int, bool, bytes]]]:
    """Every frame of a WAL file: (page number, database size if it commits, whether it is of
    the current generation (its salt matches the header), page bytes). Stale frames left from
    an earlier generation are returned too: an attacker reads them as well."""
    if len(wal) < 32:
        return 0, []
    page_size = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    frames = []
    offset = 32
    while offset + 24 + page_size <= len(wal):
        page_no, commit_size = struct.unpack(">II", wal[offset : offset + 8])
        current = wal[offset + 8 : offset + 16] == salt
        page = wal[offset + 24 : offset + 24 + page_size]
        frames.append((page_no, commit_size, current, page))
        offset += 24 + page_size
    return page_size, frames


def images(copy: Copy) -> list[bytes]:
    """Every committed state in the copy: the main file alone, then after each commit frame
    of the WAL's current generation."""
    main = copy.data.get("peerline.db", b"")
    states = [main]
    page_size, frames = wal_frames(copy.data.get("peerline.db-wal", b""))
    pages: dict[int, bytes] = {}
    for page_no, commit_size, current, page in frames:
        if not current:
            break  # frames past the current generation are not part of any committed state
        pages[page_no] = page
        if commit_size:
            size = commit_size * page_size
            image = bytearray(main[:size].ljust(size, b"\0"))
            for number, content in pages.items():
                if number <= commit_size:
                    image[(number - 1) * page_size : number * page_size] = content
            states.append(bytes(image))
    return states


def tables_of(image: bytes, scratch: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table of one committed state, read as anyone can read SQLite: names and rows."""
    path = scratch / "state.db"
    path.write_bytes(image)
    found: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            cursor = conn.execute(f'SELECT * FROM "{name}"')  # noqa: S608 - names from the file
            columns = [d[0] for d in cursor.description]
            found[name] = (columns, list(cursor.fetchall()))
    path.unlink()
    return found


def member_columns(image: bytes, scratch: Path) -> set[tuple[str, str]]:
    """Clear columns that name a member: every foreign key to members, and a request's
    preferred helper."""
    path = scratch / "schema.db"
    path.write_bytes(image)
    found = {("requests", "preferred_helper")}
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            for row in conn.execute(f'PRAGMA foreign_key_list("{name}")'):
                if row[2] == "members":
                    found.add((name, row[3]))
    path.unlink()
    return found


@dataclass
class Story:
    """What really happened, which the attacker tries to recover."""

    officers: set[MemberId] = field(default_factory=set)
    moments: list[datetime] = field(default_factory=list)  # every accept, cancel and end
    ended: dict[str, bytes] = field(default_factory=dict)  # thread id -> its wrapped key
    ended_pairs: set[tuple[MemberId, MemberId]] = field(default_factory=set)


def assert_keyless_learns_nothing(copy: Copy, story: Story, scratch: Path) -> None:
    states = images(copy)
    assert states[0], f"{copy.name}: no database copied"
    linking = member_columns(states[0], scratch)
    for number, image in enumerate(states):
        tables = tables_of(image, scratch)
        where = f"{copy.name}, state {number}"
        # No open request or offer at these moments: nothing ties a helper to a request.
        assert tables["requests"][1] == [], where
        assert tables["offers"][1] == [], where
        for table, column in linking:
            if table not in tables:
                continue
            columns, rows = tables[table]
            at = columns.index(column)
            named = {row[at] for row in rows}
            # An officer is never named in clear outside their own members row.
            assert not named & story.officers, f"{where}: {table}.{column}"
        # A thread row is its id and two ciphertexts: no member, no time.
        assert tables["threads"][0] == ["id", "wrapped_key", "sealed"], where
    # Every byte, every WAL frame of any generation: no clear time falls in the hour the
    # conversations happened (invites were made before it; check-ins are due days later).
    clear_times = {m.group().decode() for m in ISO_TIME.finditer(copy.every_byte)}
    first, last = min(story.moments), max(story.moments)
    for text in clear_times:
        moment = datetime.fromisoformat(text).replace(tzinfo=first.tzinfo)
        outside = moment < first - timedelta(minutes=1) or moment > last + timedelta(minutes=1)
        assert outside, f"{copy.name}: {text} is readable without the key"


async def assert_keyed_finds_no_ended_pair(
    copy: Copy, story: Story, vault: Vault, scratch: Path
) -> None:
    every_byte = copy.every_byte
    for thread_id, wrapped in story.ended.items():
        kept_id, kept_key = thread_id.encode() in every_byte, wrapped in every_byte
        assert not kept_id, f"{copy.name}: the ended thread {thread_id} is still in the files"
        assert not kept_key, f"{copy.name}: the wrapped key of {thread_id} is still there"
    for number, image in enumerate(images(copy)):
        path = scratch / f"keyed-{number}.db"
        path.write_bytes(image)
        repo = await Repository.open(path, vault)
        try:
            live = {(t.officer_id, t.helper_id) for t in await repo.live_threads()}
            assert not live & story.ended_pairs, f"{copy.name}, state {number}"
            for officer_id in story.officers:
                private = await repo.officer_private(officer_id)
                for officer, helper in story.ended_pairs:
                    if officer == officer_id:
                        assert private.again != helper and helper not in private.blocked
                for followup in await repo.followups_of(officer_id):
                    assert followup.helper_id is None, f"{copy.name}: a follow-up names a helper"
            assert await repo.open_requests() == []
        finally:
            await repo.close()
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


async def live_thread(sandbox: Sandbox) -> Thread:
    assert sandbox.app is not None and sandbox.app.services is not None
    (thread,) = sandbox.app.services.relay.threads.values()
    return thread


def wrapped_key_of(sandbox: Sandbox, thread: Thread) -> bytes:
    with closing(sqlite3.connect(sandbox.directory / "peerline.db")) as conn:
        row = conn.execute("SELECT wrapped_key FROM threads WHERE id = ?", (thread.id,)).fetchone()
    assert row is not None
    return bytes(row[0])


async def test_a_copy_of_the_files_gives_no_pair_and_no_time(
    sandbox: Sandbox, clock: FakeClock, tmp_path: Path
) -> None:
    dana = await sandbox.join("Dana", Role.OFFICER)
    sam = await sandbox.join("Sam", Role.OFFICER)
    alex = await sandbox.join("Alex", Role.PEER)
    jordan = await sandbox.join("Jordan", Role.CHAPLAIN, available=False)
    story = Story(officers={(await member_of(sandbox, o)).id for o in (dana, sam)})
    copies = tmp_path / "copies"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    vault = Vault(load_master_key(sandbox.key_file))

    def step(minutes: int, seconds: int = 0) -> None:
        clock.advance(timedelta(minutes=minutes, seconds=seconds))
        story.moments.append(clock.now)

    # Dana talks with Alex.
    step(17, 23)
    await ask_for_peer(dana, outside=False)
    offer = await alex.wait_for("New request")
    step(2, 41)
    await alex.press(offer, EN.offer_accept)
    await dana.wait_for("is here for you")
    await dana.send("it was a bad night")
    await alex.wait_for("it was a bad night")
    first = await live_thread(sandbox)
    first_key = wrapped_key_of(sandbox, first)
    mid = take(sandbox, "mid-thread", copies)
    assert_keyless_learns_nothing(mid, story, scratch)
    # The same reader, with the key, does find a live pair: the checks can see a link.
    path = scratch / "sanity.db"
    path.write_bytes(images(mid)[-1])
    repo = await Repository.open(path, vault)
    try:
        assert [(t.officer_id, t.helper_id) for t in await repo.live_threads()] == [
            (first.officer_id, first.helper_id)
        ]
    finally:
        await repo.close()

    # Sam asks and withdraws before anyone picks up.
    step(3, 7)
    await ask_for_peer(sam, outside=False)
    await sam.wait_for("We're finding")
    step(1, 13)
    await sam.send("/cancel")
    await sam.wait_for(EN.request_cancelled)
    cancelled = take(sandbox, "after-cancel", copies)
    assert_keyless_learns_nothing(cancelled, story, scratch)

    # Alex hands Dana over to Jordan (a chaplain); Dana agrees; Jordan picks up.
    await jordan.send("/available")
    await jordan.wait_for("You're available")
    step(4, 19)
    await alex.send("/transfer")
    await alex.press(await alex.wait_for(EN.transfer_which), EN.transfer_to_chaplain)
    ask = await dana.wait_for("suggests handing this conversation over to a chaplain")
    await dana.press(ask, EN.transfer_yes)
    offer = await jordan.wait_for("New request")
    step(2, 53)
    await jordan.press(offer, EN.offer_accept)
    await alex.wait_for("You've left the conversation")
    story.ended[first.id] = first_key
    story.ended_pairs.add((first.officer_id, first.helper_id))
    second = await live_thread(sandbox)
    second_key = wrapped_key_of(sandbox, second)
    handed = take(sandbox, "after-hand-over", copies)
    assert_keyless_learns_nothing(handed, story, scratch)
    await assert_keyed_finds_no_ended_pair(handed, story, vault, scratch)

    # Dana ends it while a backup holds a reader open: the files are copied meanwhile.
    with closing(sqlite3.connect(sandbox.directory / "peerline.db")) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM members").fetchall()
        step(9, 31)
        await dana.send("/end")
        await dana.wait_for(EN.thread_ended_by_you)
        await jordan.wait_for("has closed the conversation")
        held = take(sandbox, "end-with-reader-open", copies)
        assert_keyless_learns_nothing(held, story, scratch)
        # Until the reader lets go, the ended thread is still in the file, sealed.
        assert second.id.encode() in held.every_byte
        reader.rollback()
    assert sandbox.app is not None
    await sandbox.app.tick()
    story.ended[second.id] = second_key
    story.ended_pairs.add((second.officer_id, second.helper_id))
    after = take(sandbox, "after-end", copies)
    assert_keyless_learns_nothing(after, story, scratch)
    await assert_keyed_finds_no_ended_pair(after, story, vault, scratch)

    # And once Peerline has stopped.
    await sandbox.stop_app()
    stopped = take(sandbox, "stopped", copies)
    assert_keyless_learns_nothing(stopped, story, scratch)
    await assert_keyed_finds_no_ended_pair(stopped, story, vault, scratch)


@pytest.mark.parametrize("by_itself", [False, True], ids=["closed", "closed-by-itself"])
async def test_a_closed_incident_leaves_no_agency_to_helper_link(
    sandbox: Sandbox, clock: FakeClock, tmp_path: Path, *, by_itself: bool
) -> None:
    """While an incident is open its agency is sealed; once closed (by a coordinator, or by
    itself after `auto_close_days`), no committed state, WAL frame or byte holds its record,
    its pages or anything that ties the agency to a helper, with the key or without it: only
    a row of numbers."""
    agency = "Springfield PD"
    await sandbox.join("Dana", Role.OFFICER, agency=agency)
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    blake = await sandbox.join("Blake", Role.PEER, agency="Capital City PD")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)
    copies = tmp_path / "copies"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    vault = Vault(load_master_key(sandbox.key_file))

    await morgan.send(f"/incident 2 {agency}")
    await morgan.press(await morgan.wait_for("Open a critical incident"), EN.incident_page_peers)
    page = await alex.wait_for("Critical incident at")
    await alex.press(page, EN.page_accept)
    await alex.press(await alex.wait_for("May I tell the coordinator"), EN.page_name_yes)
    await alex.wait_for(EN.page_named)
    await blake.press(await blake.wait_for("Critical incident at"), EN.offer_involved)
    await blake.wait_for(EN.page_involved_ack)

    with closing(sqlite3.connect(sandbox.directory / "peerline.db")) as conn:
        (incident_id, record), *_ = conn.execute("SELECT id, record_ct FROM incidents")
        pages = [bytes(r[0]) for r in conn.execute("SELECT message_ct FROM incident_pages")]
    open_copy = take(sandbox, "incident-open", copies)
    assert agency.encode() not in open_copy.every_byte
    assert agency.casefold().encode() not in open_copy.every_byte
    for image in images(open_copy):
        columns, _ = tables_of(image, scratch)["incidents"]
        assert columns == ["id", "record_ct"]

    assert sandbox.app is not None
    if by_itself:
        clock.advance(timedelta(days=14))
        await sandbox.app.tick()
        await morgan.wait_for("Closed by itself after 14 days: Springfield PD")
    else:
        await morgan.send("/incident")
        close = EN.incident_close_button.format(agency=agency)
        await morgan.wait_until(lambda: any(close in m.labels() for m in morgan.inbox))
        await morgan.press(next(m for m in morgan.inbox if close in m.labels()), close)
        await morgan.wait_for("Closed: Springfield PD")
    await sandbox.app.tick()
    await sandbox.stop_app()
    closed = take(sandbox, "incident-closed", copies)
    every_byte = closed.every_byte
    assert bytes(record) not in every_byte
    assert not any(page in every_byte for page in pages)
    assert str(incident_id).encode() not in every_byte
    for number, image in enumerate(images(closed)):
        tables = tables_of(image, scratch)
        assert tables["incidents"][1] == [], number
        assert tables["incident_pages"][1] == [], number
        columns, rows = tables["incident_metrics"]
        assert columns == ["id", "week", "pages_sent", "pages_accepted"]
        assert [row[2:] for row in rows] == [(2, 1)]
        path = scratch / f"keyed-incident-{number}.db"
        path.write_bytes(image)
        repo = await Repository.open(path, vault)
        try:
            assert await repo.incidents() == []
        finally:
            await repo.close()
