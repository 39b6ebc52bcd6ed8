"""/resources and the self-check: a directory from the config, and a screen scored in memory
that leaves nothing on disk."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from bot.catalog import EN
from bot.config import ConfigError, Resource, ResourcesConfig, load_config
from bot.model import Role
from bot.sandbox.harness import Sandbox
from bot.sandbox.telegram_api import BotMessage


def _shows(message: BotMessage, text: str) -> bool:
    return message.text == text


async def test_the_directory_lists_what_the_program_configured(sandbox: Sandbox) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    await officer.send("/resources")
    empty = await officer.wait_for(EN.resources_none)
    assert "988" in empty.text and EN.resources_selfcheck_button in empty.labels()
    assert sandbox.app is not None and sandbox.app.services is not None
    services = sandbox.app.services
    services.config = replace(
        services.config,
        resources=ResourcesConfig(
            (
                Resource("clinician", "Dr. Rivera", "555-0100", "telehealth"),
                Resource("financial", "Credit union counselling", "555-0199"),
            )
        ),
    )
    await officer.send("/resources")
    listed = await officer.wait_for(EN.resources_title)
    assert EN.resources_kind_clinician in listed.text
    assert "Dr. Rivera: 555-0100 (telehealth)" in listed.text
    assert listed.text.index("Dr. Rivera") < listed.text.index("Credit union")
    assert EN.resources_kind_family not in listed.text  # nothing listed: no heading


async def test_the_self_check_is_scored_in_memory_and_leaves_nothing_on_disk(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    officer = await sandbox.join("Dana", Role.OFFICER)
    assert sandbox.app is not None and sandbox.app.repo is not None
    assert sandbox.app.services is not None
    repo = sandbox.app.repo
    database = sandbox.directory / "peerline.db"
    wal = database.with_name("peerline.db-wal")
    before = (repo.total_changes, database.stat().st_mtime_ns, wal.stat().st_size)
    await officer.send("/selfcheck")
    screen = await officer.wait_for("PC-PTSD-5")
    await officer.press(screen, EN.selfcheck_yes)  # the opening question
    for item, answer in enumerate(("Yes", "Yes", "No", "Yes", "No"), start=1):
        question: str = getattr(EN, f"selfcheck_item_{item}")
        await officer.wait_until(partial(_shows, screen, question))
        await officer.press(screen, answer)
    await officer.wait_until(lambda: screen.text == EN.selfcheck_high)  # 3 of 5: a clinician
    assert screen.labels() == [EN.crisis_button]  # one tap from the crisis lines
    assert sandbox.app.services.selfchecks == {}  # gone from memory too
    after = (repo.total_changes, database.stat().st_mtime_ns, wal.stat().st_size)
    assert after == before
    assert not any("score" in r.getMessage().lower() for r in caplog.records)

    await officer.send("/selfcheck")  # no event at all: a screen of 0, said plainly
    second = await officer.wait_for("PC-PTSD-5")  # the first screen now shows its result
    await officer.press(second, EN.selfcheck_no)
    await officer.wait_until(lambda: second.text == EN.selfcheck_low)
    await officer.press(screen, EN.crisis_button)  # old screens still reach the crisis lines
    await officer.wait_for("988")


def test_a_resource_of_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[telegram]\ntoken = "1:a"\n[[resources.entries]]\n'
        'kind = "lawyer"\nname = "X"\ncontact = "1"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"kind: expected one of education, clinician"):
        load_config(path, env={})
