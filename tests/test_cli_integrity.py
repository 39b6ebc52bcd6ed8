"""The command line's side of integrity at rest: a wrong key, unsafe files, purge, log modes."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from bot.app import utc_now
from bot.cli import main
from bot.events import Address, Platform
from bot.storage.repository import Repository
from crypto import Vault, load_master_key, normalize_invite_code
from tests.test_cli import (
    CODE,
    config_file,
    run,
    unreachable_telegram_config,
)

__all__ = ["config_file"]  # the fixture, shared with test_cli


def test_run_creates_its_files_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = unreachable_telegram_config(tmp_path, monkeypatch)
    assert main(["--config", str(path), "keygen"]) == 0
    assert main(["--config", str(path), "run"]) == 1
    capsys.readouterr()
    for private in ("peerline.log", "data/peerline.db", "secret/master.key"):
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600


def _database_bytes(config_file: Path) -> bytes:
    path = config_file.parent / "data" / "peerline.db"
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_a_wrong_master_key_is_refused_by_check_and_run_before_any_write(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    run(config_file, "invite", "create", "--role", "officer")
    key = config_file.parent / "secrets" / "master.key"
    key.rename(key.with_name("other.key"))
    run(config_file, "keygen")  # a fresh key where the real one was
    capsys.readouterr()
    before = _database_bytes(config_file)

    assert run(config_file, "check") == 1
    err = capsys.readouterr().err
    assert err == "error: the master key does not open this database (wrong key?)\n"
    assert run(config_file, "run") == 1
    assert capsys.readouterr().err.splitlines()[-1] == err.strip()
    assert run(config_file, "invite", "create", "--role", "officer") != 0
    assert _database_bytes(config_file) == before


def test_a_database_others_can_read_is_refused(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_file, "keygen")
    run(config_file, "invite", "create", "--role", "officer")
    database = config_file.parent / "data" / "peerline.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    database.chmod(0o640)
    capsys.readouterr()
    assert run(config_file, "check") == 1
    err = capsys.readouterr().err
    assert "accessible to other users (mode 0640); run chmod 600" in err
    assert run(config_file, "run") == 2
    assert "accessible to other users" in capsys.readouterr().err


def test_revoke_with_purge_erases_a_member_even_one_already_revoked(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Erased all the same when Telegram cannot be reached to clear their menu (said so: the
    config's Bot API is a port where nothing answers)."""
    run(config_file, "keygen")
    run(
        config_file,
        "invite",
        "create",
        "--role",
        "officer",
        "--agency",
        "Springfield PD",
        "--count",
        "2",
    )
    codes = [word for word in capsys.readouterr().out.split() if CODE.match(word)]
    assert len(codes) == 2

    async def redeem() -> None:
        key = load_master_key(config_file.parent / "secrets" / "master.key")
        repo = await Repository.open(config_file.parent / "data" / "peerline.db", Vault(key))
        for number, code in enumerate(codes, start=1):
            normalized = normalize_invite_code(code)
            assert normalized is not None
            await repo.redeem_invite(
                normalized, Address(Platform.TELEGRAM, str(number)), utc_now()
            )
        await repo.close()

    asyncio.run(redeem())
    assert run(config_file, "roster", "revoke", "1") == 0
    assert run(config_file, "roster", "revoke", "1", "--purge") == 0
    assert run(config_file, "roster", "revoke", "2", "--purge") == 0
    out = capsys.readouterr().out
    assert "member 2 revoked and erased" in out
    assert "note: their Telegram menu stays until they next write: could not reach" in out
    assert run(config_file, "roster", "list") == 0
    listing = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:3] for line in listing] == [
        ["1", "officer", "-"],
        ["2", "officer", "-"],
    ]
    assert all(line.split()[3] == "purged" for line in listing)
    assert run(config_file, "check") == 0
