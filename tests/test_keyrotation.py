"""`peerline rotate-key`: everything re-sealed under a new key; a kill at any step loses nothing.

The crash tests run the real command in a subprocess, stop it at a named step (the one fault-
injection hook, PEERLINE_ROTATE_PAUSE_AT), kill it with SIGKILL and then prove the database opens
with one of the two keys, holds exactly what it held, and that re-running finishes the job.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import keyrotation
from bot.config import load_config
from bot.events import Address, Platform
from bot.model import (
    Category,
    MemberId,
    OfficerPrivate,
    Role,
    Thread,
    Wanted,
)
from bot.storage import integrity, rekey
from bot.storage.repository import (
    InviteSpec,
    Repository,
    RequestRecord,
    new_request_id,
    new_thread_id,
)
from crypto import MasterKey, Vault, generate_key_file, load_master_key
from tests.test_storage import LATER, NOW, code, join

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Setup:
    config_file: Path
    db_path: Path
    key_file: Path

    @property
    def pending(self) -> Path:
        return keyrotation.pending_key_path(self.key_file)


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.delenv("PEERLINE_MASTER_KEY", raising=False)
    (tmp_path / "secrets").mkdir(mode=0o700)
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[telegram]\nenabled = false\n[storage]\npath = "data/peerline.db"\n'
        '[crypto]\nkey_file = "secrets/master.key"\n',
        encoding="utf-8",
    )
    found = Setup(config_file, tmp_path / "data" / "peerline.db", tmp_path / "secrets/master.key")
    generate_key_file(found.key_file)
    await populate(found.db_path, load_master_key(found.key_file))
    return found


async def populate(path: Path, key: MasterKey) -> None:
    """Members with agencies, a private list and a supervision link, an open request with an
    offer, a live thread, unused invites: one of everything sealed."""
    repo = await Repository.open(path, Vault(key))
    try:
        officer = await join(repo, "1001", Role.OFFICER, agency="Springfield PD")
        peer = await join(repo, "1002", Role.PEER, agency="Shelbyville SO")
        chaplain = await join(repo, "1003", Role.CHAPLAIN, agency=None)
        await repo.set_available(peer.id, True)
        assert await repo.add_supervision(chaplain.id, officer.id)
        await repo.save_officer_private(
            officer.id, OfficerPrivate(blocked=frozenset({chaplain.id}), stable_alias=True)
        )
        request = RequestRecord(
            id=new_request_id(),
            officer_id=officer.id,
            category=Category.STRESS,
            wanted=Wanted.PEER,
            outside_agency=True,
            urgent=False,
            created_at=NOW,
        )
        await repo.create_request(request)
        await repo.add_offer(request.id, peer.id, NOW, NOW + timedelta(minutes=3), "77")
        await repo.save_thread(
            Thread(
                id=new_thread_id(),
                tag="ABC",
                officer_id=officer.id,
                helper_id=chaplain.id,
                officer_alias="Blue Heron",
                category=Category.OTHER,
                urgent=True,
                opened_at=NOW,
            )
        )
        for _ in range(2):
            await repo.create_invite(code(), InviteSpec(Role.OFFICER, None, LATER), NOW)
        await repo.record_spilled("telegram", ["1001"])  # to be told after the next start
    finally:
        await repo.close()


async def snapshot(path: Path, key: MasterKey) -> dict[str, object]:
    """Everything the database holds, as read through the repository with `key`."""
    repo = await Repository.open(path, Vault(key))
    try:
        members = []
        for member in await repo.all_members():
            members.append(
                (
                    member.id,
                    member.role,
                    member.address,
                    await repo.member_agency(member.id),
                    member.agency_hash is None,
                    member.available,
                    member.certified_until,
                    await repo.officer_private(member.id),
                    sorted(await repo.chain_of_command(member.id)),
                    await repo.member_by_address(member.address) == member,
                )
            )
        requests = [(r.id, r.officer_id, r.category) for r in await repo.open_requests()]
        offers = [
            (o.helper_id, o.message_id)
            for r in await repo.open_requests()
            for o in await repo.offers(r.id)
        ]
        threads = [(t.id, t.officer_id, t.helper_id, t.tag) for t in await repo.live_threads()]
        same_agency = [
            a.agency_hash == b.agency_hash
            for a in await repo.all_members()
            for b in await repo.all_members()
        ]
        assert await repo.unusable_members() == []
        spilled = sorted((a.platform.value, a.chat_id) for _, a in await repo.spilled_chats())
    finally:
        await repo.close()
    return {
        "spilled": spilled,
        "members": members,
        "requests": requests,
        "offers": offers,
        "threads": threads,
        "same_agency": same_agency,
    }


async def opens(path: Path, key: MasterKey) -> bool:
    try:
        repo = await Repository.open(path, Vault(key))
    except integrity.KeyMismatchError:
        return False
    await repo.close()
    return True


def no_pause(step: str) -> None:
    del step


async def rotate(setup: Setup) -> keyrotation.RotationResult:
    return await keyrotation.rotate(load_config(setup.config_file), pause=no_pause)


# -- the whole rotation -----------------------------------------------------------------------


def test_every_sealed_or_keyed_column_is_handled_by_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "schema.db"
    from bot.storage import db  # noqa: PLC0415

    with closing(sqlite3.connect(path)) as conn:
        for version, sql in db.migrations():
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        blobs = {
            (table, column[1])
            for table in tables
            for column in conn.execute(f"PRAGMA table_info({table})")
            if column[2] == "BLOB"
        }
    handled = rekey.RESEALED_COLUMNS | rekey.UNCHANGED_COLUMNS
    forgotten = {c for c in blobs if c not in handled and c[0] not in rekey.VOIDED_TABLES}
    assert forgotten == set()
    assert handled <= blobs  # nothing listed that the schema no longer has


async def test_rotation_re_seals_everything_and_voids_unused_invites(setup: Setup) -> None:
    old = load_master_key(setup.key_file)
    before = await snapshot(setup.db_path, old)
    old_hashes = {row[0] for row in _rows(setup.db_path, "SELECT address_hash FROM members")}

    result = await rotate(setup)

    assert result.counts is not None
    assert (result.counts.members, result.counts.requests, result.counts.offers) == (3, 1, 1)
    assert (result.counts.threads, result.counts.invites_voided) == (1, 2)
    assert not setup.pending.exists()
    new = load_master_key(setup.key_file)
    assert not await opens(setup.db_path, old)
    assert await snapshot(setup.db_path, new) == before
    # Lookup hashes moved to the new key too: none of the old ones is left in the file.
    new_hashes = {row[0] for row in _rows(setup.db_path, "SELECT address_hash FROM members")}
    assert not old_hashes & new_hashes
    data = setup.db_path.read_bytes()
    assert not any(h in data for h in old_hashes)
    assert _rows(setup.db_path, "SELECT count(*) FROM invites") == [(0,)]


async def test_rotation_refuses_while_the_bot_runs(setup: Setup) -> None:
    from bot.runlock import DatabaseBusyError, RunLock  # noqa: PLC0415

    running = RunLock(setup.db_path)
    running.acquire(exclusive=False, busy_message="unused")
    try:
        with pytest.raises(DatabaseBusyError, match="stop it first"):
            await rotate(setup)
    finally:
        running.release()
    assert not setup.pending.exists()


async def test_rotation_refuses_to_sign_a_tampered_record(setup: Setup) -> None:
    with closing(sqlite3.connect(setup.db_path)) as conn, conn:
        conn.execute("UPDATE members SET role = 'coordinator' WHERE id = 1")
    with pytest.raises(rekey.RekeyRefusedError, match="record\\(s\\) 1 fail"):
        await rotate(setup)
    assert await opens(setup.db_path, load_master_key(setup.key_file))


@pytest.mark.parametrize(
    ("tamper", "what"),
    [
        ("UPDATE requests SET officer_ct = (SELECT message_ct FROM offers)", "request"),
        ("UPDATE offers SET message_ct = (SELECT officer_ct FROM requests)", "offer"),
    ],
    ids=["request", "offer"],
)
async def test_rotation_refuses_a_value_sealed_to_another_row(
    setup: Setup, tamper: str, what: str
) -> None:
    with closing(sqlite3.connect(setup.db_path)) as conn, conn:
        conn.execute(tamper)
    with pytest.raises(rekey.RekeyRefusedError, match=f"a sealed {what} does not open"):
        await rotate(setup)
    assert await opens(setup.db_path, load_master_key(setup.key_file))


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql).fetchall())


# -- killed with SIGKILL at each step ---------------------------------------------------------


def start_rotation(setup: Setup, pause_at: str) -> subprocess.Popen[str]:
    env = dict(os.environ, **{keyrotation.PAUSE_ENV: pause_at})
    env.pop("PEERLINE_MASTER_KEY", None)
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bot", "--config", str(setup.config_file), "rotate-key"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_paused(process: subprocess.Popen[str], step: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the step is reached (or the process ends)
    if line.strip() != f"paused at {step}":
        process.kill()
        _, err = process.communicate(timeout=60)
        pytest.fail(f"rotation did not pause at {step}: {line!r} {err!r}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()


@pytest.mark.parametrize(
    ("step", "moved"), [("new-key", False), ("resealed", False), ("committed", True)]
)
async def test_a_rotation_killed_at_any_step_loses_nothing_and_can_be_finished(
    setup: Setup, step: str, moved: bool
) -> None:
    old = load_master_key(setup.key_file)
    before = await snapshot(setup.db_path, old)

    kill_when_paused(start_rotation(setup, step), step)

    assert setup.pending.exists()
    pending = load_master_key(setup.pending)
    # Exactly one of the two keys opens the database, and it holds what it held.
    assert await opens(setup.db_path, old) is not moved
    assert await opens(setup.db_path, pending) is moved
    assert await snapshot(setup.db_path, pending if moved else old) == before
    # `check` says what state the files are in.
    problems = await keyrotation.inspect(load_config(setup.config_file), old)
    assert len(problems) == 1
    assert ("interrupted after the database moved" in problems[0]) is moved
    assert ("unfinished key rotation" in problems[0]) is not moved

    result = await rotate(setup)  # the operator runs it again

    assert (result.counts is None) is moved
    final = load_master_key(setup.key_file)
    assert not setup.pending.exists()
    assert await snapshot(setup.db_path, final) == before
    assert not await opens(setup.db_path, old)


async def test_an_interrupted_rotation_can_be_aborted_until_the_database_moves(
    setup: Setup,
) -> None:
    old = load_master_key(setup.key_file)
    before = await snapshot(setup.db_path, old)
    kill_when_paused(start_rotation(setup, "resealed"), "resealed")
    config = load_config(setup.config_file)
    assert "removed" in await keyrotation.abort_rotation(config)
    assert not setup.pending.exists()
    assert await snapshot(setup.db_path, load_master_key(setup.key_file)) == before
    assert await keyrotation.inspect(config, old) == []

    kill_when_paused(start_rotation(setup, "committed"), "committed")
    with pytest.raises(keyrotation.RotationError, match="already uses the new key"):
        await keyrotation.abort_rotation(config)
    assert setup.pending.exists()


async def test_the_bot_refuses_to_start_mid_rotation_and_says_how_to_finish(
    setup: Setup,
) -> None:
    from bot.app import App  # noqa: PLC0415

    kill_when_paused(start_rotation(setup, "committed"), "committed")
    app = App(load_config(setup.config_file), transports=[])
    with pytest.raises(integrity.KeyMismatchError, match="run `peerline rotate-key` to finish"):
        await app.start()
    await app.stop()
    assert not await opens(setup.db_path, load_master_key(setup.key_file))


def test_member_address_type_is_stable() -> None:
    # The snapshot compares Address values; make sure they compare by value.
    assert Address(Platform.TELEGRAM, "1") == Address(Platform.TELEGRAM, "1")
    assert MemberId(1) == 1
