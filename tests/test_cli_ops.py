"""`peerline backup` while the bot runs, restored into a working instance; `check --live`
against the local Bot API and Signal gateway stand-ins (and a broken token, a wrong key)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from bot.catalog import EN
from bot.cli import main
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.signal_api import LocalSignalApi
from bot.sandbox.telegram_api import LocalBotApi
from crypto import generate_key_file
from tests.conftest import FakeClock
from tests.ports import silent_port
from tests.test_delivery import eventually
from tests.test_e2e_walking_skeleton import ask_for_peer


def write_config(
    directory: Path,
    api: LocalBotApi,
    *,
    signal: LocalSignalApi | None = None,
    signal_number: str | None = None,
    unreachable: bool = False,
    webhook_url: str = "",
) -> Path:
    """`unreachable`: the Bot API and the gateway at a port where nothing answers;
    `webhook_url`: Telegram in webhook mode."""
    path = directory / "config.toml"
    bot_api = f"http://127.0.0.1:{silent_port()}/bot" if unreachable else api.base_url
    webhook = f'mode = "webhook"\nwebhook_url = "{webhook_url}"\n' if webhook_url else ""
    text = (
        f'[telegram]\nbase_url = "{bot_api}"\nbot_username = "{api.bot_username}"\n{webhook}'
        '[storage]\npath = "peerline.db"\n[crypto]\nkey_file = "master.key"\n'
    )
    if signal is not None:
        number = signal_number or signal.number
        service = f"127.0.0.1:{silent_port()}" if unreachable else signal.service
        text += f'[signal]\nenabled = true\nservice = "{service}"\nnumber = "{number}"\n'
    path.write_text(text, encoding="utf-8")
    return path


async def cli(*args: str) -> int:
    """The CLI runs its own event loop, so it runs in a thread beside the bot's."""
    return await asyncio.to_thread(main, list(args))


