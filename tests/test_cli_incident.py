"""`peerline incident open|list|close` beside the running bot (which pages and tells people)
and with the bot stopped (a close finishes at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from tests.test_cli_ops import cli, write_config
from tests.test_e2e_coordination import said_after


async def test_the_cli_opens_lists_and_closes_incidents(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PEERLINE_TELEGRAM_TOKEN", sandbox.api.token)
    config = str(write_config(sandbox.directory, sandbox.api))
    await sandbox.join("Dana", Role.OFFICER, agency="Springfield PD")
    alex = await sandbox.join("Alex", Role.PEER, agency="Shelbyville SO")
    morgan = await sandbox.join("Morgan", Role.COORDINATOR)

    assert (
        await cli("--config", config, "incident", "open", "Springfield", "PD", "--page", "1") == 0
    )
    out = capsys.readouterr().out
    assert "opened" in out and "Springfield PD" in out and "note:" not in out
    assert await cli("--config", config, "incident", "open", "springfield pd") == 1
    assert "already open" in capsys.readouterr().err
    assert await cli("--config", config, "incident", "open", "Sprngfield PD", "--page", "0") == 2
    capsys.readouterr()

    # The running bot pages on its next tick; opened from the CLI, every coordinator is told.
    assert sandbox.app is not None
    await sandbox.app.tick()
    page = await alex.wait_for("Critical incident at Springfield PD")
    seen = len(morgan.inbox)
    await alex.press(page, EN.page_accept)
    await said_after(morgan, seen, "On call: 1 of 1")
    assert await cli("--config", config, "incident", "list") == 0
    listed = capsys.readouterr().out
    assert "Springfield PD" in listed and "on call 1 of 1" in listed
    closes = datetime.now(UTC).date() + timedelta(days=14)  # the CLI opens on today's date
    assert listed.rstrip().endswith(f"closes by itself {closes.isoformat()}")

    # Closed while the bot runs: the bot tells the helper and the coordinators, then deletes.
    assert await cli("--config", config, "incident", "close", "Springfield", "PD") == 0
    assert "the running bot tells" in capsys.readouterr().out
    await sandbox.app.tick()
    await alex.wait_for("The critical incident at Springfield PD is closed")
    await morgan.wait_for("Closed: Springfield PD. 1 helper was on call.")
    assert await cli("--config", config, "incident", "list") == 0
    assert "no incident is open" in capsys.readouterr().out

    # With the bot stopped, a close finishes at once; a typo is named.
    await sandbox.stop_app()
    assert await cli("--config", config, "incident", "open", "Ogdenville PD") == 0
    out = capsys.readouterr().out
    assert "note: no member is in an agency named 'Ogdenville PD'" in out
    incident_id = out.split("opened ", 1)[1].split()[0]
    assert await cli("--config", config, "incident", "close", "nowhere") == 1
    assert await cli("--config", config, "incident", "close", incident_id) == 0
    assert "nobody was told" in capsys.readouterr().out
    assert await cli("--config", config, "incident", "list") == 0
    assert "no incident is open" in capsys.readouterr().out
    await sandbox.start_app()
