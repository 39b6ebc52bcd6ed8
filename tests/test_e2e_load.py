"""Helper wellbeing: a helper may lower their own cap on conversations at once (/load)."""

from __future__ import annotations

from bot.catalog import EN
from bot.model import Role
from bot.sandbox.harness import Sandbox
from tests.test_e2e_threads import connect
from tests.test_e2e_walking_skeleton import ask_for_peer


async def test_a_helper_who_lowers_their_load_gets_no_second_conversation(
    sandbox: Sandbox,
) -> None:
    alex = await sandbox.join("Alex", Role.PEER)
    await alex.send("/load 5")  # above the program's limit (2): refused
    await alex.wait_for(EN.load_bad.format(limit=2))
    await alex.send("/load 1")
    await alex.wait_for(EN.load_set.format(cap=1))
    blake = await sandbox.join("Blake", Role.PEER)
    dana = await sandbox.join("Dana", Role.OFFICER)
    erin = await sandbox.join("Erin", Role.OFFICER)
    await connect(sandbox, dana, alex)
    await ask_for_peer(erin, outside=False)
    await blake.wait_for("New request")
    assert not any("New request" in t for t in alex.texts())  # at their own cap
    await alex.send("/load off")
    await alex.wait_for(EN.load_set.format(cap=2))
    await alex.send("/load")
    await alex.wait_for(EN.load_now.format(cap=2, limit=2))