async def test_backup_while_running_restores_into_a_working_instance(
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = Sandbox(tmp_path / "live", clock=clock)
    await first.start()
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", first.api.token)
    try:
        officer = await first.join("Dana", Role.OFFICER, agency="Springfield PD")
        peer = await first.join("Alex", Role.PEER)
        await ask_for_peer(officer)
        await peer.press(await peer.wait_for("New request"), EN.offer_accept)
        await officer.wait_for("is here for you")
        config = write_config(first.directory, first.api)

        async def chatter() -> None:
            for number in range(20):
                await officer.send(f"message {number} during the backup")
            await peer.wait_for("message 19 during the backup")

        talking = asyncio.create_task(chatter())
        backups = tmp_path / "backups"
        assert await cli("--config", str(config), "backup", str(backups / "one.db")) == 0
        await talking
        out = capsys.readouterr().out
        assert "integrity_check ok" in out and "master key is NOT in it" in out
        assert (backups / "one.db").stat().st_mode & 0o777 == 0o600
        assert not (backups / "one.db-wal").exists()
        # Never overwritten; never beside the key.
        assert await cli("--config", str(config), "backup", str(backups / "one.db")) == 2
        assert "already exists" in capsys.readouterr().err
        assert await cli("--config", str(config), "backup", str(first.directory / "b.db")) == 2
        assert "beside the master key" in capsys.readouterr().err
        key = first.key_file.read_bytes()
    finally:
        await first.stop()

    # Restore as docs/operations.md says: the backup becomes the database, the key comes
    # from where it is kept, and `check --live` passes before the bot starts.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(backups / "one.db", restored / "peerline.db")
    (restored / "master.key").write_bytes(key)
    (restored / "master.key").chmod(0o600)
    second = Sandbox(restored, clock=clock)
    await second.start()
    try:
        monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", second.api.token)
        config = write_config(restored, second.api)
        assert await cli("--config", str(config), "check", "--live") == 0
        out = capsys.readouterr().out
        assert "ok    key: the master key opens this database (2 members)" in out
        # The same two people, and their conversation, are still there.
        officer = second.api.user(officer.user_id, "Dana")
        peer = second.api.user(peer.user_id, "Alex")
        await officer.send("are you still there after the restore?")
        await peer.wait_for("are you still there after the restore?")
        await peer.send("/end")
        await officer.wait_for("has closed the conversation")
    finally:
        await second.stop()


async def test_check_live_against_the_stand_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api, signal = LocalBotApi(), LocalSignalApi()
    await api.start()
    await signal.start()
    try:
        config = write_config(tmp_path, api, signal=signal)
        generate_key_file(tmp_path / "master.key")
        monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", api.token)
        assert await cli("--config", str(config), "check", "--live") == 0
        out = capsys.readouterr().out
        assert f"ok    telegram: the token works for @{api.bot_username}" in out
        assert "ok    signal: the gateway answers" in out
        assert "no file at" in out  # a fresh install: no database yet is not a failure

        assert await cli("--config", str(config), "invite", "create", "--role", "officer") == 0
        assert await cli("--config", str(config), "check", "--live") == 0
        assert "integrity_check: ok" in capsys.readouterr().out

        # A revoked or mistyped token, a number the gateway does not know.
        broken = api.token.split(":")[0] + ":revoked-token-value"
        monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", broken)
        config = write_config(tmp_path, api, signal=signal, signal_number="+14155550199")
        assert await cli("--config", str(config), "check", "--live") == 1
        captured = capsys.readouterr()
        assert "FAIL  telegram: the Bot API refused the token" in captured.out
        assert "FAIL  signal: the gateway does not know the bot's number" in captured.out
        assert "revoked-token-value" not in captured.out + captured.err
        assert captured.err == "error: 2 check(s) failed: telegram, signal\n"
    finally:
        await api.stop()
        await signal.stop()
    # Nothing there (not the stand-ins' own ports: another run on the machine may take them).
    config = write_config(tmp_path, api, signal=signal, unreachable=True)
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", api.token)
    assert await cli("--config", str(config), "check", "--live") == 1
    out = capsys.readouterr().out
    assert "FAIL  telegram: could not reach the Bot API" in out
    assert "FAIL  signal: could not reach the Signal gateway" in out


async def set_webhook(api: LocalBotApi, url: str) -> None:
    """What `peerline run` (or anything else holding the token) does, over HTTP."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{api.base_url}{api.token}/setWebhook", json={"url": url}) as answer,
    ):
        assert answer.status == 200


async def test_check_live_asks_telegram_where_the_webhook_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = LocalBotApi()
    await api.start()
    try:
        url = f"https://127.0.0.1:{silent_port()}/telegram"  # nothing listens there
        config = write_config(tmp_path, api, webhook_url=url)
        generate_key_file(tmp_path / "master.key")
        monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", api.token)

        async def check() -> tuple[int, str, str]:
            status = await cli("--config", str(config), "check", "--live")
            captured = capsys.readouterr()
            return status, captured.out, captured.err

        # Peerline never started in webhook mode: Telegram has no webhook, and keeps updates.
        status, out, err = await check()
        assert status == 1
        assert f"ok    telegram: the token works for @{api.bot_username}" in out
        assert "FAIL  webhook: no webhook is set at Telegram (updates waiting there: 0)" in out
        assert err == "error: 1 check(s) failed: webhook\n"

        # Set to another address (an old one, or another deployment with this token).
        await set_webhook(api, "https://old.example.org/telegram")
        status, out, _ = await check()
        assert status == 1
        assert (
            "FAIL  webhook: Telegram sends updates to https://old.example.org/telegram, "
            f"not to webhook_url ({url})"
        ) in out

        await set_webhook(api, url)
        status, out, _ = await check()
        assert status == 0
        assert "ok    webhook: Telegram sends updates to webhook_url (waiting: 0)" in out

        # Right address, but nothing answers there: a message waits, undeliverable.
        await api.user(5_000_001).send("hello?")
        await eventually(lambda: api.webhook_error is not None, "a failed delivery")
        status, out, _ = await check()
        assert status == 1
        assert "FAIL  webhook: Telegram cannot deliver to webhook_url (updates waiting: 1)" in out
        assert "Connection refused" in out
        assert api.token not in out
    finally:
        await api.stop()


async def test_check_live_refuses_a_wrong_key_and_a_damaged_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    box = Sandbox(tmp_path / "box")
    await box.start()
    try:
        await box.join("Dana", Role.OFFICER)
        monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", box.api.token)
        config = write_config(box.directory, box.api)
        other_key = tmp_path / "other.key"
        generate_key_file(other_key)
        monkeypatch.setenv("PEERLINE_MASTER_KEY", other_key.read_text(encoding="utf-8").strip())
        assert await cli("--config", str(config), "check", "--live") == 1
        assert "FAIL  key: the master key does not open this database" in capsys.readouterr().out
        monkeypatch.delenv("PEERLINE_MASTER_KEY")
    finally:
        await box.stop()
    database = box.directory / "peerline.db"
    with sqlite3.connect(database) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    raw = bytearray(database.read_bytes())
    raw[page_size * 2 : page_size * 2 + 64] = b"\xff" * 64  # scribble over a b-tree page
    database.write_bytes(bytes(raw))
    assert await cli("--config", str(config), "check", "--live") == 1
    out = capsys.readouterr().out
    assert "FAIL  integrity" in out or "FAIL  database" in out
